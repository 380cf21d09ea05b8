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
  const expected = calculateSignature(credentials, {
    method: request.method,
    canonicalPath: canonicalPath(path),
    canonicalQuery: canonicalQuery(query),
    headers: request.headers,
    signedHeaders: signedHeaders ?? '',
    payloadHash: declaredPayload ?? actualPayload,
    amzDate,
    scope: { date: date ?? '', region: region ?? '', service: signedService ?? '' },
  });
  if (!timingSafeEqual(expected, Buffer.from(signature ?? '', 'hex'))) {
    throw denied('the request signature we calculated does not match the signature you provided');
  }
}

/** What a SigV4 signature covers, once canonicalized as the service defines. */
interface SignedParts {
  readonly method: string;
  readonly canonicalPath: string;
  readonly canonicalQuery: string;
  readonly headers: IncomingHttpHeaders;
  /** `;`-separated, lower case, as the request lists them. */
  readonly signedHeaders: string;
  readonly payloadHash: string;
  readonly amzDate: string;
  readonly scope: { readonly date: string; readonly region: string; readonly service: string };
}

/** The signature SigV4 gives `parts` under `credentials`. Throws (via `denied`) when a signed header is missing. */
function calculateSignature(credentials: LocalCredentials, parts: SignedParts): Buffer {
  const canonicalRequest = [
    parts.method,
    parts.canonicalPath,
    parts.canonicalQuery,
    canonicalHeaders(parts.headers, parts.signedHeaders.split(';')),
    parts.signedHeaders,
    parts.payloadHash,
  ].join('\n');
  const { date, region, service } = parts.scope;
  const scope = `${date}/${region}/${service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', parts.amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
  let key: Buffer = hmac(`AWS4${credentials.secretAccessKey}`, date);
  for (const part of [region, service, 'aws4_request']) key = hmac(key, part);
  return hmac(key, stringToSign);
}

/** Why a request to the local S3 server is refused, as S3 would name it (all answered 403). */
export interface S3AuthRefusal {
  readonly code: 'AccessDenied' | 'InvalidAccessKeyId' | 'SignatureDoesNotMatch' | 'RequestTimeTooSkewed';
  readonly message: string;
}

const CREDENTIAL = /^([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request$/;
/** Presigned URLs live at most 7 days, as S3 allows. */
const MAX_PRESIGNED_SECONDS = 7 * 24 * 3600;

/**
 * Checks an S3 request's SigV4 signature, in the Authorization header or in the query (a presigned URL), against
 * `credentials`. S3 signs the path as sent (no second encoding) and the payload hash the client declares in
 * x-amz-content-sha256 (UNSIGNED-PAYLOAD, a streaming mode, or the hex digest, which the PUT handler checks against
 * the body as it streams in). Returns why the request is refused, or undefined when it is signed correctly.
 * An aws-chunked body's per-chunk signatures are not checked: the seed signature is.
 */
export function checkS3Signature(
  request: Omit<ReceivedRequest, 'body'>,
  credentials: LocalCredentials,
  now: number = Date.now(),
): S3AuthRefusal | undefined {
  const [path = '/', query = ''] = request.rawUrl.split('?', 2);
  const params = new URLSearchParams(query);
  const header = request.headers.authorization;
  let parts: Omit<SignedParts, 'canonicalPath' | 'method' | 'headers'>;
  let accessKeyId: string;
  let provided: string;
  if (header !== undefined) {
    const [, key = '', date = '', region = '', service, signedHeaders = '', signature = ''] =
      AUTHORIZATION.exec(header) ?? [];
    if (service !== 's3') return refusal('AccessDenied', 'the Authorization header is not AWS4-HMAC-SHA256 for s3');
    const amzDate = single(request.headers['x-amz-date']) ?? '';
    const payloadHash = single(request.headers['x-amz-content-sha256']);
    if (!payloadHash) return refusal('AccessDenied', 'x-amz-content-sha256 is missing');
    accessKeyId = key;
    provided = signature;
    parts = {
      canonicalQuery: canonicalQuery(query),
      signedHeaders,
      payloadHash,
      amzDate,
      scope: { date, region, service: 's3' },
    };
    const signedAt = parseAmzDate(amzDate);
    if (!amzDate.startsWith(date) || Number.isNaN(signedAt))
      return refusal('AccessDenied', 'x-amz-date is missing or does not match the credential scope');
    if (Math.abs(now - signedAt) > MAX_SKEW_MS)
      return refusal(
        'RequestTimeTooSkewed',
        'the difference between the request time and the current time is too large',
      );
  } else if (params.get('X-Amz-Algorithm') === 'AWS4-HMAC-SHA256') {
    const credential = CREDENTIAL.exec(params.get('X-Amz-Credential') ?? '');
    const amzDate = params.get('X-Amz-Date') ?? '';
    const expires = Number(params.get('X-Amz-Expires'));
    if (!credential || !(expires >= 1 && expires <= MAX_PRESIGNED_SECONDS))
      return refusal('AccessDenied', 'the presigned URL lacks a valid X-Amz-Credential or X-Amz-Expires');
    const [, key = '', date = '', region = ''] = credential;
    accessKeyId = key;
    provided = params.get('X-Amz-Signature') ?? '';
    const unsigned = query
      .split('&')
      .filter((pair) => !pair.startsWith('X-Amz-Signature='))
      .join('&');
    parts = {
      canonicalQuery: canonicalQuery(unsigned),
      signedHeaders: params.get('X-Amz-SignedHeaders') ?? 'host',
      payloadHash: 'UNSIGNED-PAYLOAD',
      amzDate,
      scope: { date, region, service: 's3' },
    };
    const signedAt = parseAmzDate(amzDate);
    if (!amzDate.startsWith(date) || Number.isNaN(signedAt)) return refusal('AccessDenied', 'X-Amz-Date is invalid');
    if (now > signedAt + expires * 1000) return refusal('AccessDenied', 'Request has expired');
  } else {
    return refusal('AccessDenied', 'Access Denied: the local S3 server answers only SigV4-signed requests');
  }
  if (accessKeyId !== credentials.accessKeyId)
    return refusal('InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.');
  let expected: Buffer;
  try {
    expected = calculateSignature(credentials, {
      ...parts,
      method: request.method,
      canonicalPath: path || '/',
      headers: request.headers,
    });
  } catch {
    return refusal('SignatureDoesNotMatch', 'a signed header is missing from the request');
  }
  const given = Buffer.from(provided, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(expected, given)) {
    return refusal(
      'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
    );
  }
  return undefined;
}

function refusal(code: S3AuthRefusal['code'], message: string): S3AuthRefusal {
  return { code, message };
}

/** Epoch ms of an ISO 8601 basic date-time (20261202T184600Z); NaN when malformed. */
function parseAmzDate(amzDate: string): number {
  if (!/^\d{8}T\d{6}Z$/.test(amzDate)) return Number.NaN;
  return Date.parse(
    `${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13)}`,
  );
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
