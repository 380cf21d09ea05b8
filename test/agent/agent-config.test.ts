import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AGENT_CONFIG_FORMAT, AgentConfigError, parseAgentConfig } from '../../core/agent/config.js';
import { runCli } from '../support/cli.js';

const ACTIVITY = 'arn:aws:states:eu-west-1:123456789012:activity:homebound-agent';

function config(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    format: AGENT_CONFIG_FORMAT,
    region: 'eu-west-1',
    activityArn: ACTIVITY,
    staging: { bucket: 'onprem-staging', endpoint: 'https://s3.onprem.example:9000' },
    stateDir: '/var/lib/homebound-agent',
    platform: { type: 'manual', disks: { 'vol-0aaa': { path: '/dev/sdb' } } },
    ...overrides,
  };
}

describe('agent config', () => {
  it('fills the defaults of a minimal manual config', () => {
    const parsed = parseAgentConfig(JSON.stringify(config()));

    expect(parsed).toMatchObject({ heartbeatSeconds: 10, maxConcurrentTasks: 4, pollMs: 500 });
    expect(parsed.workerName.length).toBeGreaterThan(0);
    expect(parsed.platform).toEqual({ type: 'manual', disks: { 'vol-0aaa': { path: '/dev/sdb', create: false } } });
  });

  it('names every wrong field', () => {
    const text = JSON.stringify(
      config({
        activityArn: 'homebound-agent',
        stateDir: 'relative/dir',
        platform: {
          type: 'manual',
          disks: { 'vol-0aaa': { path: '/dev/sdb' }, 'vol-0bbb': { path: '/dev/sdb' }, disk3: { path: '/dev/sdc' } },
        },
      }),
    );

    const error = (() => {
      try {
        parseAgentConfig(text);
      } catch (caught) {
        return caught;
      }
    })();

    expect(error).toBeInstanceOf(AgentConfigError);
    const message = String((error as Error).message);
    expect(message).toMatch(/activityArn: a Step Functions activity ARN/);
    expect(message).toMatch(/stateDir: must be an absolute path/);
    expect(message).toMatch(/platform\.disks\.disk3: keys are takeover volume ids/);
  });

  it('parses a vSphere platform and requires a cluster or resource pool', () => {
    const vsphere = {
      type: 'vsphere',
      url: 'https://vcenter.example/sdk',
      username: 'homebound@vsphere.local',
      passwordFile: '/etc/homebound/vcenter-password',
      datacenter: 'DC0',
      datastore: 'LocalDS_0',
      network: 'VM Network',
      datastoreMounts: { LocalDS_0: '/mnt/LocalDS_0' },
    };

    expect(() => parseAgentConfig(JSON.stringify(config({ platform: vsphere })))).toThrow(
      /platform\.cluster: name a cluster or a resourcePool/,
    );
    expect(
      parseAgentConfig(JSON.stringify(config({ platform: { ...vsphere, cluster: 'DC0_C0' } }))).platform,
    ).toMatchObject({ type: 'vsphere', cluster: 'DC0_C0' });
  });
});

describe('homebound agent --config', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hb-agent-config-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('exits 2 naming the field of a wrong config, before any network call', async () => {
    const path = join(dir, 'agent.json');
    await writeFile(path, JSON.stringify(config({ heartbeatSeconds: 0, stateDir: join(dir, 'state') })));

    const result = await runCli(['agent', '--config', path]);

    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/heartbeatSeconds: Too small/i);
  });

  it('never prints the vCenter password file content, even when it cannot go on', async () => {
    const secret = 'S3cr3t-vcenter-p@ssword';
    const passwordFile = join(dir, 'vcenter-password');
    await writeFile(passwordFile, `${secret}\n`, { mode: 0o600 });
    const path = join(dir, 'agent.json');
    const platform = {
      type: 'vsphere',
      url: 'https://127.0.0.1:1/sdk',
      username: 'homebound',
      passwordFile,
      datacenter: 'DC0',
      cluster: 'DC0_C0',
      datastore: 'LocalDS_0',
      network: 'VM Network',
      datastoreMounts: { LocalDS_0: dir },
    };
    await writeFile(path, JSON.stringify(config({ platform, stateDir: join(dir, 'state') })));

    const result = await runCli(['agent', '--config', path]);

    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/PlatformNotAvailableError: target platform "vsphere" is not available/);
    expect(result.stdout + result.stderr).not.toContain(secret);
  });
});
