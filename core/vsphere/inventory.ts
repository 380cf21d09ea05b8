import type { VsphereClient } from './client.js';
import {
  DatacenterNotFoundError,
  DatastoreNotFoundError,
  NetworkNotFoundError,
  ResourcePoolNotFoundError,
  VmFolderNotFoundError,
  VmNotFoundError,
  type VsphereObjectNotFoundError,
} from './errors.js';
import { type MoRef, textElement } from './xml.js';

/**
 * Finds inventory objects by name with SearchIndex.FindByInventoryPath: one call per lookup, no view to create and
 * destroy. Names are paths relative to the datacenter's folder of their kind: `LocalDS_0`, or `gold/LocalDS_0` for a
 * datastore in folder `gold`. A `/` inside a name is written `%2f` (vSphere's own escape), a `%` as `%25`.
 */

/** A network a NIC can be backed by: a standard port group or a distributed one (which needs its switch's UUID). */
export type NetworkRef =
  | { readonly kind: 'standard'; readonly ref: MoRef; readonly name: string }
  | {
      readonly kind: 'distributed';
      readonly ref: MoRef;
      readonly name: string;
      readonly portgroupKey: string;
      readonly switchUuid: string;
    };

/**
 * A cluster or standalone host (`compute`, as named under the datacenter's host folder) with optionally a child pool
 * path below its root pool `Resources`; or a pool's whole path below the host folder (`DC0_C0/Resources/gold`).
 */
export type ResourcePoolLocation = { readonly compute: string; readonly pool?: string } | { readonly path: string };

/** @throws DatacenterNotFoundError */
export async function findDatacenter(client: VsphereClient, datacenter: string): Promise<MoRef> {
  return find(client, datacenter, 'Datacenter', new DatacenterNotFoundError(datacenter));
}

/** @throws DatacenterNotFoundError, DatastoreNotFoundError */
export async function findDatastore(client: VsphereClient, datacenter: string, name: string): Promise<MoRef> {
  await findDatacenter(client, datacenter);
  return find(
    client,
    `${datacenter}/datastore/${name}`,
    'Datastore',
    new DatastoreNotFoundError(`${datacenter}/${name}`),
  );
}

/** @throws DatacenterNotFoundError, NetworkNotFoundError */
export async function findNetwork(client: VsphereClient, datacenter: string, name: string): Promise<NetworkRef> {
  await findDatacenter(client, datacenter);
  const error = new NetworkNotFoundError(`${datacenter}/${name}`);
  const ref = await find(client, `${datacenter}/network/${name}`, ['Network', 'DistributedVirtualPortgroup'], error);
  if (ref.type === 'Network') return { kind: 'standard', ref, name };
  const props = await client.properties(ref, ['key', 'config.distributedVirtualSwitch']);
  const portgroupKey = props.get('key')?.text();
  const dvs = props.get('config.distributedVirtualSwitch')?.moRef();
  const switchUuid = dvs === undefined ? undefined : (await client.property(dvs, 'uuid'))?.text();
  if (portgroupKey === undefined || switchUuid === undefined) throw error;
  return { kind: 'distributed', ref, name, portgroupKey, switchUuid };
}

/** The root pool of a cluster or standalone host, or a child pool of it. @throws DatacenterNotFoundError, ResourcePoolNotFoundError */
export async function findResourcePool(
  client: VsphereClient,
  datacenter: string,
  location: ResourcePoolLocation,
): Promise<MoRef> {
  await findDatacenter(client, datacenter);
  if ('path' in location) {
    const path = `${datacenter}/host/${location.path}`;
    return find(client, path, ['ResourcePool', 'VirtualApp'], new ResourcePoolNotFoundError(path));
  }
  const computePath = `${datacenter}/host/${location.compute}`;
  const error = new ResourcePoolNotFoundError(
    location.pool === undefined ? computePath : `${computePath}/Resources/${location.pool}`,
  );
  const compute = await find(client, computePath, ['ClusterComputeResource', 'ComputeResource'], error);
  if (location.pool === undefined) {
    const root = await client.property(compute, 'resourcePool');
    if (root === undefined) throw error;
    return root.moRef();
  }
  return find(client, `${computePath}/Resources/${location.pool}`, ['ResourcePool', 'VirtualApp'], error);
}

/** The datacenter's VM folder, or a folder path below it. @throws DatacenterNotFoundError, VmFolderNotFoundError */
export async function findVmFolder(client: VsphereClient, datacenter: string, folder?: string): Promise<MoRef> {
  await findDatacenter(client, datacenter);
  const path = folder === undefined || folder === '' ? `${datacenter}/vm` : `${datacenter}/vm/${folder}`;
  return find(client, path, 'Folder', new VmFolderNotFoundError(path));
}

/** A VM by name inside a VM folder. @throws DatacenterNotFoundError, VmNotFoundError */
export async function findVm(client: VsphereClient, datacenter: string, name: string, folder?: string): Promise<MoRef> {
  await findDatacenter(client, datacenter);
  const path =
    folder === undefined || folder === '' ? `${datacenter}/vm/${name}` : `${datacenter}/vm/${folder}/${name}`;
  return find(client, path, 'VirtualMachine', new VmNotFoundError(path));
}

/** Like findVm, but undefined when there is no such VM (for create-or-reuse). */
export async function findVmIfExists(
  client: VsphereClient,
  datacenter: string,
  name: string,
  folder?: string,
): Promise<MoRef | undefined> {
  try {
    return await findVm(client, datacenter, name, folder);
  } catch (error) {
    if (error instanceof VmNotFoundError) return undefined;
    throw error;
  }
}

async function find(
  client: VsphereClient,
  inventoryPath: string,
  types: string | readonly string[],
  notFound: VsphereObjectNotFoundError,
): Promise<MoRef> {
  const response = await client.invoke(
    'FindByInventoryPath',
    client.content.searchIndex,
    textElement('inventoryPath', inventoryPath),
  );
  const found = response.child('returnval')?.moRef();
  // A path can name an object of another kind (a folder where a datastore was asked for): that is not found too.
  if (found === undefined || !(typeof types === 'string' ? [types] : types).includes(found.type)) throw notFound;
  return found;
}

/** The VMs directly inside a VM folder (Folder.childEntity; subfolders and vApps are not descended into). */
export async function listFolderVms(client: VsphereClient, folder: MoRef): Promise<MoRef[]> {
  const children = await client.property(folder, 'childEntity');
  return (children?.children('ManagedObjectReference') ?? [])
    .map((child) => child.moRef())
    .filter((ref) => ref.type === 'VirtualMachine');
}
