import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, runCli } from '../support/cli.js';

/**
 * Bad paths and flags, each as an operator would type them: one line naming the flag, exit 2 (usage) or 3 (a named
 * error), no stack trace, nothing written — and all of it before any work starts.
 */

/** root bypasses file modes; the read-only cases run the CLI as nobody so the mode bits mean what they say. */
const NOBODY = 65534;
const asRoot = process.getuid?.() === 0;

function run(args: readonly string[], options: { readOnlyUser?: boolean } = {}): Promise<CliResult> {
  return runCli(args, { AWS_EC2_METADATA_DISABLED: 'true' }, options.readOnlyUser && asRoot ? { uid: NOBODY } : {});
}

async function tree(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).sort();
}

let root: string;
let file: string;
let readOnly: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hb-bad-input-'));
  // nobody must reach the read-only directory through the temp root.
  await chmod(root, 0o755);
  file = join(root, 'a-file');
  await writeFile(file, 'not a directory');
  readOnly = join(root, 'read-only');
  await mkdir(readOnly);
  await chmod(readOnly, 0o555);
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const STAGING = ['--bucket', 'homebound-staging'];
const APPLY = ['apply', '--volume-key', 'vol-a', ...STAGING];
const STREAM = ['stream', '--volume-key', 'vol-a', '--pass', '1', '--snapshot', 'snap-0123456789abcdef0'];

// [case, args (given the fixture paths), exit code, what the one line says, run as a user the mode bits bind]
const cases: [string, () => string[], number, RegExp, boolean?][] = [
  ['drill --work-dir that is a file', () => ['drill', '--work-dir', file], 3, /--work-dir .*a-file is a file/],
  [
    'drill --work-dir under a file',
    () => ['drill', '--work-dir', join(file, 'work')],
    3,
    /--work-dir .*a-file\/work is under .*a-file, which is a file/,
  ],
  [
    'drill --work-dir in a read-only directory',
    () => ['drill', '--work-dir', join(readOnly, 'work')],
    3,
    /--work-dir .*read-only\/work cannot be created: .*read-only is not writable/,
    true,
  ],
  [
    'drill --json into a missing directory',
    () => ['drill', '--auto-approve', '--json', join(root, 'missing', 'report.json')],
    3,
    /--json .*missing\/report\.json: directory .*missing does not exist/,
  ],
  [
    'drill --html into a missing directory',
    () => ['drill', '--auto-approve', '--html', join(root, 'missing', 'report.html')],
    3,
    /--html .*report\.html: directory .*missing does not exist/,
  ],
  ['drill --html naming a directory', () => ['drill', '--html', root], 3, /--html .* is a directory; name a file/],
  [
    'drill --auto-approve --reject',
    () => ['drill', '--auto-approve', '--reject'],
    2,
    /'--auto-approve' cannot be used with option '--reject'/,
  ],
  [
    'apply --state-dir that is a file',
    () => [...APPLY, '--target', join(root, 'target.img'), '--create-size', '1048576', '--state-dir', file],
    3,
    /--state-dir .*a-file is a file, not a directory/,
  ],
  [
    'apply --state-dir that is read-only',
    () => [...APPLY, '--target', join(root, 'target.img'), '--create-size', '1048576', '--state-dir', readOnly],
    3,
    /--state-dir .*read-only is not writable/,
    true,
  ],
  [
    'gateway --state-dir under a file',
    () => ['gateway', '--config', join(root, 'gateway.json'), '--state-dir', join(file, 'state')],
    3,
    /--state-dir .*a-file\/state is under .*a-file/,
  ],
  ['local-cloud --dir that is a file', () => ['local-cloud', '--dir', file], 3, /--dir .*a-file is a file/],
  [
    'local-cloud --dir that is read-only',
    () => ['local-cloud', '--dir', readOnly],
    3,
    /--dir .*read-only is not writable/,
    true,
  ],
  ['bench --work-dir that is a file', () => ['bench', '--work-dir', file], 3, /--work-dir .*a-file is a file/],
  [
    'bench --json into a missing directory',
    () => ['bench', '--json', join(root, 'missing', 'bench.json')],
    3,
    /--json .*bench\.json: directory .*missing does not exist/,
  ],
  [
    "stream --bucket ''",
    () => ['stream', '--bucket', '', ...STREAM.slice(1)],
    2,
    /--bucket <name>' argument '' is invalid\. invalid name/,
  ],
  [
    'apply --bucket with a malformed name (invalid, not missing)',
    () => ['apply', '--volume-key', 'vol-a', '--bucket', 'Staging_Bucket', '--target', 't', '--state-dir', root],
    2,
    /--bucket <name>' argument 'Staging_Bucket' is invalid\. invalid name/,
  ],
  [
    'local-cloud --bucket with a malformed name',
    () => ['local-cloud', '--dir', join(root, 'cloud'), '--bucket', 'homebound-staging', 'Bad_Bucket'],
    2,
    /--bucket <name\.\.\.>' argument 'Bad_Bucket' is invalid\. invalid name/,
  ],
  [
    'stream --prefix /abs/',
    () => [...STREAM, ...STAGING, '--prefix', '/abs/'],
    2,
    /--prefix <prefix>' argument '\/abs\/' is invalid\. a key prefix is relative to the bucket/,
  ],
  [
    'apply --prefix with an empty segment',
    () => [...APPLY, '--prefix', 'runs//x/', '--target', 't', '--state-dir', root],
    2,
    /--prefix <prefix>' argument 'runs\/\/x\/' is invalid/,
  ],
];

describe('bad paths and flags are refused before any work, in one line', () => {
  it.for(cases)('%s', async ([, args, code, message, readOnlyUser]) => {
    const before = await tree(root);
    const result = await run(args(), { readOnlyUser: readOnlyUser ?? false });
    expect(result.code, result.stderr).toBe(code);
    const [first] = result.stderr.split('\n');
    expect(first).toMatch(message);
    if (code === 3) expect(first).toMatch(/^homebound: InvalidInputError: /);
    expect(result.stderr).not.toContain('    at ');
    // The usage error's second line is only the pointer to --help.
    expect(result.stderr.trim().split('\n').length).toBeLessThanOrEqual(2);
    expect(result.stdout).toBe('');
    expect(await tree(root)).toEqual(before);
  });
});
