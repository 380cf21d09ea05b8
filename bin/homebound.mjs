#!/usr/bin/env node
// Entry point of the `homebound` CLI. The sources are TypeScript; tsx compiles them on the fly, so there is no
// build step between a checkout and a drill.
import { readFileSync } from 'node:fs';

// package.json's engines field is the one statement of the Node homebound runs on. It may be newer than the Node that
// ran `npm ci`: the project installs its own Node (devDependency `node`), which npm scripts and npx put first on PATH.
const { engines } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const needed = Number(/^>=\s*(\d+)/.exec(engines?.node ?? '')?.[1]);
const [major] = process.versions.node.split('.').map(Number);
if (!(major >= needed)) {
  console.error(
    `homebound needs Node.js ${needed} or newer (this is v${process.versions.node}). Run it through npm, which puts the ` +
      `project's Node ${needed} first on PATH: \`npx homebound …\` or \`npm run drill\`.`,
  );
  process.exit(1);
}
const { register } = await import('tsx/esm/api');
register();
await import('../cli/main.ts');
