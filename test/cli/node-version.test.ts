import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type CliResult, runCli } from '../support/cli.js';

const ROOT = join(import.meta.dirname, '../..');

async function packageJson(): Promise<{ engines: { node: string }; devDependencies: Record<string, string> }> {
  return JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8'));
}

/** Runs the CLI under this Node, reporting itself as `version` (the gate reads process.versions.node). */
function runAsNode(version: string, args: readonly string[]): Promise<CliResult> {
  const pretend = `Object.defineProperty(process.versions, 'node', { value: '${version}' });`;
  return runCli(args, {}, { nodeArgs: ['--import', `data:text/javascript,${encodeURIComponent(pretend)}`] });
}

describe('the Node version homebound runs on', () => {
  it('is stated once: engines is ">=N" and the Node the project installs for itself is N', async () => {
    const pkg = await packageJson();
    const floor = /^>=(\d+)$/.exec(pkg.engines.node)?.[1];
    expect(floor, 'engines.node is ">=<major>"').toBeDefined();
    expect(pkg.devDependencies.node).toMatch(new RegExp(`^\\^${floor}\\.`));
  });

  it('refuses an older Node in one line that says how to run it with the installed one (exit 1)', async () => {
    const floor = Number(/^>=(\d+)$/.exec((await packageJson()).engines.node)?.[1]);
    const result = await runAsNode(`${floor - 2}.20.2`, ['--version']);
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(
      `homebound needs Node.js ${floor} or newer (this is v${floor - 2}.20.2). Run it through npm, which puts the ` +
        `project's Node ${floor} first on PATH: \`npx homebound …\` or \`npm run drill\`.`,
    );
    expect(result.stdout).toBe('');
  });

  it('runs on the Node engines names', async () => {
    const floor = Number(/^>=(\d+)$/.exec((await packageJson()).engines.node)?.[1]);
    const result = await runAsNode(`${floor}.0.0`, ['--version']);
    expect(result.code, result.stderr).toBe(0);
  });
});
