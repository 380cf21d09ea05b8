import { open, readFile } from 'node:fs/promises';

/**
 * The "written blocks" sidecar of a local volume: `<image>.written` holds one byte per 512 KiB block, non-zero when
 * the block was ever written. EBS lists a written block even when its content is zeros, while a sparse image cannot
 * tell a written zero block from a hole; the sidecar carries that knowledge to the snapshot store.
 * One byte per block (not a bitmap) so concurrent writers only ever set bytes and never read-modify-write.
 */

/** Path of the sidecar that belongs to `imagePath`. */
export function writtenSidecarPath(imagePath: string): string {
  return `${imagePath}.written`;
}

/** Records blocks [firstBlock, firstBlock + count) of `imagePath` as written. Creates the sidecar when absent. */
export async function markBlocksWritten(imagePath: string, firstBlock: number, count: number): Promise<void> {
  if (count <= 0) return;
  const path = writtenSidecarPath(imagePath);
  // Create without truncating ('a'), then write positionally ('r+'): O_APPEND would ignore the position.
  await (await open(path, 'a')).close();
  const handle = await open(path, 'r+');
  try {
    await handle.write(Buffer.alloc(count, 1), 0, count, firstBlock);
  } finally {
    await handle.close();
  }
}

/** Predicate over the sidecar of `imagePath`; undefined when the volume has no sidecar (nothing recorded). */
export async function readWrittenBlocks(imagePath: string): Promise<((blockIndex: number) => boolean) | undefined> {
  let bytes: Buffer;
  try {
    bytes = await readFile(writtenSidecarPath(imagePath));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  return (blockIndex) => (bytes[blockIndex] ?? 0) !== 0;
}
