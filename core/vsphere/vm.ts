import type { VsphereClient, WaitOptions } from './client.js';
import { VmNotFoundError, VsphereFaultError, VsphereUnavailableError } from './errors.js';
import {
  annotationChange,
  createVmConfig,
  type DiskDevice,
  type DiskMode,
  diskModeChange,
  diskRemoval,
  type VmCreateSpec,
} from './vm-spec.js';
import { type MoRef, moRefElement, type XmlNode } from './xml.js';

export type PowerState = 'poweredOn' | 'poweredOff' | 'suspended';

export interface NicDevice {
  readonly key: number;
  readonly type: string;
  /** The port group's name (standard network) or key (distributed port group). */
  readonly network: string;
  readonly macAddress: string | undefined;
}

/** What the failback needs to know of a VM, read in one RetrievePropertiesEx. */
export interface VmState {
  readonly ref: MoRef;
  readonly name: string;
  readonly powerState: PowerState;
  /** `guestToolsRunning`, `guestToolsNotRunning`, `guestToolsExecutingScripts`; undefined before any guest info. */
  readonly toolsRunningStatus: string | undefined;
  /** `green` when the guest's heartbeat is healthy; `gray` when unknown (no tools). */
  readonly guestHeartbeatStatus: string | undefined;
  readonly numCpu: number;
  readonly memoryMiB: number;
  readonly annotation: string;
  /** The disks in the order the guest sees them: by controller bus number, then unit number. */
  readonly disks: readonly DiskDevice[];
  readonly nics: readonly NicDevice[];
}

export interface CreateVmTarget {
  readonly folder: MoRef;
  readonly pool: MoRef;
  /** Needed only for a pool whose cluster cannot place VMs itself (no DRS); vSphere picks otherwise. */
  readonly host?: MoRef;
}

const VM_PROPERTIES = [
  'name',
  'runtime.powerState',
  'guest.toolsRunningStatus',
  'guestHeartbeatStatus',
  'config.hardware',
  'config.annotation',
];

/**
 * Creates a VM with Folder.CreateVM_Task (powered off) and returns its reference.
 * @throws VsphereFileAlreadyExistsError (a VM folder of that name on the datastore), VsphereInsufficientResourcesError,
 *   VsphereFaultError (e.g. DuplicateName, FileNotFound for a disk that is not there).
 */
export async function createVm(
  client: VsphereClient,
  target: CreateVmTarget,
  spec: VmCreateSpec,
  wait?: WaitOptions,
): Promise<MoRef> {
  const body =
    createVmConfig(spec) +
    moRefElement('pool', target.pool) +
    (target.host === undefined ? '' : moRefElement('host', target.host));
  const result = await client.runTask('CreateVM_Task', target.folder, body, wait);
  if (result === undefined) throw new VsphereUnavailableError(`CreateVM_Task of ${spec.name} returned no VM`);
  return result.moRef();
}

/** @throws VmNotFoundError when the VM is gone. */
export async function readVm(client: VsphereClient, vm: MoRef): Promise<VmState> {
  let props: Map<string, XmlNode>;
  try {
    props = await client.properties(vm, VM_PROPERTIES);
  } catch (error) {
    if (error instanceof VsphereFaultError && error.faultName === 'ManagedObjectNotFound') {
      throw new VmNotFoundError(vm.value, { cause: error });
    }
    throw error;
  }
  const hardware = props.get('config.hardware');
  const devices = hardware?.children('device') ?? [];
  const busOf = new Map<number, number>();
  for (const device of devices) {
    const busNumber = device.childText('busNumber');
    if (busNumber !== undefined) busOf.set(int(device, 'key'), Number(busNumber));
  }
  const disks = devices
    .filter((device) => device.xsiType() === 'VirtualDisk')
    .map(readDisk)
    .sort(
      (a, b) =>
        (busOf.get(a.controllerKey) ?? 0) - (busOf.get(b.controllerKey) ?? 0) ||
        a.controllerKey - b.controllerKey ||
        a.unitNumber - b.unitNumber,
    );
  const nics = devices.filter((device) => device.child('addressType') !== undefined).map(readNic);
  const powerState = props.get('runtime.powerState')?.text();
  if (powerState !== 'poweredOn' && powerState !== 'poweredOff' && powerState !== 'suspended') {
    throw new VsphereUnavailableError(`VM ${vm.value} reports power state ${powerState ?? '(none)'}`);
  }
  return {
    ref: vm,
    name: props.get('name')?.text() ?? vm.value,
    powerState,
    toolsRunningStatus: nonEmpty(props.get('guest.toolsRunningStatus')?.text()),
    guestHeartbeatStatus: nonEmpty(props.get('guestHeartbeatStatus')?.text()),
    numCpu: hardware === undefined ? 0 : int(hardware, 'numCPU'),
    memoryMiB: hardware === undefined ? 0 : int(hardware, 'memoryMB'),
    annotation: props.get('config.annotation')?.text() ?? '',
    disks,
    nics,
  };
}

