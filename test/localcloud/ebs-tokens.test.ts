import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BLOCK_TOKEN_TTL_MS, PAGE_TOKEN_TTL_MS, TokenSigner } from '../../core/localcloud/ebs-tokens.js';

describe('TokenSigner', () => {
  const key = randomBytes(32);
  const start = Date.parse('2026-01-01T00:00:00Z');

  function signerAt(now: number): TokenSigner {
    return new TokenSigner(key, () => now);
  }

  it('accepts a block token for its snapshot and block until it expires after seven days', () => {
    const token = signerAt(start).blockToken('snap-0123456789abcdef0', 7, signerAt(start).blockTokenExpiry());

    expect(() =>
      signerAt(start + BLOCK_TOKEN_TTL_MS - 1_000).verifyBlockToken(token, 'snap-0123456789abcdef0', 7),
    ).not.toThrow();
    expect(() =>
      signerAt(start + BLOCK_TOKEN_TTL_MS + 1_000).verifyBlockToken(token, 'snap-0123456789abcdef0', 7),
    ).toThrow(expect.objectContaining({ reason: 'INVALID_BLOCK_TOKEN' }));
    expect(() => signerAt(start).verifyBlockToken(token, 'snap-0123456789abcdef0', 8)).toThrow(/not valid/);
  });

  it('rejects a block token minted with another server key', () => {
    const token = new TokenSigner(randomBytes(32), () => start).blockToken('snap-0123456789abcdef0', 1, start + 60_000);

    expect(() => signerAt(start).verifyBlockToken(token, 'snap-0123456789abcdef0', 1)).toThrow(/not valid/);
  });

  it('resumes a page token for the same request within 60 minutes only', () => {
    const token = signerAt(start).pageToken('ListSnapshotBlocks:snap-0123456789abcdef0', 4_242);

    expect(
      signerAt(start + PAGE_TOKEN_TTL_MS - 1_000).pagePosition(token, 'ListSnapshotBlocks:snap-0123456789abcdef0'),
    ).toBe(4_242);
    expect(() =>
      signerAt(start + PAGE_TOKEN_TTL_MS + 1_000).pagePosition(token, 'ListSnapshotBlocks:snap-0123456789abcdef0'),
    ).toThrow(expect.objectContaining({ reason: 'INVALID_PAGE_TOKEN' }));
    expect(() => signerAt(start).pagePosition(token, 'ListSnapshotBlocks:snap-00000000000000000')).toThrow(/NextToken/);
    expect(() => signerAt(start).pagePosition('not a token', 'ListSnapshotBlocks:snap-0123456789abcdef0')).toThrow(
      /NextToken/,
    );
  });
});
