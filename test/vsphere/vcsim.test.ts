import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TEST_TEMP_ROOT_ENV } from '../support/temp-root.js';
import { startVcsim, VCSIM_START_TIMEOUT_MS } from '../support/vcsim.js';

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
});
