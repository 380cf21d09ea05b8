import { readFileSync } from 'node:fs';
import { z } from 'zod';

const PackageJson = z.object({ version: z.string().min(1) });

/** homebound's version, from package.json (the one file that states it; the CLI runs from the source tree). */
export function homeboundVersion(): string {
  return PackageJson.parse(JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))).version;
}
