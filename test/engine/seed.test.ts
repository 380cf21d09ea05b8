import { createHash, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BLOCK_SIZE } from '../../core/blocks.js';
import { deriveRunKey } from '../../core/engine/run-key.js';
import {
  hashSeed,
  publishSeed,
  readSeed,
  SEED_FORMAT,
  seedBaseId,
  seedHashesKey,
  ZERO_BLOCK_HASH,
} from '../../core/engine/seed.js';
import {
  CorruptSegmentError,
  SeedNotPublishedError,
  SeedTooSmallError,
  WorkCancelledError,
} from '../../core/errors.js';
import { startTestCloud, type TestCloud } from '../support/local-cloud.js';

const sha = (data: Uint8Array) => createHash('sha256').update(data).digest();

describe('seed hashing', () => {
  let test: TestCloud;
  beforeAll(async () => {
    test = await startTestCloud();
  });
  afterAll(() => test.stop());

  it('hashes each 512 KiB block as node:crypto does, the short last block zero-padded, reading no further', async () => {
    // 37 blocks and a bit: more than two 16-block reads, a last block of 1,000 bytes, and bytes past sizeBytes.
    const sizeBytes = 37 * BLOCK_SIZE + 1000;
    const image = randomBytes(sizeBytes + 5 * BLOCK_SIZE);
    image.fill(0, 3 * BLOCK_SIZE, 4 * BLOCK_SIZE);
    const path = join(test.dir, 'seed.img');
    await writeFile(path, image);
    const progress: number[] = [];

    const hashes = await hashSeed(path, sizeBytes, { onProgress: (bytes) => progress.push(bytes) });

    expect(hashes.length).toBe(38 * 32);
    for (let i = 0; i < 37; i++) {
      expect(
        hashes.subarray(i * 32, (i + 1) * 32).equals(sha(image.subarray(i * BLOCK_SIZE, (i + 1) * BLOCK_SIZE))),
      ).toBe(true);
    }
    const last = Buffer.alloc(BLOCK_SIZE);
    image.copy(last, 0, 37 * BLOCK_SIZE, sizeBytes);
    expect(hashes.subarray(37 * 32).equals(sha(last))).toBe(true);
    expect(hashes.subarray(3 * 32, 4 * 32).equals(ZERO_BLOCK_HASH)).toBe(true);
    expect(progress.at(-1)).toBe(sizeBytes);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
  });

  it('refuses a seed that ends before the size asked, naming it', async () => {
    const path = join(test.dir, 'short.img');
    await writeFile(path, randomBytes(3 * BLOCK_SIZE));
    await expect(hashSeed(path, 4 * BLOCK_SIZE)).rejects.toThrow(SeedTooSmallError);
    await expect(hashSeed(path, 4 * BLOCK_SIZE)).rejects.toThrow(/short\.img holds 1572864 bytes/);
  });

  it('stops when aborted', async () => {
    const path = join(test.dir, 'abort.img');
    await writeFile(path, randomBytes(40 * BLOCK_SIZE));
    const controller = new AbortController();
    const hashing = hashSeed(path, 40 * BLOCK_SIZE, {
      signal: controller.signal,
      onProgress: () => controller.abort(),
    });
    await expect(hashing).rejects.toThrow(WorkCancelledError);
  });
});

describe('seed records in staging', () => {
  let test: TestCloud;
  const runKey = deriveRunKey('stack-secret', 'run-1');
  const hashes = Buffer.concat(Array.from({ length: 5 }, () => randomBytes(32)));
  const input = { volumeKey: 'vol-a', seed: 'vol-0seed', seedSizeBytes: 4 * BLOCK_SIZE + 7, hashes };
  beforeAll(async () => {
    test = await startTestCloud();
  });
  afterAll(() => test.stop());

  it('round-trips a signed record and its hash list; the seed base id names the hash list', async () => {
    const published = await publishSeed(test.staging, 'gw/volumes/vol-a/seed.json', input, runKey);

    const read = await readSeed(test.staging, 'gw/volumes/vol-a/seed.json', runKey);

    expect(read.hashes.equals(hashes)).toBe(true);
    expect(read.record).toEqual(published);
    expect(read.record).toMatchObject({
      format: SEED_FORMAT,
      blockCount: 5,
      hashesKey: 'gw/volumes/vol-a/seed.hashes',
    });
    expect(seedBaseId(read.record)).toBe(`seed:${sha(hashes).toString('hex')}`);
    // A reader whose staging is rooted elsewhere finds the hash list beside the record it was given.
    const fromRoot = await readSeed(
      test.stagingAt('homebound-test-staging', 'runs/test/gw/'),
      'volumes/vol-a/seed.json',
    );
    expect(fromRoot.hashes.equals(hashes)).toBe(true);
  });

  it('says the seed is not published while the record is absent, even when the hash list is there', async () => {
    await test.staging.put(seedHashesKey('early/seed.json'), hashes);
    await expect(readSeed(test.staging, 'early/seed.json', runKey)).rejects.toThrow(SeedNotPublishedError);
  });

  it('refuses a record without this run’s MAC, a changed hash list, and a hash list of the wrong length', async () => {
    await publishSeed(test.staging, 'other-run/seed.json', input, deriveRunKey('stack-secret', 'run-2'));
    await expect(readSeed(test.staging, 'other-run/seed.json', runKey)).rejects.toThrow(/MAC/);
    await publishSeed(test.staging, 'unsigned/seed.json', input);
    await expect(readSeed(test.staging, 'unsigned/seed.json', runKey)).rejects.toThrow(CorruptSegmentError);

    await publishSeed(test.staging, 'tampered/seed.json', input, runKey);
    const changed = Buffer.from(hashes);
    changed[40] = (changed[40] ?? 0) ^ 1;
    await test.staging.put('tampered/seed.hashes', changed);
    await expect(readSeed(test.staging, 'tampered/seed.json', runKey)).rejects.toThrow(/does not match the digest/);

    await publishSeed(test.staging, 'short/seed.json', input, runKey);
    await test.staging.put('short/seed.hashes', hashes.subarray(0, 4 * 32));
    await expect(readSeed(test.staging, 'short/seed.json', runKey)).rejects.toThrow(
      /128 bytes, the record says 5 blocks/,
    );
  });

  it('refuses to publish a hash list that does not cover the seed', async () => {
    await expect(
      publishSeed(test.staging, 'bad/seed.json', { ...input, hashes: hashes.subarray(0, 64) }, runKey),
    ).rejects.toThrow(/hashes holds 64 bytes/);
    await expect(publishSeed(test.staging, 'bad/seed', input)).rejects.toThrow(/must end in \.json/);
  });
});
