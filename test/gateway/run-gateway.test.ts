import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BLOCK_SIZE } from '../../core/blocks.js';
import { readJournal } from '../../core/engine/journal.js';
import { deriveRunKey, hasValidMac } from '../../core/engine/run-key.js';
import { hashSeed, readSeed, seedBaseId } from '../../core/engine/seed.js';
import { GatewayDeviceMissingError } from '../../core/gateway/errors.js';
import { HEARTBEAT_KEY, readHeartbeat } from '../../core/gateway/heartbeat.js';
import { awsNvmeDevicePath, type GatewayEvent, runGateway } from '../../core/gateway/run-gateway.js';
import { MemoryStaging } from '../support/memory-staging.js';
import { gatewayConfig } from './helpers.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hb-gw-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const config = gatewayConfig('runs/r/', [{ volumeKey: 'root', volumeId: 'vol-0aaa', sizeBytes: 1024 }]);

describe('runGateway', () => {
  it('fails with GatewayDeviceMissingError naming the volume and path when its device never appears', async () => {
    const events: GatewayEvent[] = [];

    const error = await runGateway(config, {
      staging: new MemoryStaging(),
      devicePath: (volumeId) => join(dir, volumeId),
      stateDir: join(dir, 'state'),
      signal: new AbortController().signal,
      deviceWaitMs: 300,
      onEvent: (event) => events.push(event),
    }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(GatewayDeviceMissingError);
    expect(error).toMatchObject({ volumeKey: 'root', volumeId: 'vol-0aaa', path: join(dir, 'vol-0aaa') });
    expect(events).toEqual([{ type: 'waiting-for-device', volumeKey: 'root', path: join(dir, 'vol-0aaa') }]);
  });

  it('stops cleanly when aborted while it waits for a device', async () => {
    const stop = new AbortController();
    const running = runGateway(config, {
      staging: new MemoryStaging(),
      devicePath: (volumeId) => join(dir, volumeId),
      stateDir: join(dir, 'state'),
      signal: stop.signal,
    });

    setTimeout(() => stop.abort(), 100);

    await expect(running).resolves.toBeUndefined();
  });

  it("writes its heartbeat at once and every interval, MAC'd with the run key, until it stops", async () => {
    const runKey = deriveRunKey('stack secret', 'r');
    const heartbeatStaging = new MemoryStaging();
    const events: GatewayEvent[] = [];
    const stop = new AbortController();
    const running = runGateway(
      { ...config, ackKey: runKey.toString('hex'), heartbeat: { intervalSeconds: 1 } },
      {
        staging: new MemoryStaging(),
        heartbeatStaging,
        devicePath: (volumeId) => join(dir, volumeId),
        stateDir: join(dir, 'state'),
        signal: stop.signal,
        onEvent: (event) => events.push(event),
      },
    );

    await new Promise((resolve) => setTimeout(resolve, 1500));
    stop.abort();
    await running;
    const beat = await readHeartbeat(heartbeatStaging);
    await new Promise((resolve) => setTimeout(resolve, 1200));

    expect(beat).toMatchObject({ runId: config.runId, sequence: 2 });
    expect(beat && hasValidMac(runKey, beat)).toBe(true);
    expect(beat && hasValidMac(deriveRunKey('stack secret', 'other-run'), beat)).toBe(false);
    // Stopped means stopped: no beat after the gateway returned.
    expect((await readHeartbeat(heartbeatStaging))?.sequence).toBe(2);
    expect(events).toContainEqual({
      type: 'heartbeat-started',
      where: `${heartbeatStaging.description}/${HEARTBEAT_KEY}`,
      intervalSeconds: 1,
    });
  });

  it('finds EBS volumes under their Nitro NVMe by-id name', () => {
    expect(awsNvmeDevicePath('vol-0123456789abcdef0')).toBe(
      '/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0123456789abcdef0',
    );
  });
});

describe('runGateway with a seeded target', () => {
  it('hashes the seed once, publishes it signed in its records, starts the journal at it, and never hashes again after a restart', async () => {
    const runKey = deriveRunKey('stack secret', 'r');
    const sizeBytes = 3 * BLOCK_SIZE + 100;
    const device = join(dir, 'vol-0aaa');
    await writeFile(device, randomBytes(sizeBytes));
    const seeded = {
      ...gatewayConfig('runs/r/', [{ volumeKey: 'root', volumeId: 'vol-0aaa', sizeBytes, seed: { id: 'vol-0seed' } }]),
      ackKey: runKey.toString('hex'),
    };
    const records = new MemoryStaging();
    const run = async () => {
      const events: GatewayEvent[] = [];
      const stop = new AbortController();
      const running = runGateway(seeded, {
        staging: new MemoryStaging(),
        recordStaging: records,
        devicePath: (volumeId) => join(dir, volumeId),
        stateDir: join(dir, 'state'),
        signal: stop.signal,
        onEvent: (event) => {
          events.push(event);
          if (event.type === 'device-ready') stop.abort();
        },
      });
      await running;
      return events.map((event) => event.type);
    };

    const first = await run();
    const { record, hashes } = await readSeed(records, 'root/seed.json', runKey);
    const second = await run();

    expect(first).toEqual(['hashing-seed', 'seed-published', 'device-ready']);
    expect(second).toEqual(['device-ready']);
    expect(record).toMatchObject({ volumeKey: 'root', seed: 'vol-0seed', seedSizeBytes: sizeBytes, blockCount: 4 });
    expect(hashes).toEqual(await hashSeed(device, sizeBytes));
    expect((await readJournal(join(dir, 'state', 'root')))?.snapshotId).toBe(seedBaseId(record));
  });
});
