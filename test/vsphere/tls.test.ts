import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VsphereClient } from '../../core/vsphere/client.js';
import { VsphereCertificateMismatchError, VsphereUnavailableError } from '../../core/vsphere/errors.js';
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

  it('pins a certificate by its SHA-256 thumbprint (any case, colons optional) and refuses another one before sending', async () => {
    const credentials = { username: vcsim.username, password: vcsim.password };
    const fingerprint = new X509Certificate(certificate()).fingerprint256;
    const pinned = await VsphereClient.connect(
      { url: vcsim.url, thumbprint: fingerprint.replace(/:/g, '').toLowerCase() },
      credentials,
    );
    await expect(findDatacenter(pinned, 'DC0')).resolves.toMatchObject({ type: 'Datacenter' });
    await pinned.logout();

    const other = fingerprint.replace(/^../, fingerprint.startsWith('00') ? '11' : '00');
    const error = await VsphereClient.connect({ url: vcsim.url, thumbprint: other }, credentials).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(VsphereCertificateMismatchError);
    expect(error).toMatchObject({ expected: other, actual: fingerprint });
  });
});

describe('vSphere client › pinned certificate, wrong server', () => {
  it('sends not one byte (no cookie, no password) to a server whose certificate is not the pinned one', async () => {
    // A TLS server that counts the application bytes it receives; its key is made here (openssl comes with
    // ca-certificates on Debian).
    const dir = mkdtempSync(join(process.env[TEST_TEMP_ROOT_ENV] ?? tmpdir(), 'tls-impostor-'));
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
      ],
      { stdio: 'ignore' },
    );
    let received = 0;
    const server = createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (socket) => {
      socket.on('data', (chunk: Buffer) => {
        received += chunk.length;
      });
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const address = server.address();
      if (address === null || typeof address === 'string') throw new Error('no TCP address');
      const error = await VsphereClient.connect(
        { url: `https://127.0.0.1:${address.port}/sdk`, thumbprint: '00'.repeat(32) },
        { username: 'homebound', password: 'never-sent' },
      ).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(VsphereCertificateMismatchError);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(received).toBe(0);
    } finally {
      server.close();
    }
  });
});

function certificate(): string {
  if (vcsim.certificate === undefined) throw new Error('vcsim was not started with TLS');
  return vcsim.certificate;
}
