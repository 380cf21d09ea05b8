import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BLOCK_SIZE, sha256, sha256Hex } from '../../core/blocks.js';
import {
  decodeSegment,
  encodeDigestedSegment,
  encodeSegment,
  SegmentBuffer,
  segmentSize,
  verifySegmentBody,
} from '../../core/engine/segment.js';

function block(blockIndex: number, data: Buffer) {
  return { blockIndex, data, sha256: sha256(data) };
}

describe('delta segment format v2', () => {
  it('round-trips data and zero blocks, and a zero block costs no payload', () => {
    const a = randomBytes(BLOCK_SIZE);
    const b = randomBytes(BLOCK_SIZE);
    const encoded = encodeSegment([block(3, a), block(7, Buffer.alloc(BLOCK_SIZE)), block(9, b)]);

    expect(encoded.length).toBe(segmentSize(3, 2));
    const decoded = decodeSegment(encoded);
    expect(decoded.map((entry) => [entry.blockIndex, entry.kind])).toEqual([
      [3, 'data'],
      [7, 'zero'],
      [9, 'data'],
    ]);
    expect(decoded[0]?.data.equals(a)).toBe(true);
    expect(decoded[1]?.data.equals(Buffer.alloc(BLOCK_SIZE))).toBe(true);
    expect(decoded[2]?.data.equals(b)).toBe(true);
    expect(decoded[2]?.sha256.equals(sha256(b))).toBe(true);
  });

  it('reports the digest of its index, which the trailer carries and decoding checks', () => {
    const blocks = [block(1, randomBytes(BLOCK_SIZE)), block(2, Buffer.alloc(BLOCK_SIZE))];

    const encoded = encodeDigestedSegment(blocks);

    expect(encoded.indexSha256).toBe(sha256Hex(encoded.body.subarray(0, 32 + 2 * 48)));
    expect(encoded.indexSha256).toBe(encoded.body.subarray(-32).toString('hex'));
    expect(encoded.body.equals(encodeSegment(blocks))).toBe(true);
    expect(encoded.dataBlocks).toBe(1);
    expect(verifySegmentBody(encoded.body).indexSha256).toBe(encoded.indexSha256);
  });

  it('encodes in place from blocks read into a SegmentBuffer, closing the gaps zero blocks leave', () => {
    const contents = [
      Buffer.alloc(BLOCK_SIZE),
      randomBytes(BLOCK_SIZE),
      Buffer.alloc(BLOCK_SIZE),
      randomBytes(BLOCK_SIZE),
    ];
    const expected = encodeSegment(contents.map((data, i) => block(10 + i, data)));
    const into = new SegmentBuffer(contents.length + 1);
    const read = contents.map((data, i) => {
      const slot = into.slot(i);
      data.copy(slot);
      return block(10 + i, slot);
    });

    const encoded = encodeDigestedSegment(read, into);

    expect(encoded.body.equals(expected)).toBe(true);
    expect(encoded.body.buffer).toBe(into.buffer.buffer);
    expect(encoded.indexSha256).toBe(verifySegmentBody(expected).indexSha256);
  });

  it('detects a flipped byte in the index through the trailer, and in a payload through its block digest', () => {
    const index = encodeSegment([block(0, randomBytes(BLOCK_SIZE))]);
    index[40] = (index[40] ?? 0) ^ 0xff;
    const payload = encodeSegment([block(0, randomBytes(BLOCK_SIZE)), block(1, Buffer.alloc(BLOCK_SIZE))]);
    payload[1000] = (payload[1000] ?? 0) ^ 0xff;

    expect(() => decodeSegment(index)).toThrow(/trailer/);
    expect(() => decodeSegment(payload)).not.toThrow();
    expect(() => verifySegmentBody(payload)).toThrow(/block 0 does not match/);
  });

  it('refuses a zero entry whose digest is not that of a zero block', () => {
    const encoded = encodeSegment([
      { blockIndex: 3, data: Buffer.alloc(BLOCK_SIZE), sha256: sha256(Buffer.from('x')) },
    ]);

    expect(() => verifySegmentBody(encoded)).toThrow(/block 3 does not match/);
  });

  it('rejects a truncated segment and a foreign file', () => {
    const encoded = encodeSegment([block(0, randomBytes(BLOCK_SIZE))]);
    expect(() => decodeSegment(encoded.subarray(0, encoded.length - 1))).toThrow(/length|digest/);
    expect(() => decodeSegment(Buffer.alloc(200, 'PK'))).toThrow(/magic/);
  });

  it('refuses blocks out of order so a reader can rely on ascending indexes', () => {
    expect(() => encodeSegment([block(5, randomBytes(BLOCK_SIZE)), block(2, randomBytes(BLOCK_SIZE))])).toThrow(
      /ascending/,
    );
  });

  it('encodes an empty segment that decodes to no blocks', () => {
    expect(decodeSegment(encodeSegment([]))).toEqual([]);
  });
});
