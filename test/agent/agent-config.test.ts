import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AGENT_CONFIG_FORMAT, AgentConfigError, parseAgentConfig } from '../../core/agent/config.js';
import { collectOutput } from '../gateway/helpers.js';
import { runCli, startCli } from '../support/cli.js';

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

  it('parses a vSphere platform and requires where its datastore is mounted', () => {
    const vsphere = {
      type: 'vsphere',
      url: 'https://vcenter.example/sdk',
      username: 'homebound@vsphere.local',
      passwordFile: '/etc/homebound/vcenter-password',
      datacenter: 'DC0',
      cluster: 'DC0_C0',
      datastore: 'LocalDS_0',
      network: 'VM Network',
      datastoreMounts: { LocalDS_0: '/mnt/LocalDS_0' },
    };
    const elsewhere = { ...vsphere, datastoreMounts: { OtherDS: '/mnt/OtherDS' } };
    const { cluster: _, ...noCluster } = vsphere;

    expect(parseAgentConfig(JSON.stringify(config({ platform: vsphere }))).platform).toMatchObject({
      type: 'vsphere',
      cluster: 'DC0_C0',
    });
    expect(() => parseAgentConfig(JSON.stringify(config({ platform: elsewhere })))).toThrow(
      /platform\.datastoreMounts: say where datastore LocalDS_0 is mounted on this host/,
    );
    expect(() => parseAgentConfig(JSON.stringify(config({ platform: noCluster })))).toThrow(/platform\.cluster: /);
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

  it('keeps polling without AWS credentials, saying what is missing, and stops on SIGTERM', async () => {
    const path = join(dir, 'agent.json');
    await writeFile(path, JSON.stringify(config({ sfnEndpoint: 'http://127.0.0.1:9', stateDir: join(dir, 'state') })));
    // A bare environment with an empty home: no keys, no profile, no ~/.aws.
    const agent = startCli(['agent', '--config', path], { PATH: process.env.PATH ?? '', HOME: dir }, { bareEnv: true });
    const stderr = collectOutput(agent.child.stderr);

    await stderr.waitFor(/GetActivityTask failed \(retrying in 1000 ms\): AwsCredentialsMissingError/);
    await stderr.waitFor(/retrying in 2000 ms/);
    agent.child.kill('SIGTERM');
    const exit = await agent.done;

    expect(exit.code).toBe(0);
    expect(exit.stderr).toMatch(/homebound agent: stopped/);
  });

  it('starts with a vsphere config without touching vCenter (it connects at the first task), printing no password', async () => {
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
    await writeFile(
      path,
      JSON.stringify(config({ platform, sfnEndpoint: 'http://127.0.0.1:9', stateDir: join(dir, 'state') })),
    );
    const agent = startCli(['agent', '--config', path], { PATH: process.env.PATH ?? '', HOME: dir }, { bareEnv: true });
    const stderr = collectOutput(agent.child.stderr);

    await stderr.waitFor(/platform vsphere, staging onprem-staging/);
    await stderr.waitFor(/GetActivityTask failed/);
    agent.child.kill('SIGTERM');
    const result = await agent.done;

    expect(result.code).toBe(0);
    expect(result.stdout + result.stderr).not.toContain(secret);
  });
});

describe('deploy/agent', () => {
  const deploy = join(import.meta.dirname, '../../deploy/agent');

  it('ships example configs that parse, with the state dir the systemd unit provides', async () => {
    const unit = await readFile(join(deploy, 'homebound-agent.service'), 'utf8');
    const manual = parseAgentConfig(await readFile(join(deploy, 'agent.example.json'), 'utf8'));
    const vsphere = parseAgentConfig(await readFile(join(deploy, 'agent.vsphere.example.json'), 'utf8'));

    expect(manual.platform.type).toBe('manual');
    expect(vsphere.platform.type).toBe('vsphere');
    for (const config of [manual, vsphere]) {
      expect(unit).toContain(`StateDirectory=${config.stateDir.replace('/var/lib/', '')}\n`);
      expect(unit).toContain(`ReadWritePaths=${config.stateDir}\n`);
    }
  });

  it('runs the agent as its own user, always restarted, hardened, with no secret in the unit', async () => {
    const unit = await readFile(join(deploy, 'homebound-agent.service'), 'utf8');
    const settings = new Map(
      unit
        .split('\n')
        .filter((line) => /^[A-Za-z]+=/.test(line))
        .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
    );

    expect(settings.get('ExecStart')).toBe(
      '/usr/bin/node /opt/homebound/homebound-agent.mjs agent --config /etc/homebound/agent.json',
    );
    expect(settings.get('Restart')).toBe('always');
    expect(settings.get('User')).toBe('homebound');
    expect(settings.get('NoNewPrivileges')).toBe('yes');
    expect(settings.get('ProtectSystem')).toBe('strict');
    expect(settings.get('CapabilityBoundingSet')).toBe('');
    expect(unit).not.toMatch(/AWS_SECRET_ACCESS_KEY|AWS_ACCESS_KEY_ID|password/i);
  });
});
