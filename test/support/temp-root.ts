import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Where test helpers put output they cannot clean up themselves (e.g. CDK assemblies), one dir per vitest run. */
export const TEST_TEMP_ROOT_ENV = 'HOMEBOUND_TEST_TEMP_ROOT';

/**
 * vitest globalSetup: makes the run's temp root before the workers start (they inherit the variable) and removes it
 * when the run ends, so parallel runs on one machine never delete each other's files.
 */
export default function setup(): () => void {
  const root = mkdtempSync(join(tmpdir(), 'homebound-test-'));
  process.env[TEST_TEMP_ROOT_ENV] = root;
  return () => rmSync(root, { recursive: true, force: true });
}
