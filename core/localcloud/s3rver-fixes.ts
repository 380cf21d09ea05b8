import { createHash, randomBytes } from 'node:crypto';
import { type FileHandle, mkdir, open, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type S3rver from 's3rver';
import type { S3rverContext, S3rverMiddleware, S3rverObject, S3rverStore } from 's3rver';
import S3Error from 's3rver/lib/models/error.js';
import S3Object from 's3rver/lib/models/object.js';

/**
 * Fixes three s3rver 3.7 bugs that @aws-sdk/client-s3 runs into, on one server instance (nothing global is patched):
 * ListObjectsV2 pagination, DeleteObjects of several keys under one prefix, and PutObject answering before the
 * object is written; serves GetObject in large reads; and keeps bucket look-ups in memory instead of on disk.
 * They reach into s3rver's private modules and store, so package.json pins s3rver exactly: a new version is a review.
 */
export function applyS3rverFixes(server: S3rver): void {
  cacheBucketLookups(server.store);
  putObjectOnceWritten(server.store);
  getObjectInLargeReads(server.store);
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
 * Keeps each bucket's existence and its CORS and website configurations in memory. s3rver looks all three up on
 * disk for every request (a stat and two reads that fail with ENOENT), three thread-pool round trips in a row before
 * it touches the object: keeping them took an idle server's small PUT from 9.9 to ~8 ms and small GET from 8.3 to
 * ~6.6 ms here, and the delta path's manifest, plan and ack objects wait on such requests in turn. Sound because this
 * server is the only writer of its directory: every change goes through the store methods wrapped here, which drop
 * what they change. Object-level configurations are not cached.
 */
function cacheBucketLookups(store: S3rverStore): void {
  const buckets = new LookupCache();
  const configs = new LookupCache();
  const configKey = (bucket: string, type: string) => `${bucket}/${type}`;
  // Dropped before and after each change, so a look-up that raced with it is not kept either.
  const changing = async <T>(forget: () => void, change: () => Promise<T>): Promise<T> => {
    forget();
    try {
      return await change();
    } finally {
      forget();
    }
  };
  const forgetBucket = (bucket: string) => {
    buckets.forget(bucket);
    configs.forgetPrefix(`${bucket}/`);
  };
  const forgetConfig = (bucket: string, key: string | undefined, type: string) => {
    if (key === undefined) configs.forget(configKey(bucket, type));
  };
  const { getBucket, putBucket, deleteBucket, getSubresource, putSubresource, deleteSubresource } = store;
  // A missing bucket is not remembered: a client may be about to create it.
  store.getBucket = (bucket) =>
    buckets.get(
      bucket,
      () => getBucket.call(store, bucket),
      (found) => found !== null,
    );
  store.putBucket = (bucket) =>
    changing(
      () => forgetBucket(bucket),
      () => putBucket.call(store, bucket),
    );
  store.deleteBucket = (bucket) =>
    changing(
      () => forgetBucket(bucket),
      () => deleteBucket.call(store, bucket),
    );
  store.getSubresource = (bucket, key, type) =>
    key === undefined
      ? configs.get(configKey(bucket, type), () => getSubresource.call(store, bucket, key, type))
      : getSubresource.call(store, bucket, key, type);
  store.putSubresource = (bucket, key, resource) =>
    changing(
      () => forgetConfig(bucket, key, resource.type),
      () => putSubresource.call(store, bucket, key, resource),
    );
  store.deleteSubresource = (bucket, key, type) =>
    changing(
      () => forgetConfig(bucket, key, type),
      () => deleteSubresource.call(store, bucket, key, type),
    );
}

/** Look-ups by key, shared while in flight and kept once they succeed (unless `keep` says otherwise). */
class LookupCache {
  private readonly entries = new Map<string, Promise<unknown>>();

  get<T>(key: string, load: () => Promise<T>, keep: (value: T) => boolean = () => true): Promise<T> {
    const known = this.entries.get(key) as Promise<T> | undefined;
    if (known) return known;
    const loading = load();
    this.entries.set(key, loading);
    loading.then(
      (value) => {
        if (!keep(value) && this.entries.get(key) === loading) this.entries.delete(key);
      },
      () => {
        if (this.entries.get(key) === loading) this.entries.delete(key);
      },
    );
    return loading;
  }

  forget(key: string): void {
    this.entries.delete(key);
  }

  forgetPrefix(prefix: string): void {
    for (const key of this.entries.keys()) if (key.startsWith(prefix)) this.entries.delete(key);
  }
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

/** Bytes gathered per write while a PUT body streams in: one write per MiB instead of one per 64 KiB chunk. */
const WRITE_BATCH_BYTES = 1024 * 1024;

/**
 * PutObject as S3 does it. s3rver 3.7 answers a PUT once the body has passed its MD5 transform, before the file
 * write stream has finished, so a GET right after the answer can read a short object; it also overwrites the old
 * object in place while the new one streams in. Here the body goes to a temporary file (written in large batches),
 * is checked against a hex x-amz-content-sha256 as S3 checks it (XAmzContentSHA256Mismatch, old object kept), and
 * is renamed into place, after its ETag and metadata sidecars, before the answer.
 */
function putObjectOnceWritten(store: S3rverStore): void {
  store.putObject = async (object: S3rverObject) => {
    const path = store.getResourcePath(object.bucket, object.key, 'object');
    // Not a `._S3rver_object` name, so listings never show the upload in flight.
    const temp = `${path}.upload-${randomBytes(6).toString('hex')}`;
    await mkdir(dirname(path), { recursive: true });
    const declared = declaredSha256(object.content);
    const md5 = createHash('md5');
    const sha256 = declared === undefined ? undefined : createHash('sha256');
    let size = 0;
    const handle = await open(temp, 'w');
    // Batches are written in order while the body keeps arriving.
    let written: Promise<void> = Promise.resolve();
    try {
      await forEachBatch(object.content, (chunks) => {
        for (const chunk of chunks) {
          md5.update(chunk);
          sha256?.update(chunk);
          size += chunk.length;
        }
        written = written.then(() => writeAll(handle, chunks));
      });
      await written;
    } catch (error) {
      await written.catch(() => undefined);
      await handle.close();
      await rm(temp, { force: true });
      throw error;
    }
    await handle.close();
    if (sha256 && sha256.digest('hex') !== declared) {
      await rm(temp, { force: true });
      const error = new S3Error(
        'XAmzContentSHA256Mismatch',
        "The provided 'x-amz-content-sha256' header does not match what was computed.",
      );
      error.status = 400;
      error.expose = true;
      throw error;
    }
    const etag = md5.digest('hex');
    // The ETag and metadata sidecars first, side by side (s3rver writes one after the other), then the object: a new
    // key appears whole at the rename. Each sidecar is renamed into place too: s3rver's writeFile truncates first, so
    // a GET of an overwritten key (a heartbeat read while it is rewritten) could parse an empty sidecar and answer 500.
    await Promise.all([
      writeFileAtomically(store.getResourcePath(object.bucket, object.key, 'object.md5'), etag),
      writeFileAtomically(
        store.getResourcePath(object.bucket, object.key, 'metadata.json'),
        JSON.stringify(storedMetadata(object.metadata), null, 2),
      ),
    ]);
    await rename(temp, path);
    return { size, md5: etag };
  };
}

/** What s3rver's putMetadata keeps of an object's metadata: its allowed standard headers and every `x-amz-meta-*`. */
function storedMetadata(metadata: S3rverObject['metadata']): Record<string, unknown> {
  const allowed = new Set(S3Object.ALLOWED_METADATA);
  return Object.fromEntries(
    Object.entries(metadata).filter(([name]) => allowed.has(name) || name.startsWith('x-amz-meta-')),
  );
}

/** Writes a file whole or not at all, as a reader sees it: a temporary name, then a rename over the old one. */
async function writeFileAtomically(path: string, data: string): Promise<void> {
  const temp = `${path}.write-${randomBytes(6).toString('hex')}`;
  await writeFile(temp, data);
  await rename(temp, path);
}

/** Hands the body over in batches of about WRITE_BATCH_BYTES, as it arrives; resolves after the last one. */
function forEachBatch(content: S3rverObject['content'], onBatch: (chunks: Buffer[]) => void): Promise<void> {
  if (Buffer.isBuffer(content)) {
    onBatch([content]);
    return Promise.resolve();
  }
  return new Promise((resolve, reject) => {
    let batch: Buffer[] = [];
    let batched = 0;
    const flush = () => {
      if (batch.length > 0) onBatch(batch);
      batch = [];
      batched = 0;
    };
    content.on('data', (chunk: Buffer | string) => {
      const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
      batch.push(bytes);
      batched += bytes.length;
      if (batched >= WRITE_BATCH_BYTES) flush();
    });
    content.once('end', () => {
      flush();
      resolve();
    });
    content.once('error', reject);
  });
}

/** The payload hash a signed PUT declares, when it is a hex digest (not UNSIGNED-PAYLOAD or a streaming mode). */
function declaredSha256(content: S3rverObject['content']): string | undefined {
  if (Buffer.isBuffer(content)) return undefined;
  const header = content.headers?.['x-amz-content-sha256'];
  return typeof header === 'string' && /^[0-9a-f]{64}$/.test(header) ? header : undefined;
}

async function writeAll(handle: FileHandle, chunks: Buffer[]): Promise<void> {
  if (chunks.length === 0) return;
  const total = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
  const { bytesWritten } = await handle.writev(chunks);
  if (bytesWritten === total) return;
  const rest = Buffer.concat(chunks).subarray(bytesWritten);
  for (let done = 0; done < rest.length; ) done += (await handle.write(rest, done)).bytesWritten;
}

/** Bytes per file read while serving a GET: s3rver's streams default to 64 KiB, 128 reads for an 8 MiB segment. */
const READ_CHUNK_BYTES = 1024 * 1024;

/**
 * s3rver's GetObject (same metadata, range and not-found answers), reading the file in 1 MiB chunks, and from one
 * version of it: the file is opened first and its length taken from that open file, so an object overwritten (renamed
 * over) during the GET is served whole as the version opened — s3rver stats the path, then opens it again, and could
 * serve the new body cut to the old length. The metadata sidecars may still come from a neighbouring version.
 */
function getObjectInLargeReads(store: S3rverStore): void {
  store.getObject = async (bucket, key, options) => {
    let handle: FileHandle;
    try {
      handle = await open(store.getResourcePath(bucket, key, 'object'), 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
    try {
      const metadata = await store.getMetadata(bucket, key);
      const { size } = await handle.stat();
      metadata['content-length'] = String(size);
      const lastByte = Math.max(0, size - 1);
      const range = { start: options?.start || 0, end: Math.min(options?.end || Number.POSITIVE_INFINITY, lastByte) };
      const ranged = options !== undefined && (options.start !== undefined || Boolean(options.end));
      let content: NodeJS.ReadableStream | null = null;
      if (range.start >= 0 && range.end >= range.start) {
        content = handle.createReadStream({ ...range, highWaterMark: READ_CHUNK_BYTES, autoClose: true });
      } else {
        await handle.close();
      }
      const object = new S3Object(bucket, key, content, metadata);
      if (ranged) object.range = range;
      return object;
    } catch (error) {
      await handle.close().catch(() => undefined);
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  };
}
