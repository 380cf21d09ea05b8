import type { S3rverMiddleware } from 's3rver';
import S3Error from 's3rver/lib/models/error.js';
import { checkS3Signature, type LocalCredentials, percentDecode } from './sigv4.js';

/**
 * The local S3 server's front door, ahead of everything s3rver does. s3rver 3.7 serves anonymous requests and takes
 * any SigV4 signature from a known access key ("unimplemented"), so anyone on the machine could read or write
 * staging; and it stores a key as a file path, so a key with a ".." segment (`..%2F`, decoded by its router) reached
 * outside its directory. So, as S3 would answer:
 * - a request without a SigV4 signature (header or presigned URL), or with a wrong one, is refused with 403
 *   AccessDenied / SignatureDoesNotMatch / InvalidAccessKeyId / RequestTimeTooSkewed;
 * - a bucket name with a "/" or that is "." or "..", and a key with an empty, "." or ".." segment, are refused with
 *   400 (S3 itself would store such keys; this server cannot without leaving its directory or colliding).
 * CORS preflights (OPTIONS) stay unsigned, as browsers send them.
 */
export function s3Guard(credentials: LocalCredentials): S3rverMiddleware {
  return async (ctx, next) => {
    if (ctx.method === 'OPTIONS') return next();
    const rawUrl = ctx.req.url ?? '/';
    const unsafe = unsafeName(rawUrl.split('?', 1)[0] ?? '/');
    if (unsafe) throw s3Error(unsafe.code, unsafe.message, 400);
    const refusal = checkS3Signature({ method: ctx.method, rawUrl, headers: ctx.req.headers }, credentials);
    if (refusal) throw s3Error(refusal.code, refusal.message, 403);
    return next();
  };
}

/** Why a path-style request's bucket or key cannot be stored in a directory tree; undefined when it can. */
function unsafeName(rawPath: string): { code: string; message: string } | undefined {
  const [, rawBucket = '', ...rawKey] = rawPath.split('/');
  const bucket = percentDecode(rawBucket);
  if (bucket.includes('/') || bucket === '.' || bucket === '..') {
    return { code: 'InvalidBucketName', message: `The specified bucket is not valid: ${JSON.stringify(bucket)}` };
  }
  const key = percentDecode(rawKey.join('/'));
  // "/bucket" and "/bucket/" address the bucket itself.
  if (key === '') return undefined;
  if (key.split('/').some((segment) => segment === '' || segment === '.' || segment === '..')) {
    return {
      code: 'InvalidArgument',
      message: `The local S3 server refuses key ${JSON.stringify(key)}: an empty, "." or ".." segment would leave or collide in its directory`,
    };
  }
  return undefined;
}

function s3Error(code: string, message: string, status: number): S3Error {
  const error = new S3Error(code, message);
  // s3rver's table lacks some of these codes (it would answer 500).
  error.status = status;
  error.expose = true;
  return error;
}
