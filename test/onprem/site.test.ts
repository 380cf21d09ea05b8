import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Staging } from '../../core/adapters/aws/s3-staging.js';
import { parseAgentConfig } from '../../core/agent/config.js';
import { BLOCK_SIZE } from '../../core/blocks.js';
import { imageSha256 } from '../../core/image-digest.js';
import { localS3ClientConfig } from '../../core/localcloud/index.js';
import { ONPREM_STAGING_BUCKET, type OnPremSite, startOnPremSite } from '../../core/localcloud/onprem-site.js';
import { ensureVcsim, VCSIM_BUILD_PACKAGES, VCSIM_START_TIMEOUT_MS } from '../../core/localcloud/vcsim.js';
import { VsphereClient } from '../../core/vsphere/client.js';
import { VsphereLoginError } from '../../core/vsphere/errors.js';
import { scheduleOperation } from '../agent/helpers.js';
import { stagePass, waitForAck } from '../gateway/helpers.js';
import { STAGING_BUCKET, startTestCloud, type TestCloud } from '../support/local-cloud.js';
import { makeVolume, writeBlock } from '../support/volumes.js';

const HOST = { hostId: 'i-0abc', name: 'db', instanceType: 'm5.large', vCpus: 2, memoryMiB: 8192 };

/** Lists a bucket with the given keys; resolves with the S3 error name on refusal, 'ok' otherwise. */
async function listWith(
  endpoint: string,
  bucket: string,
  credentials: { accessKeyId: string; secretAccessKey: string },
) {
  const s3 = new S3Client(localS3ClientConfig({ s3Endpoint: endpoint, region: 'us-east-1', credentials }));
  try {
    await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
    return 'ok';
  } catch (error) {
    return (error as Error).name;
  } finally {
    s3.destroy();
  }
}

