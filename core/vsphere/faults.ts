import { VsphereFaultError, VsphereFileAlreadyExistsError, VsphereInsufficientResourcesError } from './errors.js';
import type { XmlNode } from './xml.js';

/**
 * The vim25 type of a fault element: its `xsi:type` (`<InvalidLoginFault xsi:type="InvalidLogin">` in a SOAP fault's
 * detail, `<fault xsi:type="FileAlreadyExists">` in a task's error), else the element name less its `Fault` suffix.
 */
export function faultName(fault: XmlNode | undefined): string {
  if (fault === undefined) return 'SystemError';
  return fault.xsiType() ?? fault.name.replace(/Fault$/, '');
}

/**
 * Maps a vim25 fault to the client's named error. vim25 fault types form a hierarchy the wire does not show (only the
 * most derived type is sent), so the resource faults are matched by their documented names.
 */
export function faultToError(name: string, message: string): VsphereFaultError {
  if (name === 'FileAlreadyExists') return new VsphereFileAlreadyExistsError(name, message);
  if (INSUFFICIENT_RESOURCES.has(name)) return new VsphereInsufficientResourcesError(name, message);
  return new VsphereFaultError(name, message);
}

/** InsufficientResourcesFault and its subclasses in vim25 (vim25/types: `InsufficientResourcesFault` embedded). */
const INSUFFICIENT_RESOURCES = new Set([
  'InsufficientResourcesFault',
  'InsufficientAgentVmsDeployed',
  'InsufficientCpuResourcesFault',
  'InsufficientFailoverResourcesFault',
  'InsufficientGraphicsResourcesFault',
  'InsufficientHostCapacityFault',
  'InsufficientHostCpuCapacityFault',
  'InsufficientHostMemoryCapacityFault',
  'InsufficientMemoryResourcesFault',
  'InsufficientNetworkCapacity',
  'InsufficientNetworkResourcePoolCapacity',
  'InsufficientPerCpuCapacity',
  'InsufficientStandbyCpuResource',
  'InsufficientStandbyMemoryResource',
  'InsufficientStandbyResource',
  'InsufficientStorageIops',
  'InsufficientStorageSpace',
  'InsufficientVFlashResourcesFault',
  'InvalidResourcePoolStructureFault',
  'NumVirtualCpusExceedsLimit',
  'VmFaultToleranceTooManyFtVcpusOnHost',
  'VmFaultToleranceTooManyVMsOnHost',
  'VmSmpFaultToleranceTooManyVMsOnHost',
]);