/** Changes one disk's mode (e.g. persistent ↔ independent_nonpersistent) with ReconfigVM_Task. */
export async function setDiskMode(
  client: VsphereClient,
  vm: MoRef,
  disk: DiskDevice,
  mode: DiskMode,
  wait?: WaitOptions,
): Promise<void> {
  await client.runTask('ReconfigVM_Task', vm, diskModeChange(disk, mode), wait);
}

/** Replaces the VM's annotation (Notes), e.g. with the run that now owns a reused failback VM. */
export async function setAnnotation(client: VsphereClient, vm: MoRef, annotation: string, wait?: WaitOptions) {
  await client.runTask('ReconfigVM_Task', vm, annotationChange(annotation), wait);
}

/** @throws VsphereFaultError `InvalidPowerState` when already on. */
export async function powerOn(client: VsphereClient, vm: MoRef, wait?: WaitOptions): Promise<void> {
  await client.runTask('PowerOnVM_Task', vm, '', wait);
}

/** A hard power off (no guest shutdown). @throws VsphereFaultError `InvalidPowerState` when already off. */
export async function powerOff(client: VsphereClient, vm: MoRef, wait?: WaitOptions): Promise<void> {
  await client.runTask('PowerOffVM_Task', vm, '', wait);
}

/**
 * Destroy_Task: unregisters the VM and deletes its files — every disk still attached to it included, on a real
 * vCenter. Detach disks that must survive first (see docs/vsphere.md).
 */
export async function destroyVm(client: VsphereClient, vm: MoRef, wait?: WaitOptions): Promise<void> {
  await client.runTask('Destroy_Task', vm, '', wait);
}

/** Detaches a disk from a VM without deleting its files (ReconfigVM_Task, remove, no file operation). */
export async function detachDisk(client: VsphereClient, vm: MoRef, disk: DiskDevice, wait?: WaitOptions) {
  await client.runTask('ReconfigVM_Task', vm, diskRemoval(disk), wait);
}

function readDisk(device: XmlNode): DiskDevice {
  const backing = device.child('backing');
  const capacityBytes = device.childText('capacityInBytes');
  return {
    key: int(device, 'key'),
    label: device.child('deviceInfo')?.childText('label') ?? '',
    controllerKey: int(device, 'controllerKey'),
    unitNumber: int(device, 'unitNumber'),
    capacityKiB:
      capacityBytes !== undefined && Number(capacityBytes) > 0
        ? Math.ceil(Number(capacityBytes) / 1024)
        : int(device, 'capacityInKB'),
    fileName: backing?.childText('fileName') ?? '',
    datastore: backing?.child('datastore')?.moRef(),
    diskMode: backing?.childText('diskMode') ?? '',
    thinProvisioned: backing?.childText('thinProvisioned') === 'true',
  };
}

function readNic(device: XmlNode): NicDevice {
  const backing = device.child('backing');
  return {
    key: int(device, 'key'),
    type: device.xsiType() ?? device.name,
    network: backing?.childText('deviceName') ?? backing?.child('port')?.childText('portgroupKey') ?? '',
    macAddress: nonEmpty(device.childText('macAddress')),
  };
}

/** A required integer field; a missing or malformed one means the response is not what vim25 documents. */
function int(node: XmlNode, name: string): number {
  const text = node.childText(name);
  const value = text === undefined ? Number.NaN : Number(text);
  if (!Number.isSafeInteger(value)) {
    throw new VsphereUnavailableError(`<${node.name}> has no integer ${name} (got ${text ?? 'nothing'})`);
  }
  return value;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
