import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VsphereClient } from '../../core/vsphere/client.js';
import { VsphereUnavailableError } from '../../core/vsphere/errors.js';
import { findDatacenter } from '../../core/vsphere/inventory.js';
import { TEST_TEMP_ROOT_ENV } from '../support/temp-root.js';
import { startVcsim, VCSIM_START_TIMEOUT_MS, type Vcsim } from '../support/vcsim.js';

let vcsim: Vcsim;

beforeAll(async () => {
  vcsim = await startVcsim({
    dir: mkdtempSync(join(process.env[TEST_TEMP_ROOT_ENV] ?? tmpdir(), 'vcsim-tls-')),
    tls: true,
  });
}, VCSIM_START_TIMEOUT_MS);

afterAll(async () => {
  await vcsim?.stop();
});

describe('vSphere client › HTTPS', () => {
  it('trusts a self-signed vCenter certificate given as the CA and keeps its session over TLS', async () => {
    expect(vcsim.url.startsWith('https://')).toBe(true);
    const client = await VsphereClient.connect(
      { url: vcsim.url, ca: vcsim.certificate },
      { username: vcsim.username, password: vcsim.password },
    );
    await expect(findDatacenter(client, 'DC0')).resolves.toMatchObject({ type: 'Datacenter' });
    await client.logout();
  });

  it('refuses the same certificate when it is not trusted (VsphereUnavailableError), and accepts it with insecure', async () => {
    const credentials = { username: vcsim.username, password: vcsim.password };
    const refused = await VsphereClient.connect({ url: vcsim.url }, credentials).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(VsphereUnavailableError);
    expect(String((refused as Error).message)).toMatch(/certificate/i);
    const insecure = await VsphereClient.connect({ url: vcsim.url, insecure: true }, credentials);
    await expect(findDatacenter(insecure, 'DC0')).resolves.toMatchObject({ type: 'Datacenter' });
    await insecure.logout();
  });
});
