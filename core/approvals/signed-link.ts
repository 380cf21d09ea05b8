import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { ApprovalLinkExpiredError, ApprovalLinkForgedError, ApprovalNonceInvalidError } from './errors.js';

/**
 * Approval links and form nonces, signed with HMAC-SHA256 under a key only the approval functions hold.
 *
 * A link names the approval (an opaque random id, never the task token), the approver it was sent to, and its expiry
 * (the approval deadline); the signature covers all three, so none can be changed and no link can be made up. A form
 * nonce is signed the same way over the link it was issued for, so a nonce from one link is worthless on another.
 */

/** What a link carries, all of it covered by the signature. */
export interface LinkClaims {
  readonly approvalId: string;
  /** Who the link was sent to: `email:<address>`. */
  readonly approver: string;
  /** Epoch seconds after which the link is refused. */
  readonly expiresAt: number;
}

const ID_PATTERN = /^[A-Za-z0-9_-]{16,64}$/;
const SIGNATURE_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/** A fresh approval id: 18 random bytes, base64url. Opaque: it says nothing about the run or the token. */
export function newApprovalId(): string {
  return randomBytes(18).toString('base64url');
}

function mac(key: string, ...parts: string[]): string {
  return createHmac('sha256', key).update(parts.join('\n')).digest('base64url');
}

/** Constant-time comparison of two signatures (different lengths are unequal without comparing). */
export function sameSignature(expected: string, given: string): boolean {
  const left = Buffer.from(expected);
  const right = Buffer.from(given);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** Signs and checks approval links and nonces under one key. */
export class LinkSigner {
  constructor(private readonly key: string) {
    if (key.length < 32) throw new RangeError('the approval link key must be at least 32 characters');
  }

  /** The query string of a link for `claims`: `a`, `exp`, `sig` (the id goes in the path). */
  sign(claims: LinkClaims): URLSearchParams {
    return new URLSearchParams({
      a: claims.approver,
      exp: String(claims.expiresAt),
      sig: mac(this.key, 'link', claims.approvalId, claims.approver, String(claims.expiresAt)),
    });
  }

  /** The full link: `<pageUrl>/approvals/<id>?a=…&exp=…&sig=…`. */
  url(pageUrl: string, claims: LinkClaims): string {
    return `${pageUrl.replace(/\/+$/, '')}/approvals/${claims.approvalId}?${this.sign(claims)}`;
  }

  /**
   * Checks a link's signature, then its expiry (a forged link is called forged even when also old).
   * @throws ApprovalLinkForgedError when anything is missing, malformed or altered; ApprovalLinkExpiredError after
   *   the expiry.
   */
  verify(approvalId: string, query: URLSearchParams, nowSeconds: number): LinkClaims {
    const approver = query.get('a') ?? '';
    const exp = query.get('exp') ?? '';
    const sig = query.get('sig') ?? '';
    if (!ID_PATTERN.test(approvalId) || !/^\d{1,12}$/.test(exp) || !SIGNATURE_PATTERN.test(sig) || approver === '') {
      throw new ApprovalLinkForgedError('approval link incomplete or malformed');
    }
    if (!sameSignature(mac(this.key, 'link', approvalId, approver, exp), sig)) {
      throw new ApprovalLinkForgedError(`approval link ${approvalId}: signature does not match`);
    }
    const expiresAt = Number(exp);
    if (nowSeconds >= expiresAt) throw new ApprovalLinkExpiredError(`approval link ${approvalId} expired at ${exp}`);
    return { approvalId, approver, expiresAt };
  }

  /** A one-time form nonce for the link: random, signed over the link's id and approver. */
  issueNonce(claims: LinkClaims): string {
    const random = randomBytes(16).toString('base64url');
    return `${random}.${mac(this.key, 'nonce', claims.approvalId, claims.approver, random)}`;
  }

  /**
   * Checks that `nonce` was issued by {@link issueNonce} for this link. One-time use is the store's part: the
   * decision records the nonce, and a decided approval refuses everything after.
   * @throws ApprovalNonceInvalidError
   */
  verifyNonce(claims: LinkClaims, nonce: string): void {
    const [random, signature, ...rest] = nonce.split('.');
    if (!random || !signature || rest.length > 0 || !/^[A-Za-z0-9_-]{22}$/.test(random)) {
      throw new ApprovalNonceInvalidError(`approval ${claims.approvalId}: nonce missing or malformed`);
    }
    if (!sameSignature(mac(this.key, 'nonce', claims.approvalId, claims.approver, random), signature)) {
      throw new ApprovalNonceInvalidError(`approval ${claims.approvalId}: nonce not issued for this link`);
    }
  }
}