describe('the local on-prem site', () => {
  let test: TestCloud;
  beforeAll(async () => {
    test = await startTestCloud({ pollWaitMs: 2_000 });
  });
  afterAll(() => test.stop());

  describe('manual', () => {
    let site: OnPremSite;
    beforeAll(async () => {
      site = await startOnPremSite({
        dir: await mkdtemp(join(test.dir, 'site-manual-')),
        platform: 'manual',
        cloud: test.cloud,
        volumeIds: ['vol-0aaa'],
        pollMs: 50,
      });
    });
    afterAll(() => site.stop());

    it('runs a second S3 store that takes only its own keys, and the cloud refuses them', async () => {
      const own = site.store.credentials;
      expect(own.accessKeyId).not.toBe(test.cloud.credentials.accessKeyId);
      expect(await listWith(site.store.s3Endpoint, ONPREM_STAGING_BUCKET, own)).toBe('ok');
      expect(await listWith(site.store.s3Endpoint, ONPREM_STAGING_BUCKET, test.cloud.credentials)).toBe(
        'InvalidAccessKeyId',
      );
      expect(await listWith(test.cloud.s3Endpoint, STAGING_BUCKET, own)).toBe('InvalidAccessKeyId');
      expect(await listWith(test.cloud.s3Endpoint, STAGING_BUCKET, test.cloud.credentials)).toBe('ok');
      // The right key id with another secret is refused too (the guard checks the signature).
      expect(
        await listWith(site.store.s3Endpoint, ONPREM_STAGING_BUCKET, { ...own, secretAccessKey: 'wrong-secret' }),
      ).toBe('SignatureDoesNotMatch');
    });

    it('writes an agent config that parses, and prints its endpoints and keys as KEY=value pairs', async () => {
      const config = parseAgentConfig(await readFile(site.configPath, 'utf8'));
      expect(config).toMatchObject({
        staging: { bucket: ONPREM_STAGING_BUCKET, endpoint: site.store.s3Endpoint, profile: 'homebound-onprem-store' },
        platform: { type: 'manual', disks: { 'vol-0aaa': { path: site.manualDisks['vol-0aaa'], create: true } } },
      });
      expect(site.env()).toMatchObject({
        HOMEBOUND_ONPREM_S3_ENDPOINT: site.store.s3Endpoint,
        HOMEBOUND_ONPREM_S3_ACCESS_KEY_ID: site.store.credentials.accessKeyId,
        HOMEBOUND_ONPREM_S3_SECRET_ACCESS_KEY: site.store.credentials.secretAccessKey,
        HOMEBOUND_AGENT_CONFIG: site.configPath,
      });
      expect(site.env().HOMEBOUND_VSPHERE_URL).toBeUndefined();
    });

    it('runs the agent as its own process against the on-prem store, and resumes after a SIGKILL restart', async () => {
      const first = await site.startAgent();
      const runId = 'run-site';
      const sizeBytes = 8 * BLOCK_SIZE;
      await scheduleOperation(test.cloud.activities, site.config.activityArn, {
        operation: 'PrepareTarget',
        runId,
        hosts: [HOST],
        volumes: [{ hostId: HOST.hostId, volumeId: 'vol-0aaa', volumeKey: 'db-root', sizeBytes }],
      });
      const s3 = new S3Client(localS3ClientConfig(site.store));
      const staging = new S3Staging(s3, { bucket: site.store.bucket, prefix: `runs/${runId}/volumes/` });
      const records = new S3Staging(s3, { bucket: site.store.bucket, prefix: `runs/${runId}/agent/volumes/` });
      const source = join(site.dir, 'source.img');
      await makeVolume(source, sizeBytes, { 0: 'random', 3: 'random' });
      const base = await stagePass({ store: test.cloud.store, source: test.source, staging }, source, {
        volumeKey: 'db-root',
        passNumber: 1,
        sizeBytes,
      });
      await waitForAck(records, 'db-root', 1);
      expect(await imageSha256(site.manualDisks['vol-0aaa'] ?? '')).toBe(await imageSha256(source));

      const second = await site.restartAgent('SIGKILL');
      expect(await first.exited).toEqual({ code: null, signal: 'SIGKILL' });
      expect(second.pid).not.toBe(first.pid);
      await writeBlock(source, sizeBytes, 5, 'random');
      await stagePass({ store: test.cloud.store, source: test.source, staging }, source, {
        volumeKey: 'db-root',
        passNumber: 2,
        sizeBytes,
        base,
      });
      await waitForAck(records, 'db-root', 2);
      expect(await imageSha256(site.manualDisks['vol-0aaa'] ?? '')).toBe(await imageSha256(source));
      expect(second.log()).toMatch(/run-site: following 1 volume/);
      expect(await readFile(site.agentLogFile, 'utf8')).toContain(first.log());
      s3.destroy();
    }, 60_000);
  });

  describe('vsphere', () => {
    let site: OnPremSite;
    beforeAll(async () => {
      site = await startOnPremSite({
        dir: await mkdtemp(join(test.dir, 'site-vsphere-')),
        platform: 'vsphere',
        cloud: test.cloud,
      });
    }, VCSIM_START_TIMEOUT_MS);
    afterAll(() => site.stop());

    it('starts vcsim and writes a vsphere agent config with a 0400 password file and until: power', async () => {
      const config = parseAgentConfig(await readFile(site.configPath, 'utf8'));
      const env = site.env();
      expect(config.platform).toMatchObject({
        type: 'vsphere',
        url: env.HOMEBOUND_VSPHERE_URL,
        username: env.HOMEBOUND_VSPHERE_USER,
        datacenter: 'DC0',
        cluster: 'DC0_C0',
        datastore: 'LocalDS_0',
        network: 'VM Network',
        datastoreMounts: { LocalDS_0: env.HOMEBOUND_DATASTORE_DIR },
        until: 'power',
      });
      if (config.platform.type !== 'vsphere') throw new Error('not vsphere');
      expect((await stat(config.platform.passwordFile)).mode & 0o777).toBe(0o400);
      expect((await readFile(config.platform.passwordFile, 'utf8')).trim()).toBe(env.HOMEBOUND_VSPHERE_PASSWORD);
      expect((await stat(env.HOMEBOUND_DATASTORE_DIR ?? '')).isDirectory()).toBe(true);
      // The config holds no secret: the password is only in its file.
      expect(await readFile(site.configPath, 'utf8')).not.toContain(env.HOMEBOUND_VSPHERE_PASSWORD);

      const client = await VsphereClient.connect(
        { url: env.HOMEBOUND_VSPHERE_URL ?? '' },
        { username: env.HOMEBOUND_VSPHERE_USER ?? '', password: env.HOMEBOUND_VSPHERE_PASSWORD ?? '' },
      );
      await client.logout();
      await expect(
        VsphereClient.connect({ url: env.HOMEBOUND_VSPHERE_URL ?? '' }, { username: 'homebound', password: 'pass' }),
      ).rejects.toBeInstanceOf(VsphereLoginError);
    });
  });

  it('names the Debian packages to install when Go or the govmomi sources are missing', async () => {
    const empty = await mkdtemp(join(test.dir, 'no-go-'));
    const error = await ensureVcsim({ cacheDir: join(empty, 'cache'), gopath: empty }).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'VcsimToolsMissingError' });
    expect(String((error as Error).message)).toContain(`apt-get install ${VCSIM_BUILD_PACKAGES.join(' ')}`);
    expect(String((error as Error).message)).toContain('govmomi');
    await rm(empty, { recursive: true, force: true });
  });
});
