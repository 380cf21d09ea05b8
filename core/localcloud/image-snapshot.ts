import { stat } from 'node:fs/promises';
import { InvalidInputError, VolumeNotFoundError } from '../errors.js';
import { scanImageBlocks } from './image-scan.js';
import { resolveBlocks, type SnapshotRecord, type SnapshotStoreInternals } from './snapshot-lineage.js';
import { readWrittenBlocks } from './written-blocks.js';

const GiB = 1024 ** 3;

/** What it takes to snapshot an image file; see `SnapshotStore.createFromImage`. */
export interface CreateFromImageOptions {
  readonly volumeId: string;
  readonly parentSnapshotId?: string | undefined;
  readonly description?: string;
  readonly tags?: Readonly<Record<string, string>>;
  /** Blocks to treat as written even when zero. @default the image's `<image>.written` sidecar, if any */
  readonly written?: (blockIndex: number) => boolean;
}

/** EC2 CreateSnapshot of an image file into the store; see `SnapshotStore.createFromImage`. */
export async function snapshotImage(
  store: SnapshotStoreInternals,
  imagePath: string,
  options: CreateFromImageOptions,
): Promise<SnapshotRecord> {
  const image = await stat(imagePath).catch((error: unknown) => {
    throw new VolumeNotFoundError(imagePath, { cause: error });
  });
  if (!image.isFile() || image.size === 0) throw new InvalidInputError(`volume ${imagePath} is not a non-empty file`);
  const parent = options.parentSnapshotId === undefined ? undefined : await store.readable(options.parentSnapshotId);
  // EBS volumes only grow, so a child's blocks always cover its parent's.
  if (parent && parent.meta.sourceBytes > image.size) {
    throw new InvalidInputError(`volume ${imagePath} (${image.size} bytes) is smaller than its parent snapshot`);
  }
  const written = options.written ?? (await readWrittenBlocks(imagePath));
  const rec = store.begin(
    {
      volumeId: options.volumeId,
      volumeSizeGiB: Math.max(1, Math.ceil(image.size / GiB)),
      sourceBytes: image.size,
      description: options.description ?? '',
      tags: { ...options.tags },
      timeoutMinutes: 60,
    },
    parent,
  );
  try {
    await rec.ready;
    const parentBlocks = parent ? resolveBlocks(parent) : undefined;
    const scan = scanImageBlocks(imagePath, image.size, {
      parentSha256: (index) => parentBlocks?.get(index)?.sha256,
      ...(written ? { written } : {}),
    });
    for await (const batch of scan) await store.append(rec, batch);
    await store.finish(rec);
  } catch (error) {
    await store.discard(rec);
    throw error;
  }
  return rec;
}
