import type { NetworkRef } from './inventory.js';
import { type MoRef, moRefElement, textElement, typedElement } from './xml.js';

/**
 * XML templates for VirtualMachineConfigSpec and its device changes, fields in WSDL order (see xml.ts).
 * Temporary device keys are negative, as vSphere asks of new devices; the server assigns the real ones.
 */

export type DiskMode = 'persistent' | 'independent_persistent' | 'independent_nonpersistent' | 'nonpersistent';
export type ScsiControllerType = 'pvscsi' | 'lsilogic-sas' | 'lsilogic';

/** An existing disk file to attach, in the order the guest should see it (the boot disk first). */
export interface AttachDisk {
  readonly fileName: string;
  readonly datastore: MoRef;
  readonly mode?: DiskMode;
}

export interface VmCreateSpec {
  readonly name: string;
  /** `[datastore]`: where the VM's own files (.vmx, logs) go; vSphere makes a folder named after the VM. */
  readonly vmPathName: string;
  readonly guestId: string;
  readonly numCpus: number;
  readonly memoryMiB: number;
  readonly annotation?: string;
  readonly controller?: ScsiControllerType;
  readonly disks: readonly AttachDisk[];
  readonly network?: NetworkRef;
}

/** A disk as read back from `config.hardware.device`, enough to write an edit of it. */
export interface DiskDevice {
  readonly key: number;
  readonly label: string;
  readonly controllerKey: number;
  readonly unitNumber: number;
  readonly capacityKiB: number;
  readonly fileName: string;
  readonly datastore: MoRef | undefined;
  readonly diskMode: string;
  readonly thinProvisioned: boolean;
}

/** One SCSI controller holds units 0–15 but 7 is the controller's own. */
export const MAX_DISKS_PER_CONTROLLER = 15;
const CONTROLLER_KEY = -100;
const NIC_KEY = -200;

const CONTROLLER_TYPES: Record<ScsiControllerType, string> = {
  pvscsi: 'ParaVirtualSCSIController',
  'lsilogic-sas': 'VirtualLsiLogicSASController',
  lsilogic: 'VirtualLsiLogicController',
};

/** The unit number of the n-th disk on a controller (skipping unit 7). */
export function unitNumberOf(index: number): number {
  return index < 7 ? index : index + 1;
}

/** The `<config>` of CreateVM_Task: CPUs, memory, one SCSI controller, the disks in order, one NIC. */
export function createVmConfig(spec: VmCreateSpec): string {
  if (spec.disks.length > MAX_DISKS_PER_CONTROLLER) {
    throw new RangeError(
      `a VM gets one SCSI controller here: at most ${MAX_DISKS_PER_CONTROLLER} disks, not ${spec.disks.length}`,
    );
  }
  const controller = addDevice(
    typedElement(
      'device',
      CONTROLLER_TYPES[spec.controller ?? 'pvscsi'],
      textElement('key', CONTROLLER_KEY) + textElement('busNumber', 0) + textElement('sharedBus', 'noSharing'),
    ),
  );
  const disks = spec.disks.map((disk, index) =>
    addDevice(
      diskDevice({
        key: -1 - index,
        controllerKey: CONTROLLER_KEY,
        unitNumber: unitNumberOf(index),
        // vSphere reads an existing disk's size from its descriptor.
        capacityKiB: 0,
        fileName: disk.fileName,
        datastore: disk.datastore,
        diskMode: disk.mode ?? 'persistent',
        thinProvisioned: true,
      }),
    ),
  );
  const nic = spec.network === undefined ? '' : addDevice(nicDevice(spec.network));
  return (
    '<config>' +
    textElement('name', spec.name) +
    textElement('guestId', spec.guestId) +
    (spec.annotation === undefined ? '' : textElement('annotation', spec.annotation)) +
    `<files>${textElement('vmPathName', spec.vmPathName)}</files>` +
    textElement('numCPUs', spec.numCpus) +
    textElement('memoryMB', spec.memoryMiB) +
    controller +
    disks.join('') +
    nic +
    '</config>'
  );
}

/** The `<spec>` of ReconfigVM_Task that changes one disk's mode and nothing else. */
export function diskModeChange(disk: DiskDevice, mode: DiskMode): string {
  return `<spec><deviceChange>${textElement('operation', 'edit')}${diskDevice({ ...disk, diskMode: mode })}</deviceChange></spec>`;
}

/** The `<spec>` of ReconfigVM_Task that replaces the VM's annotation (its Notes) and nothing else. */
export function annotationChange(annotation: string): string {
  return `<spec>${textElement('annotation', annotation)}</spec>`;
}

/**
 * The `<spec>` of ReconfigVM_Task that detaches one disk. No fileOperation: the files stay (`destroy` would delete
 * them).
 */
export function diskRemoval(disk: DiskDevice): string {
  return `<spec><deviceChange>${textElement('operation', 'remove')}${diskDevice(disk)}</deviceChange></spec>`;
}

function addDevice(device: string): string {
  return `<deviceChange>${textElement('operation', 'add')}${device}</deviceChange>`;
}

function diskDevice(disk: Omit<DiskDevice, 'label'> & { label?: string }): string {
  const backing = typedElement(
    'backing',
    'VirtualDiskFlatVer2BackingInfo',
    textElement('fileName', disk.fileName) +
      (disk.datastore === undefined ? '' : moRefElement('datastore', disk.datastore)) +
      textElement('diskMode', disk.diskMode) +
      textElement('thinProvisioned', disk.thinProvisioned),
  );
  // deviceInfo is optional in vim25, but an edit without it crashes vcsim (it clears deviceInfo.summary).
  const deviceInfo =
    disk.label === undefined
      ? ''
      : `<deviceInfo>${textElement('label', disk.label)}${textElement('summary', disk.fileName)}</deviceInfo>`;
  return typedElement(
    'device',
    'VirtualDisk',
    textElement('key', disk.key) +
      deviceInfo +
      backing +
      textElement('controllerKey', disk.controllerKey) +
      textElement('unitNumber', disk.unitNumber) +
      textElement('capacityInKB', disk.capacityKiB),
  );
}

function nicDevice(network: NetworkRef): string {
  const backing =
    network.kind === 'standard'
      ? typedElement(
          'backing',
          'VirtualEthernetCardNetworkBackingInfo',
          textElement('deviceName', network.name) + moRefElement('network', network.ref),
        )
      : typedElement(
          'backing',
          'VirtualEthernetCardDistributedVirtualPortBackingInfo',
          `<port>${textElement('switchUuid', network.switchUuid)}${textElement('portgroupKey', network.portgroupKey)}</port>`,
        );
  return typedElement(
    'device',
    'VirtualVmxnet3',
    textElement('key', NIC_KEY) +
      backing +
      '<connectable>' +
      textElement('startConnected', true) +
      textElement('allowGuestControl', true) +
      textElement('connected', false) +
      '</connectable>' +
      textElement('addressType', 'generated'),
  );
}
