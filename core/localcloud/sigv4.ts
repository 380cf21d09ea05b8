import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { EbsApiError } from './errors.js';

/** Access key pair the local cloud accepts. */
export interface LocalCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

/** A received request, as SigV4 verification needs it. */
export interface ReceivedRequest {
  readonly method: string;
  /** Path and query exactly as received (still percent-encoded). */
  readonly rawUrl: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

const AUTHORIZATION =
  /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/;
const MAX_SKEW_MS = 15 * 60_000;
const EMPTY_SHA256 = createHash('sha256').digest('hex');

/**
 * Verifies a request's AWS Signature Version 4 Authorization header for `service` against `credentials`: access key
 * id, scope, clock skew (15 min), the payload hash and the signature itself. Throws EbsApiError AccessDeniedException.
 */
export function verifySigV4(
  request: ReceivedRequest,
  credentials: LocalCredentials,
  service: string,
  now: number = Date.now(),
): void {
  const header = request.headers.authorization;
  const match = header ? AUTHORIZATION.exec(header) : null;
  if (!match) throw denied('the request has no valid AWS4-HMAC-SHA256 Authorization header');
  const [, accessKeyId, date, region, signedService, signedHeaders, signature] = match as unknown as string[];
  if (accessKeyId !== credentials.accessKeyId)
    throw denied(`access key ${accessKeyId} is not known to the local cloud`);
  if (signedService !== service) throw denied(`the request is signed for service ${signedService}, not ${service}`);
  const amzDate = single(request.headers['x-amz-date']);
  if (!amzDate || !/^\d{8}T\d{6}Z$/.test(amzDate) || !amzDate.startsWith(date ?? '')) {
    throw denied('x-amz-date is missing or does not match the credential scope');
  }
  const signedAt = Date.parse(
    `${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13)}`,
  );
  if (Math.abs(now - signedAt) > MAX_SKEW_MS) throw denied('signature expired: x-amz-date is more than 15 minutes off');

  const declaredPayload = single(request.headers['x-amz-content-sha256']);
  const actualPayload = request.body.length === 0 ? EMPTY_SHA256 : sha256Hex(request.body);
  if (declaredPayload !== undefined && declaredPayload !== 'UNSIGNED-PAYLOAD' && declaredPayload !== actualPayload) {
    throw denied('x-amz-content-sha256 does not match the request body');
  }
  const [path = '', query = ''] = request.rawUrl.split('?', 2);
  const canonicalRequest = [
    request.method,
    canonicalPath(path),
    canonicalQuery(query),
    canonicalHeaders(request.headers, (signedHeaders ?? '').split(';')),
    signedHeaders,
    declaredPayload ?? actualPayload,
  ].join('\n');
  const scope = `${date}/${region}/${signedService}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
  let key: Buffer = hmac(`AWS4${credentials.secretAccessKey}`, date ?? '');
  for (const part of [region ?? '', signedService, 'aws4_request']) key = hmac(key, part);
  const expected = hmac(key, stringToSign);
  if (!timingSafeEqual(expected, Buffer.from(signature ?? '', 'hex'))) {
    throw denied('the request signature we calculated does not match the signature you provided');
  }
}

// Non-S3 services sign the path as sent, encoded once more (each segment, RFC 3986).
function canonicalPath(path: string): string {
  return (path || '/').split('/').map(uriEncode).join('/');
}

function canonicalQuery(query: string): string {
  return query
    .split('&')
    .filter((pair) => pair !== '')
    .map((pair) => {
      const at = pair.indexOf('=');
      const name = at < 0 ? pair : pair.slice(0, at);
      const value = at < 0 ? '' : pair.slice(at + 1);
      return [uriEncode(percentDecode(name)), uriEncode(percentDecode(value))] as const;
    })
    .sort(([a, x], [b, y]) => (a === b ? compare(x, y) : compare(a, b)))
    .map(([name, value]) => `${name}=${value}`)
    .join('&');
}

function canonicalHeaders(headers: IncomingHttpHeaders, names: readonly string[]): string {
  return names
    .map((name) => {
      const value = headers[name];
      if (value === undefined) throw denied(`signed header ${name} is missing`);
      const text = Array.isArray(value) ? value.join(',') : value;
      return `${name}:${text.trim().replace(/\s+/g, ' ')}\n`;
    })
    .join('');
}

/** Percent-decoding that leaves '+' alone, as SigV4 clients encode a space as %20. */
export function percentDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function uriEncode(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

function denied(message: string): EbsApiError {
  return new EbsApiError('AccessDeniedException', 'UNAUTHORIZED_ACCOUNT', message);
}
