import { BLOCK_SIZE, isAllZero, sha256, zeroBlock } from '../blocks.js';
import { segmentBuffers } from './buffer-pool.js';

/**
 * Delta segment format v2 (docs/delta-format.md is the specification; keep the two in step).
 *
 *   header   32 bytes  magic "HBSEG2\0\0" | version u16 | flags u16 | blockSize u32 | entryCount u32 |
 *                      dataBlockCount u32 | reserved (8 bytes, zero)
 *   entries  entryCount × 48 bytes: blockIndex u64 | kind u8 (0 data, 1 zero) | reserved 7 bytes |
 *                      sha256 (32 bytes) of the full 512 KiB block
 *   data     dataBlockCount × 512 KiB, the payloads of the `data` entries in entry order
 *   trailer  32 bytes  SHA-256 of the index (header and entries)
 *
 * All integers big-endian. Entries are in ascending block index order. A zero entry carries no payload: the applier
 * writes zeros (a block that became zero in an incremental pass). The index digest covers every entry, and each entry
 * the SHA-256 of its block, so checking the index and then every block covers every byte while hashing each payload
 * once (v1's trailer hashed the payloads a second time).
 */
export const SEGMENT_MAGIC = Buffer.from('HBSEG2\0\0', 'latin1');
export const SEGMENT_VERSION = 2;
const HEADER_BYTES = 32;
const ENTRY_BYTES = 48;
const TRAILER_BYTES = 32;
const ZERO_BLOCK_SHA256 = sha256(zeroBlock());

export type SegmentEntryKind = 'data' | 'zero';

export interface SegmentEntry {
  readonly blockIndex: number;
  readonly kind: SegmentEntryKind;
  /** SHA-256 of the whole 512 KiB block (for `zero`, of 512 KiB of zeros). */
  readonly sha256: Buffer;
}

export interface SegmentBlock extends SegmentEntry {
  /** The 512 KiB payload; for `zero` entries a shared zero block. */
  readonly data: Buffer;
}

/** Thrown by the parser; callers wrap it with the object's key. */
export class SegmentFormatError extends Error {
  override readonly name = 'SegmentFormatError';
}

/** Bytes a segment holding these entries occupies. */
export function segmentSize(entryCount: number, dataBlockCount: number): number {
  return HEADER_BYTES + entryCount * ENTRY_BYTES + dataBlockCount * BLOCK_SIZE + TRAILER_BYTES;
}

/** An encoded segment with the SHA-256 (hex) of its index (header and entries), as the manifest records it. */
export interface EncodedSegment {
  readonly body: Buffer;
  readonly indexSha256: string;
  readonly dataBlocks: number;
}

/**
 * Serialises verified blocks into one segment. `blocks` must be in ascending index order, each data block exactly
 * 512 KiB. Zero blocks become payload-free `zero` entries.
 */
export function encodeSegment(blocks: readonly { blockIndex: number; data: Buffer; sha256: Buffer }[]): Buffer {
  return encodeDigestedSegment(blocks).body;
}

/**
 * Room to read a segment's blocks straight into, then encode the segment in place (`encodeDigestedSegment` with
 * `into`): block i of at most `capacity` goes to `slot(i)`, and encoding only moves a payload when a zero block
 * before it left a gap. Saves a buffer and a copy per block. The buffer comes from `segmentBuffers`; whoever stages
 * the segment gives it back.
 */
export class SegmentBuffer {
  readonly buffer: Buffer;
  constructor(readonly capacity: number) {
    this.buffer = segmentBuffers.acquire(segmentSize(capacity, capacity));
  }

  /** Where block i is read to; past every entry a segment of `capacity` blocks can hold, so encoding moves it only
   * towards the front, never over a payload it has yet to move. */
  slot(i: number): Buffer {
    const at = HEADER_BYTES + this.capacity * ENTRY_BYTES + i * BLOCK_SIZE;
    return this.buffer.subarray(at, at + BLOCK_SIZE);
  }
}

/**
 * `encodeSegment`, also returning the index digest (the trailer). With `into` (whose slots the blocks were read into,
 * in order) the segment is built in place.
 */
