import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteBucketCorsCommand,
  DeleteObjectsCommand,
  GetBucketCorsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutBucketCorsCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalCloud, localS3ClientConfig } from '../../core/localcloud/index.js';
import { startS3Server } from '../../core/localcloud/s3-server.js';
import { digestOf, randomBlock, rejectionOf, startTestCloud, tempDir } from './helpers.js';

describe('local S3 (s3rver) through @aws-sdk/client-s3 with localS3ClientConfig', () => {
  let cloud: LocalCloud;
  let s3: S3Client;
  const Bucket = 'homebound-staging';

  beforeAll(async () => {
    cloud = await startTestCloud();
    s3 = new S3Client(localS3ClientConfig(cloud));
  });

  afterAll(async () => {
    s3?.destroy();
    await cloud?.stop();
  });

  it('round-trips a Buffer body with user metadata through PutObject, GetObject and HeadObject', async () => {
    const body = randomBlock();

    await s3.send(new PutObjectCommand({ Bucket, Key: 'run-1/pass-1/seg-0', Body: body, Metadata: { sha256: 'abc' } }));
    const got = await s3.send(new GetObjectCommand({ Bucket, Key: 'run-1/pass-1/seg-0' }));
    const head = await s3.send(new HeadObjectCommand({ Bucket, Key: 'run-1/pass-1/seg-0' }));

    expect(digestOf(Buffer.from((await got.Body?.transformToByteArray()) ?? []))).toBe(digestOf(body));
    expect(got.Metadata).toEqual({ sha256: 'abc' });
    expect(head.ContentLength).toBe(body.length);
    expect(head.Metadata).toEqual({ sha256: 'abc' });
  });

  it('stores a streamed body byte for byte (no aws-chunked framing)', async () => {
    const body = Buffer.from('segment '.repeat(50_000));

    await s3.send(
      new PutObjectCommand({ Bucket, Key: 'run-1/stream', Body: Readable.from([body]), ContentLength: body.length }),
    );
    const got = await s3.send(new GetObjectCommand({ Bucket, Key: 'run-1/stream' }));

    expect(digestOf(Buffer.from((await got.Body?.transformToByteArray()) ?? []))).toBe(digestOf(body));
  });

  it('pages ListObjectsV2 under a prefix and deletes the listed keys with DeleteObjects', async () => {
    const keys = Array.from({ length: 7 }, (_, i) => `run-2/pass-1/seg-${i}`);
    for (const Key of keys) await s3.send(new PutObjectCommand({ Bucket, Key, Body: Buffer.from(Key) }));
    await s3.send(new PutObjectCommand({ Bucket, Key: 'run-3/other', Body: Buffer.from('x') }));

    const listed: string[] = [];
    let ContinuationToken: string | undefined;
    let pages = 0;
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket, Prefix: 'run-2/', MaxKeys: 3, ContinuationToken }));
      listed.push(...(page.Contents ?? []).map((object) => object.Key ?? ''));
      ContinuationToken = page.NextContinuationToken;
      pages += 1;
    } while (ContinuationToken);
    const deleted = await s3.send(
      new DeleteObjectsCommand({ Bucket, Delete: { Objects: listed.map((Key) => ({ Key })) } }),
    );
    const after = await s3.send(new ListObjectsV2Command({ Bucket, Prefix: 'run-2/' }));

    expect(listed).toEqual(keys);
    expect(pages).toBe(3);
    expect(deleted.Deleted).toHaveLength(7);
    expect(deleted.Errors ?? []).toEqual([]);
    expect(after.KeyCount).toBe(0);
    expect((await s3.send(new ListObjectsV2Command({ Bucket, Prefix: 'run-3/' }))).KeyCount).toBe(1);
  });

  it('rejects a PUT whose body does not match its x-amz-content-sha256, as S3 does, and keeps the old object', async () => {
    const Key = 'run-4/checked';
    const old = randomBlock();
    await s3.send(new PutObjectCommand({ Bucket, Key, Body: old }));
    const put = new PutObjectCommand({ Bucket, Key, Body: randomBlock() });
    put.middlewareStack.add(
      (next) => (args) => {
        Object.assign((args.request as { headers: Record<string, string> }).headers, {
          'x-amz-content-sha256': digestOf(old),
        });
        return next(args);
      },
      { step: 'build' },
    );

    const error = await rejectionOf(s3.send(put));
    const kept = await s3.send(new GetObjectCommand({ Bucket, Key }));

    expect(error.name).toBe('XAmzContentSHA256Mismatch');
    expect(digestOf(Buffer.from((await kept.Body?.transformToByteArray()) ?? []))).toBe(digestOf(old));
  });

  it('has the whole object readable as soon as the PUT is answered', async () => {
    const bodies = Array.from({ length: 6 }, () => Buffer.concat([randomBlock(), randomBlock(), randomBlock()]));

    const read = await Promise.all(
      bodies.map(async (Body, i) => {
        await s3.send(new PutObjectCommand({ Bucket, Key: `run-5/object-${i}`, Body }));
        const got = await s3.send(new GetObjectCommand({ Bucket, Key: `run-5/object-${i}` }));
        return Buffer.from((await got.Body?.transformToByteArray()) ?? []);
      }),
    );

    expect(read.map(digestOf)).toEqual(bodies.map(digestOf));
  });

  it('serves byte ranges, and refuses one past the end with InvalidRange', async () => {
    const body = Buffer.concat([randomBlock(), randomBlock(), randomBlock()]);
    await s3.send(new PutObjectCommand({ Bucket, Key: 'run-6/ranged', Body: body }));

    const middle = await s3.send(new GetObjectCommand({ Bucket, Key: 'run-6/ranged', Range: 'bytes=1000-1500999' }));
    const tail = await s3.send(
      new GetObjectCommand({ Bucket, Key: 'run-6/ranged', Range: `bytes=${body.length - 10}-` }),
    );
    const past = await rejectionOf(
      s3.send(new GetObjectCommand({ Bucket, Key: 'run-6/ranged', Range: `bytes=${body.length + 1}-` })),
    );

    expect(middle.ContentRange).toBe(`bytes 1000-1500999/${body.length}`);
    expect(Buffer.from((await middle.Body?.transformToByteArray()) ?? []).equals(body.subarray(1000, 1501000))).toBe(
      true,
    );
    expect(Buffer.from((await tail.Body?.transformToByteArray()) ?? []).equals(body.subarray(-10))).toBe(true);
    expect(past.name).toBe('InvalidRange');
  });

  it('answers a missing key with NoSuchKey', async () => {
    const error = await rejectionOf(s3.send(new GetObjectCommand({ Bucket, Key: 'nothing/here' })));

    expect(error.name).toBe('NoSuchKey');
  });

  it('refuses a bucket name that is not DNS-valid', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      await expect(startS3Server({ directory: dir, buckets: ['Homebound_Staging'] })).rejects.toThrow(/DNS-valid/);
    } finally {
      await cleanup();
    }
  });

  it('finds a bucket created after a look-up missed it, and loses one once deleted', async () => {
    const Bucket = 'homebound-created-later';
    const before = await rejectionOf(s3.send(new HeadBucketCommand({ Bucket })));

    await s3.send(new CreateBucketCommand({ Bucket }));
    await s3.send(new PutObjectCommand({ Bucket, Key: 'k', Body: Buffer.from('x') }));
    await s3.send(new DeleteObjectsCommand({ Bucket, Delete: { Objects: [{ Key: 'k' }] } }));
    await s3.send(new HeadBucketCommand({ Bucket }));
    await s3.send(new DeleteBucketCommand({ Bucket }));
    const after = await rejectionOf(s3.send(new PutObjectCommand({ Bucket, Key: 'k', Body: Buffer.from('x') })));

    expect(before.name).toBe('NotFound');
    expect(after.name).toBe('NoSuchBucket');
  });

  it('serves a bucket CORS configuration set after it was looked up, and none once deleted', async () => {
    const CORSConfiguration = { CORSRules: [{ AllowedMethods: ['GET'], AllowedOrigins: ['https://console.example'] }] };
    const before = await rejectionOf(s3.send(new GetBucketCorsCommand({ Bucket })));

    await s3.send(new PutBucketCorsCommand({ Bucket, CORSConfiguration }));
    const set = await s3.send(new GetBucketCorsCommand({ Bucket }));
    await s3.send(new DeleteBucketCorsCommand({ Bucket }));
    const after = await rejectionOf(s3.send(new GetBucketCorsCommand({ Bucket })));

    expect(before.name).toBe('NoSuchCORSConfiguration');
    expect(set.CORSRules?.[0]?.AllowedOrigins).toEqual(['https://console.example']);
    expect(after.name).toBe('NoSuchCORSConfiguration');
  });

  it('has the ETag (MD5) sidecar and user metadata of a new object as soon as the PUT is answered', async () => {
    const body = randomBlock();

    const put = await s3.send(
      new PutObjectCommand({ Bucket, Key: 'sidecars/object', Body: body, Metadata: { 'index-sha256': 'feed' } }),
    );
    // Written by the PUT itself (read before any GET or HEAD): without it s3rver reads the whole object back to make the
    // ETag at the first one.
    const sidecar = await readFile(join(cloud.dir, 's3', Bucket, 'sidecars', 'object._S3rver_object.md5'), 'utf8');
    const head = await s3.send(new HeadObjectCommand({ Bucket, Key: 'sidecars/object' }));

    expect(put.ETag).toBe(`"${createHash('md5').update(body).digest('hex')}"`);
    expect(`"${sidecar}"`).toBe(put.ETag);
    expect(head.ETag).toBe(put.ETag);
    expect(head.Metadata).toEqual({ 'index-sha256': 'feed' });
  });

  it('serves an object that is being overwritten again and again, never a half-written sidecar (no 500)', async () => {
    const Key = 'overwritten/heartbeat.json';
    await s3.send(new PutObjectCommand({ Bucket, Key, Body: '{"beat":0}', Metadata: { mac: 'm0' } }));
    let writing = true;
    const writer = (async () => {
      for (let beat = 1; writing; beat += 1) {
        await s3.send(new PutObjectCommand({ Bucket, Key, Body: `{"beat":${beat}}`, Metadata: { mac: `m${beat}` } }));
      }
    })();

    const reads: string[] = [];
    const metadata: (string | undefined)[] = [];
    for (let read = 0; read < 150; read += 1) {
      const got = await s3.send(new GetObjectCommand({ Bucket, Key }));
      reads.push((await got.Body?.transformToString()) ?? '');
      metadata.push(got.Metadata?.mac);
    }
    writing = false;
    await writer;

    // Before the fix, a GET between s3rver's truncate and write of metadata.json answered InternalError.
    expect(reads.every((body) => /^\{"beat":\d+\}$/.test(body))).toBe(true);
    expect(metadata.every((mac) => mac !== undefined && /^m\d+$/.test(mac))).toBe(true);
  });
});
