import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { validationError } from './errors.js';

/**
 * Opaque tokens of the local EBS server, HMAC-signed with the server's random key so a client can neither forge one
 * nor reuse one elsewhere. Layout (base64, like the service's): version byte, expiry (u32 epoch seconds),
 * [page position u32], 32-byte HMAC over the binding, the position and the expiry.
 */

/** Block tokens live 7 days, page tokens 60 minutes (EBS direct API documentation). */
export const BLOCK_TOKEN_TTL_MS = 7 * 24 * 3_600_000;
export const PAGE_TOKEN_TTL_MS = 60 * 60_000;

const VERSION = 1;
const MAC_BYTES = 32;

export class TokenSigner {
  constructor(
    private readonly key: Buffer = randomBytes(32),
    private readonly now: () => number = Date.now,
  ) {}

  /** Expiry (ms since epoch) of a block token minted now. */
  blockTokenExpiry(): number {
    return Math.floor((this.now() + BLOCK_TOKEN_TTL_MS) / 1000) * 1000;
  }

  /** A block token that lets GetSnapshotBlock read block `index` of `snapshotId` until `expiresAtMs`. */
  blockToken(snapshotId: string, index: number, expiresAtMs: number): string {
    return this.mint(`block:${snapshotId}:${index}`, undefined, expiresAtMs);
  }

  /** Throws ValidationException INVALID_BLOCK_TOKEN unless `token` was minted for this snapshot and block. */
  verifyBlockToken(token: string, snapshotId: string, index: number): void {
    if (this.open(token, `block:${snapshotId}:${index}`, false) === undefined) {
      throw validationError('INVALID_BLOCK_TOKEN', `the block token is not valid for block ${index} of ${snapshotId}`);
    }
  }

  /** A NextToken for the list request identified by `binding`, resuming at block index `position`. */
  pageToken(binding: string, position: number): string {
    return this.mint(`page:${binding}`, position, this.now() + PAGE_TOKEN_TTL_MS);
  }

  /** The position a NextToken resumes at. Throws ValidationException INVALID_PAGE_TOKEN when forged or expired. */
  pagePosition(token: string, binding: string): number {
    const position = this.open(token, `page:${binding}`, true);
    if (position === undefined)
      throw validationError('INVALID_PAGE_TOKEN', 'the NextToken is not valid for this request or has expired');
    return position;
  }

  private mint(binding: string, position: number | undefined, expiresAtMs: number): string {
    const header = Buffer.alloc(position === undefined ? 5 : 9);
    header.writeUInt8(VERSION, 0);
    header.writeUInt32BE(Math.floor(expiresAtMs / 1000), 1);
    if (position !== undefined) header.writeUInt32BE(position, 5);
    return Buffer.concat([header, this.mac(binding, header)]).toString('base64');
  }

  // The position when the token is genuine, unexpired and bound to `binding`; otherwise undefined.
  private open(token: string, binding: string, withPosition: boolean): number | undefined {
    const raw = Buffer.from(token, 'base64');
    const headerBytes = withPosition ? 9 : 5;
    if (raw.length !== headerBytes + MAC_BYTES || raw.toString('base64') !== token || raw[0] !== VERSION)
      return undefined;
    const header = raw.subarray(0, headerBytes);
    if (!timingSafeEqual(raw.subarray(headerBytes), this.mac(binding, header))) return undefined;
    if (header.readUInt32BE(1) * 1000 <= this.now()) return undefined;
    return withPosition ? header.readUInt32BE(5) : 0;
  }

  private mac(binding: string, header: Buffer): Buffer {
    return createHmac('sha256', this.key).update(binding).update('\0').update(header).digest();
  }
}
