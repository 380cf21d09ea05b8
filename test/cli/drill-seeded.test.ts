import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DrillReport } from '../../cli/drill/drill-report.js';
import { BLOCK_SIZE, blockCountFor } from '../../core/blocks.js';
import { PRESERVES_SEED_OF_TAG, SEED_VOLUME_TAG } from '../../core/failback/aws-seeds.js';
import { RUN_TAG } from '../../core/failback/run-state.js';
import { SnapshotStore } from '../../core/localcloud/snapshot-store.js';
import { runCli } from '../support/cli.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hb-drill-seeded-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

// One 32 MiB volume and a slow workload: what the takeover host writes between the copy and the first snapshot
// stays a few blocks, so a seed saves most of the volume.
const SMALL = ['--volumes', '1', '--size-mib', '32', '--writes-per-second', '2', '--threshold-mib', '32'];
const VOLUME_BYTES = 32 * 1024 * 1024;

async function drill(name: string, extra: readonly string[]) {
  const json = join(dir, `${name}.json`);
  const workDir = join(dir, name);
  const result = await runCli(['drill', '--auto-approve', ...SMALL, ...extra, '--work-dir', workDir, '--json', json]);
  expect(result.code, result.stderr).toBe(0);
  const report = JSON.parse(await readFile(json, 'utf8')) as DrillReport;
  return { result, report, workDir };
}

/** SHA-256 of a snapshot's first `sizeBytes`, read back block by block from the local EBS store. */
async function snapshotSha256(store: SnapshotStore, snapshotId: string, sizeBytes: number): Promise<string> {
  const hash = createHash('sha256');
  for (let index = 0; index < blockCountFor(sizeBytes); index++) {
    const block = await store.readBlock(snapshotId, index);
    hash.update(block.subarray(0, Math.min(BLOCK_SIZE, sizeBytes - index * BLOCK_SIZE)));
  }
  return hash.digest('hex');
}

describe('homebound drill --reuse-original (automated)', () => {
  it('fails back from the original disks: a seeded first pass staging only what differs, the originals preserved', async () => {
    const { report, result, workDir } = await drill('seeded', ['--reuse-original']);

    expect(report.status).toBe('succeeded');
    expect(report.verified).toBe(true);
    expect(report.volumes.every((volume) => volume.identical)).toBe(true);
    const [first] = report.passes;
    expect(first?.kind).toBe('seeded');
    expect(first?.blocksCompared).toBeGreaterThan(0);
    expect(first?.blocksDiffering).toBeLessThan(first?.blocksCompared ?? 0);
    const seeding = report.seeding;
    expect(seeding?.divergencePct).toBe(2);
    expect(seeding?.expectedDifferingBytes).toBeGreaterThan(0);
    expect(first?.bytesStaged).toBeLessThanOrEqual(1.1 * (seeding?.expectedDifferingBytes ?? 0));
    expect(first?.bytesStaged).toBeLessThan(VOLUME_BYTES / 5);
    expect(seeding?.warnings).toEqual([]);
    expect(report.leftToDo).toEqual([]);
    expect(result.stdout).toContain('seeded first pass: seeded');
    // The progress lines (stderr) name the pass as StreamPass planned it (the state says `full`).
    expect(result.stderr).toMatch(/pass 1 \(seeded\): \d+ blocks/);
    expect(result.stderr).not.toMatch(/pass 1 \(full\)/);

    // The preservation snapshot, read back from the local EBS store: tagged, and holding the original as it was
    // before the run — which the run then overwrote (the failback volume is the original disk, now the takeover's).
    expect(seeding?.preservedIntact).toBe(true);
    const [original] = seeding?.originals ?? [];
    expect(original?.blocksDiverged).toBe(1);
    const store = await SnapshotStore.open(join(workDir, 'cloud', 'ebs'));
    try {
      const snapshot = await store.get(original?.preservedAs ?? '');
      expect(snapshot.volumeId).toBe(original?.originalVolumeId);
      const tags = snapshot.tags;
      expect(tags[PRESERVES_SEED_OF_TAG]).toBe(original?.takeoverVolumeId);
      expect(tags[RUN_TAG]).toBe(report.runId);
      expect(tags[SEED_VOLUME_TAG]).toBe(original?.originalVolumeId);
      const held = await snapshotSha256(store, snapshot.snapshotId, original?.sizeBytes ?? 0);
      expect(held).toBe(original?.sha256);
      const [volume] = report.volumes;
      expect(volume?.targetVolumeId).toBe(original?.originalVolumeId);
      expect(volume?.targetSha256).not.toBe(original?.sha256);
    } finally {
      await store.close();
    }
  }, 90_000);

  it('ends identical with an unrelated seed, warning that it saved nothing', async () => {
    const { report } = await drill('unrelated', ['--reuse-original', '--seed-unrelated']);

    expect(report.status).toBe('succeeded');
    expect(report.verified).toBe(true);
    expect(report.volumes.every((volume) => volume.identical)).toBe(true);
    expect(report.passes[0]?.kind).toBe('seeded');
    // Every listed block differs, and every block only the random seed holds is carried too (as zeros).
    expect(report.passes[0]?.blocksDiffering).toBeGreaterThanOrEqual(report.passes[0]?.blocksCompared ?? 1);
    expect(report.seeding?.unrelated).toBe(true);
    expect(report.seeding?.warnings).toEqual([expect.stringMatching(/seed vol-\w+ of vol-\w+ saved nothing/)]);
  }, 90_000);

  it('refuses --divergence-pct and --seed-unrelated without --reuse-original, before anything starts', async () => {
    const pct = await runCli(['drill', '--auto-approve', '--divergence-pct', '5']);
    const unrelated = await runCli(['drill', '--auto-approve', '--seed-unrelated']);
    const outOfRange = await runCli(['drill', '--auto-approve', '--reuse-original', '--divergence-pct', '150']);

    expect(pct.code).toBe(2);
    expect(pct.stderr).toContain('--divergence-pct needs --reuse-original');
    expect(unrelated.code).toBe(2);
    expect(unrelated.stderr).toContain('--seed-unrelated needs --reuse-original');
    expect(outOfRange.code).not.toBe(0);
    expect(outOfRange.stderr).toContain('--divergence-pct');
  });
});
