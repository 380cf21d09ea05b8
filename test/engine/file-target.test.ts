import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openFileTarget } from '../../core/adapters/target/file-target.js';
import { tempDir } from '../localcloud/helpers.js';

describe('file target', () => {
  it('creates a missing image once when two openers race for it, both ending with the same sparse image', async () => {
    const dir = await tempDir();
    const path = join(dir.dir, 'disk.img');
    const size = 8 * 1024 * 1024;

    // An agent's retried PrepareTarget can race the original task: before, the second create failed with EEXIST.
    const targets = await Promise.all(Array.from({ length: 4 }, () => openFileTarget(path, { createWithSize: size })));

    expect(targets.map((target) => target.sizeBytes)).toEqual([size, size, size, size]);
    expect((await stat(path)).size).toBe(size);
    await Promise.all(targets.map((target) => target.close()));
    await dir.cleanup();
  });
});
