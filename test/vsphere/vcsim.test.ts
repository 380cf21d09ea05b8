import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { TEST_TEMP_ROOT_ENV } from '../support/temp-root.js';
import { ensureVcsim, startVcsim, VCSIM_START_TIMEOUT_MS } from '../support/vcsim.js';

describe('vcsim (test support)', () => {
  it(
    'serves the SDK with its datastore inside the directory given, and stops on request',
    async () => {
      const dir = mkdtempSync(join(process.env[TEST_TEMP_ROOT_ENV] ?? tmpdir(), 'vcsim-'));
      const vcsim = await startVcsim({ dir });
      try {
        expect(vcsim.datastores.map((ds) => ds.name)).toEqual(['LocalDS_0']);
        for (const ds of vcsim.datastores) {
          expect(ds.dir.startsWith(dir)).toBe(true);
          expect(existsSync(ds.dir)).toBe(true);
        }
        const about = await fetch(new URL('/about', vcsim.url));
        expect(about.status).toBe(200);
      } finally {
        await vcsim.stop();
      }
      await expect(fetch(new URL('/about', vcsim.url))).rejects.toThrow();
    },
    VCSIM_START_TIMEOUT_MS,
  );

  it(
    'stops when its stdin closes, so a test worker killed with SIGKILL leaves no simulator behind',
    async () => {
      const dir = mkdtempSync(join(process.env[TEST_TEMP_ROOT_ENV] ?? tmpdir(), 'vcsim-lifeline-'));
      const child = spawn(await ensureVcsim(), ['-dir', dir, '-password', 'p', '-stdin-lifeline'], {
        stdio: ['pipe', 'pipe', 'ignore'],
      });
      const exited = once(child, 'exit');
      const [line] = await once(createInterface({ input: child.stdout }), 'line');
      const url = new URL('/about', z.object({ url: z.string() }).parse(JSON.parse(String(line))).url);
      expect((await fetch(url)).status).toBe(200);

      child.stdin.end();

      const [code] = await exited;
      expect(code).toBe(0);
      await expect(fetch(url)).rejects.toThrow();
    },
    VCSIM_START_TIMEOUT_MS,
  );
});
