import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BLOCK_SIZE, sha256 } from '../../core/blocks.js';
import { SnapshotNotFoundError, SnapshotNotReadyError, UnrelatedSnapshotsError } from '../../core/errors.js';
import { EbsApiError } from '../../core/localcloud/errors.js';
import { createVolume, snapshotVolume, writeVolume, writeVolumeBlocks } from '../../core/localcloud/local-volume.js';
import { SnapshotStore } from '../../core/localcloud/snapshot-store.js';
import { digestOf, randomBlock, tempDir } from './helpers.js';

const MiB = 1024 * 1024;

describe('SnapshotStore', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let store: SnapshotStore;

  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir());
    store = await SnapshotStore.open(`${dir}/store`);
  });

  afterEach(async () => {
    await store.close();
    await cleanup();
  });

  it('stores only written blocks of a sparse volume, including a block written with zeros', async () => {
    const volume = `${dir}/vol.img`;
    await createVolume(volume, 8 * MiB);
    await writeVolumeBlocks(volume, 1, randomBlock());
    await writeVolumeBlocks(volume, 5, Buffer.alloc(BLOCK_SIZE)); // written, but zeros
    await writeVolume(volume, 9 * BLOCK_SIZE + 100, Buffer.from('x')); // one byte dirties block 9

    const snapshot = await snapshotVolume(store, volume);

    expect(snapshot.status).toBe('completed');
    expect(await store.listBlocks(snapshot.snapshotId, 0, 1000)).toEqual([1, 5, 9]);
    expect(digestOf(await store.readBlock(snapshot.snapshotId, 5))).toBe(digestOf(Buffer.alloc(BLOCK_SIZE)));
  });

  it('stores a child snapshot as only its changed blocks and resolves the rest through its parent', async () => {
    const volume = `${dir}/vol.img`;
    await createVolume(volume, 16 * MiB);
    const original = Buffer.concat(Array.from({ length: 32 }, () => randomBlock()));
    await writeVolume(volume, 0, original);
    const parent = await snapshotVolume(store, volume);
    const changed = randomBlock();
    await writeVolumeBlocks(volume, 3, changed);
    await writeVolumeBlocks(volume, 7, Buffer.alloc(BLOCK_SIZE)); // became zero: must be stored as zeros

    const child = await snapshotVolume(store, volume, { parentSnapshotId: parent.snapshotId });

    expect(child.ownedBlockCount).toBe(2);
    const childBytes = await store.diskUsage(child.snapshotId);
    expect(childBytes).toBeGreaterThanOrEqual(2 * BLOCK_SIZE);
    expect(childBytes).toBeLessThan(3 * BLOCK_SIZE);
    expect(await store.diskUsage(parent.snapshotId)).toBeGreaterThanOrEqual(32 * BLOCK_SIZE);
    expect(digestOf(await store.readBlock(child.snapshotId, 3))).toBe(digestOf(changed));
    expect(digestOf(await store.readBlock(child.snapshotId, 7))).toBe(digestOf(Buffer.alloc(BLOCK_SIZE)));
    expect(digestOf(await store.readBlock(child.snapshotId, 4))).toBe(
      digestOf(original.subarray(4 * BLOCK_SIZE, 5 * BLOCK_SIZE)),
    );
    expect(await store.changedBlocks(parent.snapshotId, child.snapshotId, 0, 100)).toEqual([
      { index: 3, inFirst: true, inSecond: true },
      { index: 7, inFirst: true, inSecond: true },
    ]);
    expect(await store.listBlocks(child.snapshotId, 0, 100)).toHaveLength(32);
  });

  it('zero-pads the partial last block of a volume that is not a multiple of 512 KiB', async () => {
    const volume = `${dir}/odd.img`;
    const size = 3 * BLOCK_SIZE + 12_345;
    await createVolume(volume, size);
    const tail = Buffer.alloc(12_345, 0xab);
    await writeVolume(volume, 3 * BLOCK_SIZE, tail);

    const snapshot = await snapshotVolume(store, volume);

    const last = await store.readBlock(snapshot.snapshotId, 3);
    expect(snapshot.sourceBytes).toBe(size);
    expect(last.subarray(0, 12_345).equals(tail)).toBe(true);
    expect(last.subarray(12_345).every((byte) => byte === 0)).toBe(true);
    expect(await store.blockSha256(snapshot.snapshotId, 3)).toEqual(sha256(last));
  });

  it('sees the same snapshots, blocks and digests when reopened from disk', async () => {
    const volume = `${dir}/vol.img`;
    await createVolume(volume, 4 * MiB);
    const block = randomBlock();
    await writeVolumeBlocks(volume, 2, block);
    const parent = await snapshotVolume(store, volume, { tags: { pass: '1' } });
    await writeVolumeBlocks(volume, 6, block);
    const child = await snapshotVolume(store, volume, { parentSnapshotId: parent.snapshotId });

    const reopened = await SnapshotStore.open(`${dir}/store`);
    try {
      expect((await reopened.list()).map((s) => s.snapshotId)).toEqual([parent.snapshotId, child.snapshotId]);
      expect(await reopened.get(parent.snapshotId)).toEqual(await store.get(parent.snapshotId));
      expect(await reopened.listBlocks(child.snapshotId, 0, 100)).toEqual([2, 6]);
      expect(digestOf(await reopened.readBlock(child.snapshotId, 2))).toBe(digestOf(block));
      expect(await reopened.changedBlocks(parent.snapshotId, child.snapshotId, 0, 100)).toEqual([
        { index: 6, inFirst: false, inSecond: true },
      ]);
    } finally {
      await reopened.close();
    }
  });

  it('refuses to compare snapshots of unrelated lineages', async () => {
    const a = `${dir}/a.img`;
    const b = `${dir}/b.img`;
    for (const volume of [a, b]) {
      await createVolume(volume, 2 * MiB);
      await writeVolumeBlocks(volume, 0, randomBlock());
    }
    const first = await snapshotVolume(store, a);
    const second = await snapshotVolume(store, b);

    await expect(store.changedBlocks(first.snapshotId, second.snapshotId, 0, 100)).rejects.toBeInstanceOf(
      UnrelatedSnapshotsError,
    );
  });

  it('writes through start, putBlock and complete, verifying count and LINEAR checksum', async () => {
    const started = await store.start({ volumeSizeGiB: 1, clientToken: 'token-1' });
    const blocks = new Map([
      [9, randomBlock()],
      [2, randomBlock()],
    ]);
    for (const [index, data] of blocks) await store.putBlock(started.snapshotId, index, data);
    await expect(store.listBlocks(started.snapshotId, 0, 10)).rejects.toBeInstanceOf(SnapshotNotReadyError);
    const linear = sha256(Buffer.concat([2, 9].map((index) => sha256(blocks.get(index) as Buffer)))).toString('base64');

    await expect(store.complete(started.snapshotId, 3)).rejects.toBeInstanceOf(EbsApiError);
    await expect(
      store.complete(started.snapshotId, 2, {
        checksum: sha256(Buffer.from('wrong')).toString('base64'),
        algorithm: 'SHA256',
        aggregation: 'LINEAR',
      }),
    ).rejects.toThrow(/LINEAR checksum/);
    const status = await store.complete(started.snapshotId, 2, {
      checksum: linear,
      algorithm: 'SHA256',
      aggregation: 'LINEAR',
    });

    expect(status).toBe('completed');
    expect(await store.listBlocks(started.snapshotId, 0, 10)).toEqual([2, 9]);
    expect(digestOf(await store.readBlock(started.snapshotId, 9))).toBe(digestOf(blocks.get(9) as Buffer));
    expect((await store.start({ volumeSizeGiB: 1, clientToken: 'token-1' })).snapshotId).toBe(started.snapshotId);
    await expect(store.start({ volumeSizeGiB: 2, clientToken: 'token-1' })).rejects.toMatchObject({
      errorType: 'ConflictException',
    });
  });

  it('keeps a deleted parent’s blocks while a child shares them, and removes both once the child goes', async () => {
    const volume = `${dir}/vol.img`;
    await createVolume(volume, 2 * MiB);
    const block = randomBlock();
    await writeVolumeBlocks(volume, 0, block);
    const parent = await snapshotVolume(store, volume);
    await writeVolumeBlocks(volume, 1, randomBlock());
    const child = await snapshotVolume(store, volume, { parentSnapshotId: parent.snapshotId });

    await store.delete(parent.snapshotId);

    await expect(store.get(parent.snapshotId)).rejects.toBeInstanceOf(SnapshotNotFoundError);
    expect(digestOf(await store.readBlock(child.snapshotId, 0))).toBe(digestOf(block));
    await store.delete(child.snapshotId);
    expect(await store.list()).toEqual([]);
    const reopened = await SnapshotStore.open(`${dir}/store`);
    expect(await reopened.list()).toEqual([]);
    await reopened.close();
  });
});
