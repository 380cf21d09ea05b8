import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../core/errors.js';
import {
  GATEWAY_ARTIFACT_PATH,
  GATEWAY_CONFIG_FORMAT,
  type GatewayConfig,
  hasGatewayConfig,
  parseGatewayUserData,
  renderGatewayUserData,
} from '../../core/gateway/config.js';

const config: GatewayConfig = {
  format: GATEWAY_CONFIG_FORMAT,
  runId: 'run-2024-05-01',
  staging: { bucket: 'homebound-staging', prefix: 'runs/run-2024-05-01/' },
  recordsPrefix: 'runs/run-2024-05-01/gateways/',
  volumes: [
    { volumeKey: 'db-root', volumeId: 'vol-0123456789abcdef0', sizeBytes: 8 * 2 ** 30 },
    { volumeKey: 'db-data', volumeId: 'vol-0fedcba9876543210', sizeBytes: 100 * 2 ** 30 },
  ],
  pollMs: 750,
};

const artifact = {
  uri: 's3://cdk-hnb659fds-assets-123456789012-eu-west-1/0123abcd.mjs',
  sha256: createHash('sha256').update('the gateway bundle').digest('hex'),
};

function parseError(userData: string): unknown {
  try {
    parseGatewayUserData(userData);
  } catch (error) {
    return error;
  }
  throw new Error('expected parseGatewayUserData to throw');
}

describe('gateway user data', () => {
  it('round-trips: what renderGatewayUserData writes, parseGatewayUserData reads back unchanged', () => {
    const userData = renderGatewayUserData(config);

    expect(parseGatewayUserData(userData)).toEqual(config);
    expect(hasGatewayConfig(userData)).toBe(true);
  });

  it('is a bash script that passes `bash -n` and runs the gateway as a systemd service restarted on failure', () => {
    const userData = renderGatewayUserData(config, { artifact });

    const syntax = spawnSync('bash', ['-n'], { input: userData, encoding: 'utf8' });
    expect(syntax.status, syntax.stderr).toBe(0);
    expect(userData.split('\n').slice(0, 4)).toContain('set -euo pipefail');
    expect(userData.startsWith('#!/bin/bash\n')).toBe(true);
    expect(userData).toMatch(
      /ExecStart=\$NODE \/opt\/homebound\/homebound-gateway\.mjs gateway --config \/etc\/homebound\/gateway\.json --state-dir \/var\/lib\/homebound\n/,
    );
    expect(userData).toContain('Restart=on-failure');
    expect(userData).toContain(`aws s3 cp --region "$REGION" '${artifact.uri}' ${GATEWAY_ARTIFACT_PATH}.download\n`);
  });

  it('runs the downloaded bundle only when its SHA-256 matches (the check line itself, on a real file)', () => {
    const userData = renderGatewayUserData(config, { artifact });
    const check = userData.split('\n').find((line) => line.includes('sha256sum'));
    const dir = mkdtempSync(join(tmpdir(), 'hb-artifact-check-'));
    try {
      const file = join(dir, 'bundle');
      const run = () =>
        spawnSync('bash', [
          '-euo',
          'pipefail',
          '-c',
          String(check).replaceAll(`${GATEWAY_ARTIFACT_PATH}.download`, file),
        ]);
      writeFileSync(file, 'the gateway bundle');
      expect(run().status).toBe(0);
      writeFileSync(file, 'the gateway bundle, tampered');
      expect(run().status).not.toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('without an artifact, stops with a message naming the path when the AMI lacks the bundle', () => {
    const userData = renderGatewayUserData(config);

    expect(userData).not.toContain('aws s3 cp');
    expect(userData).toContain(`if [ ! -f ${GATEWAY_ARTIFACT_PATH} ]; then`);
    expect(userData).toContain(`${GATEWAY_ARTIFACT_PATH} is missing and no artifact was given`);
  });

  it('writes the config, which holds the run key, readable by its owner only (the user data lines themselves)', () => {
    const runKey = 'ab'.repeat(32);
    const userData = renderGatewayUserData({ ...config, ackKey: runKey });
    const lines = userData.split('\n');
    const block = lines.slice(lines.indexOf('umask 077'), lines.indexOf('umask 022') + 1);
    const dir = mkdtempSync(join(tmpdir(), 'hb-userdata-'));
    try {
      const path = join(dir, 'gateway.json');
      const script = block.join('\n').replace('/etc/homebound/gateway.json', path);
      const run = spawnSync('bash', ['-e'], { input: script, encoding: 'utf8' });

      expect(run.status, run.stderr).toBe(0);
      expect(statSync(path).mode & 0o777).toBe(0o600);
      expect(parseGatewayUserData(userData).ackKey).toBe(runKey);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fills in the default poll interval', () => {
    const { pollMs: _, ...withoutPoll } = config;

    const parsed = parseGatewayUserData(renderGatewayUserData({ ...withoutPoll } as GatewayConfig));

    expect(parsed.pollMs).toBe(500);
  });

  it('names what is wrong: no config block, an unclosed block, bad JSON, a bad field', () => {
    const userData = renderGatewayUserData(config);
    const lines = userData.split('\n');
    const jsonStart = lines.indexOf('{');

    const missing = parseError('#!/bin/bash\necho hello\n');
    const unclosed = parseError(lines.filter((line) => line !== 'HOMEBOUND_GATEWAY_CONFIG_END').join('\n'));
    const badJson = parseError(lines.toSpliced(jsonStart + 1, 0, '  oops,').join('\n'));
    const badKey = parseError(userData.replace('"db-data"', '"db data/1"'));
    const duplicate = parseError(userData.replace('"db-data"', '"db-root"'));

    expect(missing).toBeInstanceOf(InvalidInputError);
    expect((missing as Error).message).toMatch(/no gateway config block/);
    expect(hasGatewayConfig('#!/bin/bash\necho hello\n')).toBe(false);
    expect((unclosed as Error).message).toMatch(/not closed/);
    expect(badJson).toBeInstanceOf(InvalidInputError);
    expect((badJson as Error).message).toMatch(/not valid JSON/);
    expect(badKey).toBeInstanceOf(InvalidInputError);
    expect((badKey as Error).message).toMatch(/volumes\.1\.volumeKey: not a valid volume key/);
    expect((duplicate as Error).message).toMatch(/volumes\.1\.volumeKey: duplicate db-root/);
  });

  it('refuses to render a config the gateway would refuse', () => {
    const bad = { ...config, volumes: [] };

    expect(() => renderGatewayUserData(bad)).toThrow(/volumes/);
    expect(() => renderGatewayUserData(config, { artifact: { ...artifact, uri: "s3://b/x'; rm -rf /" } })).toThrow(
      InvalidInputError,
    );
    expect(() => renderGatewayUserData(config, { artifact: { ...artifact, sha256: 'abc' } })).toThrow(
      /artifact sha256/,
    );
  });
});
