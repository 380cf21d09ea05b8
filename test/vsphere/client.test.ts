import { existsSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VsphereClient } from '../../core/vsphere/client.js';
import { createThinDisk, makeDatastoreDirectory } from '../../core/vsphere/disks.js';
import {
  DatacenterNotFoundError,
  DatastoreNotFoundError,
  NetworkNotFoundError,
  ResourcePoolNotFoundError,
  VmFolderNotFoundError,
  VmNotFoundError,
  VsphereFaultError,
  VsphereFileAlreadyExistsError,
  VsphereLoginError,
  VsphereUnavailableError,
} from '../../core/vsphere/errors.js';
import {
  findDatacenter,
  findDatastore,
  findNetwork,
  findResourcePool,
  findVm,
  findVmFolder,
} from '../../core/vsphere/inventory.js';
import { TEST_TEMP_ROOT_ENV } from '../support/temp-root.js';
import { startVcsim, VCSIM_START_TIMEOUT_MS, type Vcsim } from '../support/vcsim.js';

let vcsim: Vcsim;
let client: VsphereClient;

beforeAll(async () => {
  vcsim = await startVcsim({ dir: mkdtempSync(join(process.env[TEST_TEMP_ROOT_ENV] ?? tmpdir(), 'vcsim-client-')) });
  client = await VsphereClient.connect({ url: vcsim.url }, { username: vcsim.username, password: vcsim.password });
}, VCSIM_START_TIMEOUT_MS);

afterAll(async () => {
  await client?.logout();
  await vcsim?.stop();
});