export function encodeDigestedSegment(
  blocks: readonly { blockIndex: number; data: Buffer; sha256: Buffer }[],
  into?: SegmentBuffer,
): EncodedSegment {
  const zero = blocks.map((block) => isAllZero(block.data));
  const dataBlocks = zero.filter((isZero) => !isZero).length;
  const size = segmentSize(blocks.length, dataBlocks);
  if (into && into.capacity < blocks.length) throw new RangeError(`${blocks.length} blocks exceed the segment buffer`);
  const out = into ? into.buffer.subarray(0, size) : Buffer.allocUnsafe(size);
  SEGMENT_MAGIC.copy(out, 0);
  out.writeUInt16BE(SEGMENT_VERSION, 8);
  out.writeUInt16BE(0, 10);
  out.writeUInt32BE(BLOCK_SIZE, 12);
  out.writeUInt32BE(blocks.length, 16);
  out.writeUInt32BE(dataBlocks, 20);
  out.fill(0, 24, HEADER_BYTES);

  let previous = -1;
  let dataOffset = HEADER_BYTES + blocks.length * ENTRY_BYTES;
  blocks.forEach((block, i) => {
    if (block.blockIndex <= previous) throw new SegmentFormatError('blocks must be in ascending index order');
    if (block.data.length !== BLOCK_SIZE) throw new SegmentFormatError(`block ${block.blockIndex} is not 512 KiB`);
    previous = block.blockIndex;
    const at = HEADER_BYTES + i * ENTRY_BYTES;
    out.writeBigUInt64BE(BigInt(block.blockIndex), at);
    out.writeUInt8(zero[i] ? 1 : 0, at + 8);
    out.fill(0, at + 9, at + 16);
    block.sha256.copy(out, at + 16);
    if (!zero[i]) {
      // A payload already in place stays; one in a later slot moves forward (copy is a memmove).
      const inPlace = block.data.buffer === out.buffer && block.data.byteOffset === out.byteOffset + dataOffset;
      if (!inPlace) block.data.copy(out, dataOffset);
      dataOffset += BLOCK_SIZE;
    }
  });
  const trailer = sha256(out.subarray(0, HEADER_BYTES + blocks.length * ENTRY_BYTES));
  trailer.copy(out, out.length - TRAILER_BYTES);
  return { body: out, indexSha256: trailer.toString('hex'), dataBlocks };
}

/** A parsed segment: its blocks (payloads are views into the segment, no copies) and its index digest (hex). */
export interface ParsedSegment {
  readonly blocks: SegmentBlock[];
  readonly indexSha256: string;
}

/**
 * Parses a segment and checks its structure and index digest (cheap: the payloads are not hashed).
 * @throws SegmentFormatError on a bad magic, version, size or trailer digest.
 */
export function decodeSegment(segment: Buffer): SegmentBlock[] {
  return parseSegment(segment).blocks;
}

/**
 * Parses a segment and checks all of it: structure, index digest, and every block against its entry's SHA-256.
 * @throws SegmentFormatError naming what does not match.
 */
export function verifySegmentBody(segment: Buffer): ParsedSegment {
  const parsed = parseSegment(segment);
  for (const block of parsed.blocks) {
    const matches =
      block.kind === 'zero' ? block.sha256.equals(ZERO_BLOCK_SHA256) : sha256(block.data).equals(block.sha256);
    if (!matches) throw new SegmentFormatError(`block ${block.blockIndex} does not match its SHA-256`);
  }
  return parsed;
}

function parseSegment(segment: Buffer): ParsedSegment {
  if (segment.length < HEADER_BYTES + TRAILER_BYTES) throw new SegmentFormatError('too short to be a segment');
  if (!segment.subarray(0, 8).equals(SEGMENT_MAGIC)) throw new SegmentFormatError('bad magic');
  const version = segment.readUInt16BE(8);
  if (version !== SEGMENT_VERSION) throw new SegmentFormatError(`unsupported segment version ${version}`);
  if (segment.readUInt32BE(12) !== BLOCK_SIZE) throw new SegmentFormatError('unsupported block size');
  const entryCount = segment.readUInt32BE(16);
  const dataBlockCount = segment.readUInt32BE(20);
  if (segment.length !== segmentSize(entryCount, dataBlockCount))
    throw new SegmentFormatError('length does not match header');
  const trailer = segment.subarray(segment.length - TRAILER_BYTES);
  if (!sha256(segment.subarray(0, HEADER_BYTES + entryCount * ENTRY_BYTES)).equals(trailer)) {
    throw new SegmentFormatError('trailer digest mismatch');
  }

  const zero = zeroBlock();
  const blocks: SegmentBlock[] = [];
  let dataOffset = HEADER_BYTES + entryCount * ENTRY_BYTES;
  let previous = -1;
  for (let i = 0; i < entryCount; i++) {
    const at = HEADER_BYTES + i * ENTRY_BYTES;
    const blockIndex = Number(segment.readBigUInt64BE(at));
    const kindByte = segment.readUInt8(at + 8);
    if (blockIndex <= previous) throw new SegmentFormatError('entries out of order');
    if (kindByte > 1) throw new SegmentFormatError(`unknown entry kind ${kindByte}`);
    previous = blockIndex;
    const entrySha = segment.subarray(at + 16, at + 48);
    if (kindByte === 1) {
      blocks.push({ blockIndex, kind: 'zero', sha256: entrySha, data: zero });
    } else {
      if (dataOffset + BLOCK_SIZE > segment.length - TRAILER_BYTES)
        throw new SegmentFormatError('data overruns segment');
      blocks.push({
        blockIndex,
        kind: 'data',
        sha256: entrySha,
        data: segment.subarray(dataOffset, dataOffset + BLOCK_SIZE),
      });
      dataOffset += BLOCK_SIZE;
    }
  }
  if (dataOffset !== segment.length - TRAILER_BYTES) throw new SegmentFormatError('data count does not match header');
  return { blocks, indexSha256: trailer.toString('hex') };
}
