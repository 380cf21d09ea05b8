import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BLOCK_SIZE } from '../../core/blocks.js';
import { passPrefix, shardPlanKey } from '../../core/engine/layout.js';
import { loadPlan, runPass } from '../../core/engine/pass.js';
import { verifySegmentBody } from '../../core/engine/segment.js';
import type { PutOptions } from '../../core/ports.js';
import { MemoryBlockSource } from '../support/memory-block-source.js';
import { MemoryStaging } from '../support/memory-staging.js';

/** MemoryStaging that remembers every call, to assert which round trips a pass makes. */
class RecordingStaging extends MemoryStaging {
  readonly calls: string[] = [];
  readonly unsigned = new Set<string>();

  override async put(key: string, body: Uint8Array, metadata?: Record<string, string>, options?: PutOptions) {
    this.calls.push(`put ${key}`);
    if (options?.unsignedPayload) this.unsigned.add(key);
    return super.put(key, body, metadata);
  }

  override async get(key: string) {
    this.calls.push(`get ${key}`);
    return super.get(key);
  }
}

function volume(blocks: number): Map<number, Buffer> {
  return new Map(Array.from({ length: blocks }, (_, i) => [i * 3, randomBytes(BLOCK_SIZE)] as const));
}

describe('runPass', () => {
  it('stages the plan and its shards for resuming elsewhere, without reading back what it just listed', async () => {
    const source = new MemoryBlockSource();
    source.add('snap-1', 'vol', 64 * BLOCK_SIZE, volume(20));
    const staging = new RecordingStaging();

    const report = await runPass(
      { volumeKey: 'vol', passNumber: 1, kind: 'full', snapshotId: 'snap-1', shardBlocks: 8, segmentBlocks: 4 },
      { source, staging },
    );

    const prefix = passPrefix('vol', 1);
    const calls = [...staging.calls];
    expect(calls.filter((call) => call.startsWith('get'))).toEqual([]);
    expect(calls.at(-1)).toBe(`put ${prefix}manifest.json`);
    expect((await loadPlan(staging, 'vol', 1)).shards).toHaveLength(3);
    for (const shardId of [0, 1, 2]) expect(await staging.head(prefix + shardPlanKey(shardId))).toBeDefined();
    expect(report.manifest.segments).toHaveLength(5); // shards of 8, 8 and 4 blocks, segments of 4
  });

  it('stages segments whose index digest is the one the manifest records, unsigned as the applier checks them', async () => {
    const source = new MemoryBlockSource();
    source.add('snap-1', 'vol', 16 * BLOCK_SIZE, volume(5));
    const staging = new RecordingStaging();

    const report = await runPass(
      { volumeKey: 'vol', passNumber: 1, kind: 'full', snapshotId: 'snap-1', segmentBlocks: 2 },
      { source, staging },
    );

    const prefix = passPrefix('vol', 1);
    for (const segment of report.manifest.segments) {
      expect(staging.unsigned.has(prefix + segment.key)).toBe(true);
      expect(verifySegmentBody(await staging.get(prefix + segment.key)).indexSha256).toBe(segment.indexSha256);
    }
  });
});