describe('vSphere client › login', () => {
  it('logs in, reads the service content of a vCenter and sends the session cookie afterwards', async () => {
    expect(client.content.apiType).toBe('VirtualCenter');
    // FindByInventoryPath needs a session: this answers only because the cookie from Login is sent back.
    await expect(findDatacenter(client, 'DC0')).resolves.toMatchObject({ type: 'Datacenter' });
  });

  it('refuses a wrong password with VsphereLoginError whose message does not hold the password', async () => {
    const password = 'Wrong-Pa55word&<x>';
    const error = await VsphereClient.connect({ url: vcsim.url }, { username: vcsim.username, password }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(VsphereLoginError);
    expect(String((error as Error).message)).toContain(vcsim.username);
    expect(String((error as Error).message)).not.toContain(password);
    expect(JSON.stringify(error)).not.toContain(password);
  });

  it('after logout the session is gone: the next call is NotAuthenticated', async () => {
    const other = await VsphereClient.connect(
      { url: vcsim.url },
      { username: vcsim.username, password: vcsim.password },
    );
    await other.logout();
    await expect(findDatacenter(other, 'DC0')).rejects.toMatchObject({ faultName: 'NotAuthenticated' });
  });

  it('logs in again, once, when vCenter ended the session (idle timeout): the call then succeeds', async () => {
    const other = await VsphereClient.connect(
      { url: vcsim.url },
      { username: vcsim.username, password: vcsim.password },
    );
    // End the session on the server while the client still holds its cookie.
    await other.transport.invoke('Logout', other.content.sessionManager);
    await expect(
      other.transport.invoke('FindByInventoryPath', other.content.searchIndex, '<inventoryPath>DC0</inventoryPath>'),
    ).rejects.toMatchObject({ faultName: 'NotAuthenticated' });
    await expect(findDatacenter(other, 'DC0')).resolves.toMatchObject({ type: 'Datacenter' });
    const shown = `${JSON.stringify(other)} ${inspect(other, { depth: 10 })}`;
    expect(shown).not.toContain(vcsim.password);
    expect(shown).not.toContain('vmware_soap_session');
    await other.logout();
  });

  it('names an endpoint that does not answer as VsphereUnavailableError (retryable)', async () => {
    const error = await VsphereClient.connect(
      { url: 'http://127.0.0.1:9/sdk', requestTimeoutMs: 2_000 },
      { username: 'u', password: 'p' },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VsphereUnavailableError);
    expect((error as VsphereUnavailableError).retryable).toBe(true);
  });

  it('refuses a URL that carries credentials (they would end up in messages)', async () => {
    await expect(
      VsphereClient.connect({ url: 'http://user:secret@127.0.0.1/sdk' }, { username: 'u', password: 'p' }),
    ).rejects.toThrow(/must not carry credentials/);
  });
});

describe('vSphere client › inventory by name', () => {
  it('finds the datacenter, datastore, port groups, pools and VM folder of the vcsim inventory', async () => {
    expect(await findDatacenter(client, 'DC0')).toMatchObject({ type: 'Datacenter' });
    expect(await findDatastore(client, 'DC0', 'LocalDS_0')).toMatchObject({ type: 'Datastore' });
    expect(await findNetwork(client, 'DC0', 'VM Network')).toMatchObject({ kind: 'standard', name: 'VM Network' });
    const distributed = await findNetwork(client, 'DC0', 'DC0_DVPG0');
    expect(distributed).toMatchObject({ kind: 'distributed', ref: { type: 'DistributedVirtualPortgroup' } });
    expect(distributed.kind === 'distributed' && distributed.switchUuid.length > 0).toBe(true);
    expect(await findResourcePool(client, 'DC0', { compute: 'DC0_C0' })).toMatchObject({ type: 'ResourcePool' });
    const root = await findResourcePool(client, 'DC0', { compute: 'DC0_H0' });
    expect(root).toMatchObject({ type: 'ResourcePool' });
    expect(await findResourcePool(client, 'DC0', { path: 'DC0_H0/Resources' })).toEqual(root);
    expect(await findVmFolder(client, 'DC0')).toMatchObject({ type: 'Folder' });
    expect(await findVm(client, 'DC0', 'DC0_H0_VM0')).toMatchObject({ type: 'VirtualMachine' });
  });

  it('throws the named error of each kind for an unknown name', async () => {
    await expect(findDatacenter(client, 'DC9')).rejects.toBeInstanceOf(DatacenterNotFoundError);
    await expect(findDatastore(client, 'DC9', 'LocalDS_0')).rejects.toBeInstanceOf(DatacenterNotFoundError);
    await expect(findDatastore(client, 'DC0', 'NoSuchDS')).rejects.toBeInstanceOf(DatastoreNotFoundError);
    await expect(findNetwork(client, 'DC0', 'No Such Net')).rejects.toBeInstanceOf(NetworkNotFoundError);
    await expect(findResourcePool(client, 'DC0', { compute: 'DC0_C9' })).rejects.toBeInstanceOf(
      ResourcePoolNotFoundError,
    );
    await expect(findResourcePool(client, 'DC0', { compute: 'DC0_C0', pool: 'nope' })).rejects.toBeInstanceOf(
      ResourcePoolNotFoundError,
    );
    await expect(findResourcePool(client, 'DC0', { path: 'DC0_C0/Resources/nope' })).rejects.toBeInstanceOf(
      ResourcePoolNotFoundError,
    );
    await expect(findVmFolder(client, 'DC0', 'no/such/folder')).rejects.toBeInstanceOf(VmFolderNotFoundError);
    await expect(findVm(client, 'DC0', 'no-such-vm')).rejects.toThrow(VmNotFoundError);
  });

  it('does not take an object of another kind for the one asked (a VM named where a VM folder is expected)', async () => {
    await expect(findVm(client, 'DC0', 'DC0_H0_VM0')).resolves.toMatchObject({ type: 'VirtualMachine' });
    await expect(findVmFolder(client, 'DC0', 'DC0_H0_VM0')).rejects.toBeInstanceOf(VmFolderNotFoundError);
  });
});

describe('vSphere client › disks', () => {
  it('creates a thin disk: descriptor and -flat.vmdk appear in the datastore directory; a second create is FileAlreadyExists', async () => {
    const dc = await findDatacenter(client, 'DC0');
    await makeDatastoreDirectory(client, dc, '[LocalDS_0] disks-test');
    await makeDatastoreDirectory(client, dc, '[LocalDS_0] disks-test'); // idempotent
    await createThinDisk(client, dc, '[LocalDS_0] disks-test/vol-1.vmdk', 64 * 1024);
    const dir = datastoreDir();
    expect(existsSync(join(dir, 'disks-test', 'vol-1.vmdk'))).toBe(true);
    expect(existsSync(join(dir, 'disks-test', 'vol-1-flat.vmdk'))).toBe(true);
    // A fact docs/vsphere.md relies on: vcsim records no capacity, its -flat.vmdk is empty. A real datastore shows a
    // thin disk's flat file at its full (sparse) size; the target sizes it through the mount (vsphere-target.ts).
    expect(statSync(join(dir, 'disks-test', 'vol-1-flat.vmdk')).size).toBe(0);
    const again = await createThinDisk(client, dc, '[LocalDS_0] disks-test/vol-1.vmdk', 64 * 1024).catch(
      (e: unknown) => e,
    );
    expect(again).toBeInstanceOf(VsphereFileAlreadyExistsError);
    expect((again as VsphereFaultError).faultName).toBe('FileAlreadyExists');
  });

  it('maps a failed task to a VsphereFaultError naming its fault (a disk in a directory that does not exist)', async () => {
    const dc = await findDatacenter(client, 'DC0');
    const error = await createThinDisk(client, dc, '[LocalDS_0] missing-dir/vol.vmdk', 1024).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VsphereFaultError);
    expect((error as VsphereFaultError).faultName).toBe('FileNotFound');
  });
});

function datastoreDir(): string {
  const ds = vcsim.datastores.find((d) => d.name === 'LocalDS_0');
  if (ds === undefined) throw new Error('vcsim has no LocalDS_0');
  return ds.dir;
}
