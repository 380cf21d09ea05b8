import { BLOCK_SIZE, sha256Base64 } from '../../core/blocks.js';
import { SnapshotNotFoundError, UnrelatedSnapshotsError } from '../../core/errors.js';
import type { BlockPage, BlockSource, FetchedBlock, ListOptions } from '../../core/ports.js';

/** In-memory BlockSource for unit tests: snapshots are maps of block index → 512 KiB block. */
export class MemoryBlockSource implements BlockSource {
  readonly snapshots = new Map<string, { lineage: string; blocks: Map<number, Buffer>; sizeBytes: number }>();

  add(id: string, lineage: string, sizeBytes: number, blocks: Map<number, Buffer>): void {
    this.snapshots.set(id, { lineage, blocks, sizeBytes });
  }

  async listSnapshotBlocks(snapshotId: string, options: ListOptions = {}): Promise<BlockPage> {
    const snapshot = this.find(snapshotId);
    return this.page(
      snapshot.sizeBytes,
      [...snapshot.blocks.keys()].sort((a, b) => a - b),
      snapshotId,
      options,
    );
  }

  async listChangedBlocks(first: string, second: string, options: ListOptions = {}): Promise<BlockPage> {
    const a = this.find(first);
    const b = this.find(second);
    if (a.lineage !== b.lineage) throw new UnrelatedSnapshotsError(first, second);
    const indexes = new Set([...a.blocks.keys(), ...b.blocks.keys()]);
    const changed = [...indexes].filter((i) => !(a.blocks.get(i)?.equals(b.blocks.get(i) ?? Buffer.alloc(0)) ?? false));
    return this.page(
      b.sizeBytes,
      changed.sort((x, y) => x - y),
      second,
      options,
    );
  }

  async getSnapshotBlock(snapshotId: string, blockIndex: number, blockToken: string): Promise<FetchedBlock> {
    if (blockToken !== `${snapshotId}:${blockIndex}`) throw new Error('bad token');
    const data = this.find(snapshotId).blocks.get(blockIndex) ?? Buffer.alloc(BLOCK_SIZE);
    return { data: Buffer.from(data), checksum: sha256Base64(data), dataLength: BLOCK_SIZE };
  }

  private find(id: string) {
    const snapshot = this.snapshots.get(id);
    if (!snapshot) throw new SnapshotNotFoundError(id);
    return snapshot;
  }

  private page(sizeBytes: number, indexes: number[], snapshotId: string, options: ListOptions): BlockPage {
    const start = options.nextToken ? Number(options.nextToken) : 0;
    const size = options.maxResults ?? 10_000;
    const slice = indexes.slice(start, start + size);
    return {
      blocks: slice.map((index) => ({ index, token: `${snapshotId}:${index}` })),
      nextToken: start + size < indexes.length ? String(start + size) : undefined,
      volumeSizeBytes: Math.ceil(sizeBytes / 2 ** 30) * 2 ** 30,
      blockSize: BLOCK_SIZE,
    };
  }
}
