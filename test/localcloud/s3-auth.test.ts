import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalCloud, localS3ClientConfig } from '../../core/localcloud/index.js';
import { awsCli, rejectionOf, startTestCloud } from './helpers.js';

const Bucket = 'homebound-staging';

/** An S3Client whose request path is replaced before signing, as a client that sends a raw `..%2F` would. */
function clientSendingPath(cloud: LocalCloud, rawPath: string): S3Client {
  const client = new S3Client(localS3ClientConfig(cloud));
  client.middlewareStack.add(
    (next) => (args) => {
      (args.request as { path: string }).path = rawPath;
      return next(args);
    },
    { step: 'build' },
  );
  return client;
}

/** Every name under `dir`, recursively. */
async function namesUnder(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).map(String);
}

describe('local S3 refuses what S3 would refuse', () => {
  let cloud: LocalCloud;
  let s3: S3Client;

  beforeAll(async () => {
    cloud = await startTestCloud();
    s3 = new S3Client(localS3ClientConfig(cloud));
    await s3.send(new PutObjectCommand({ Bucket, Key: 'runs/r1/present.json', Body: '{}' }));
  });
  afterAll(async () => {
    s3?.destroy();
    await cloud?.stop();
  });

  it('refuses an unsigned PUT and GET with 403 AccessDenied, and stores nothing', async () => {
    const put = await fetch(`${cloud.s3Endpoint}/${Bucket}/runs/r1/unsigned.json`, { method: 'PUT', body: '{}' });
    const get = await fetch(`${cloud.s3Endpoint}/${Bucket}/runs/r1/present.json`);

    expect(put.status).toBe(403);
    expect(await put.text()).toContain('<Code>AccessDenied</Code>');
    expect(get.status).toBe(403);
    expect(await get.text()).toContain('<Code>AccessDenied</Code>');
    expect((await namesUnder(join(cloud.dir, 's3'))).some((name) => name.includes('unsigned'))).toBe(false);
  });

  it('refuses a request signed with the wrong secret (SignatureDoesNotMatch) or an unknown key', async () => {
    const config = localS3ClientConfig(cloud);
    const wrongSecret = new S3Client({
      ...config,
      credentials: { accessKeyId: cloud.credentials.accessKeyId, secretAccessKey: 'nope' },
    });
    const unknownKey = new S3Client({ ...config, credentials: { accessKeyId: 'AKIDNOPE', secretAccessKey: 'S3RVER' } });
    const get = new GetObjectCommand({ Bucket, Key: 'runs/r1/present.json' });

    const mismatch = await rejectionOf(wrongSecret.send(get));
    const unknown = await rejectionOf(unknownKey.send(get));
    wrongSecret.destroy();
    unknownKey.destroy();

    expect(mismatch).toMatchObject({ name: 'SignatureDoesNotMatch', $metadata: { httpStatusCode: 403 } });
    expect(unknown).toMatchObject({ name: 'InvalidAccessKeyId', $metadata: { httpStatusCode: 403 } });
  });

  it('refuses a signed PUT of a "..%2F" key, and no file appears outside its directory', async () => {
    const probe = clientSendingPath(cloud, `/${Bucket}/..%2F..%2Fescaped-probe.txt`);
    const refused = await rejectionOf(probe.send(new PutObjectCommand({ Bucket, Key: 'x', Body: 'out' })));
    probe.destroy();

    expect(refused).toMatchObject({ name: 'InvalidArgument', $metadata: { httpStatusCode: 400 } });
    // Two levels up from the bucket's directory is the local cloud's own: nothing anywhere under it.
    expect((await namesUnder(cloud.dir)).some((name) => name.includes('escaped-probe'))).toBe(false);
  });

  it('refuses keys with an empty or "." segment and a bucket name that is ".."', async () => {
    for (const key of ['runs//r1/a.json', 'runs/./a.json', '/leading.json']) {
      const refused = await rejectionOf(s3.send(new PutObjectCommand({ Bucket, Key: key, Body: '{}' })));
      expect(refused, key).toMatchObject({ $metadata: { httpStatusCode: 400 } });
    }
    const probe = clientSendingPath(cloud, '/..');
    const bucket = await rejectionOf(probe.send(new ListObjectsV2Command({ Bucket })));
    probe.destroy();
    expect(bucket).toMatchObject({ $metadata: { httpStatusCode: 400 } });
  });

  it('still serves the SDK, signed: put, list and get', async () => {
    await s3.send(new PutObjectCommand({ Bucket, Key: 'runs/r1/signed.json', Body: '{"ok":true}' }));
    const listed = await s3.send(new ListObjectsV2Command({ Bucket, Prefix: 'runs/r1/' }));
    const got = await s3.send(new GetObjectCommand({ Bucket, Key: 'runs/r1/signed.json' }));

    expect(listed.Contents?.map((object) => object.Key)).toContain('runs/r1/signed.json');
    expect(await got.Body?.transformToString()).toBe('{"ok":true}');
  });

  describe('through the AWS CLI (Debian awscli)', () => {
    const aws = (...args: string[]) => awsCli(cloud, cloud.s3Endpoint, ['s3', ...args]);

    it('copies an object in and lists it (its own SigV4 signer is accepted)', { timeout: 30_000 }, async () => {
      const file = join(cloud.dir, 'cli-upload.txt');
      await writeFile(file, 'from the aws cli');
      await aws('cp', file, `s3://${Bucket}/runs/cli/upload.txt`);
      expect(await aws('ls', `s3://${Bucket}/runs/cli/`)).toContain('upload.txt');
    });

    it('serves a presigned URL, and refuses it once its signature is altered', { timeout: 30_000 }, async () => {
      const url = (await aws('presign', `s3://${Bucket}/runs/r1/present.json`, '--expires-in', '300')).trim();
      const good = await fetch(url);
      const altered = await fetch(
        url.replace(/X-Amz-Signature=([0-9a-f])/, (_, c) => `X-Amz-Signature=${c === '0' ? '1' : '0'}`),
      );

      expect(good.status).toBe(200);
      expect(await good.text()).toBe('{}');
      expect(altered.status).toBe(403);
      expect(await altered.text()).toContain('SignatureDoesNotMatch');
    });
  });
});
