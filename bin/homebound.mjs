#!/usr/bin/env node
// Entry point of the `homebound` CLI. The sources are TypeScript; tsx compiles them on the fly, so there is no
// build step between a checkout and a drill.
const [major] = process.versions.node.split('.').map(Number);
if (major < 22) {
  console.error(
    `homebound needs Node.js 22 or newer (this is ${process.version}). Run it through npm, which puts the project's ` +
      'Node 22 first on PATH: `npx homebound …` or `npm run drill`.',
  );
  process.exit(1);
}
const { register } = await import('tsx/esm/api');
register();
await import('../cli/main.ts');
