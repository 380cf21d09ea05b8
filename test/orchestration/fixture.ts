import { fileURLToPath } from 'node:url';

/** Path of an ASL fixture in test/orchestration/fixtures. */
export function fixture(name: string): string {
  return fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
}

/** A CDK DefinitionSubstitutions placeholder, `${name}`, as it appears in the ASL files. */
export function placeholder(name: string): string {
  return `\${${name}}`;
}
