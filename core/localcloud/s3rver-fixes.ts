import type S3rver from 's3rver';
import type { S3rverContext, S3rverMiddleware } from 's3rver';

/**
 * Fixes two s3rver 3.7 bugs that @aws-sdk/client-s3 runs into, on one server instance (nothing global is patched):
 * ListObjectsV2 pagination and DeleteObjects of several keys under one prefix.
 */
export function applyS3rverFixes(server: S3rver): void {
  // Just before the router (the last entry), so it sees the listing before s3rver's XML encoder does.
  server.middleware.splice(server.middleware.length - 1, 0, listObjectsV2WithoutDes);
  // DeleteObjects deletes its keys concurrently, and each deletion removes its directory once empty: the others then
  // fail with ENOENT (500). One deletion at a time keeps every directory check consistent.
  const deleteObject = server.store.deleteObject.bind(server.store);
  let previous: Promise<unknown> = Promise.resolve();
  server.store.deleteObject = (bucket, key) => {
    const deletion = previous.then(() => deleteObject(bucket, key));
    previous = deletion.catch(() => undefined);
    return deletion;
  };
}

/**
 * ListObjectsV2 for s3rver without DES. s3rver 3.7 makes V2 continuation tokens with DES, which OpenSSL 3 (Node 17+)
 * refuses, so a truncated V2 listing fails with 500. This middleware, placed just before s3rver's router, answers V2
 * requests through s3rver's V1 listing (`marker`) and reshapes the result as V2, with its own opaque token (the last
 * key, base64url) — S3 clients treat the token as opaque.
 */
const listObjectsV2WithoutDes: S3rverMiddleware = async (ctx, next) => {
  if (ctx.method !== 'GET' || ctx.query['list-type'] !== '2' || !/^\/[^/]+\/?$/.test(ctx.path)) return next();
  const {
    'list-type': _listType,
    'continuation-token': token,
    'start-after': startAfter,
    'fetch-owner': fetchOwner,
    ...rest
  } = ctx.query;
  const continuation = typeof token === 'string' && token !== '' ? token : undefined;
  const marker = continuation === undefined ? startAfter : Buffer.from(continuation, 'base64url').toString('utf8');
  ctx.query = { ...rest, ...(typeof marker === 'string' && marker !== '' ? { marker } : {}) };
  await next();
  reshapeAsV2(ctx, continuation, typeof startAfter === 'string' ? startAfter : undefined, fetchOwner === 'true');
};

interface ListedObject {
  readonly Key: string;
  readonly Owner?: unknown;
}

function reshapeAsV2(ctx: S3rverContext, token: string | undefined, startAfter: string | undefined, owner: boolean) {
  const body = ctx.body as { ListBucketResult?: Record<string, unknown> } | undefined;
  const result = body?.ListBucketResult;
  if (!result) return; // an error answer: leave it alone
  const { Marker: _marker, NextMarker: _nextMarker, Contents, ...kept } = result;
  const contents = (Contents ?? []) as ListedObject[];
  const lastKey = contents.at(-1)?.Key;
  ctx.body = {
    ListBucketResult: {
      ...kept,
      StartAfter: token === undefined ? startAfter : undefined,
      ContinuationToken: token,
      NextContinuationToken:
        kept.IsTruncated && lastKey !== undefined ? Buffer.from(lastKey, 'utf8').toString('base64url') : undefined,
      KeyCount: contents.length,
      Contents: contents.map((object) => (owner ? object : { ...object, Owner: undefined })),
    },
  };
}
