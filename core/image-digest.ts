import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/**
 * SHA-256 (hex) of a whole image file or of its first `length` bytes, streamed in 8 MiB reads — how homebound proves
 * a target is byte-identical to its source.
 */
export async function imageSha256(path: string, length?: number): Promise<string> {
  const hash = createHash('sha256');
  const stream = createReadStream(path, {
    highWaterMark: 8 * 1024 * 1024,
    ...(length !== undefined ? { end: length - 1 } : {}),
  });
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
