import { UnknownInstanceTypeError } from './errors.js';
import type { InstanceTypeInfo } from './port.js';

/**
 * The sizes of common EC2 instance types (EC2 DescribeInstanceTypes: VCpuInfo.DefaultVCpus, MemoryInfo.SizeInMiB),
 * for the local cloud, which has no DescribeInstanceTypes: drills and tests size on-prem failback VMs from it as
 * AwsCompute does from EC2.
 */
const SIZES: Readonly<Record<string, readonly [vCpus: number, memoryMiB: number]>> = {
  't3.micro': [2, 1024],
  't3.small': [2, 2048],
  't3.medium': [2, 4096],
  't3.large': [2, 8192],
  't3.xlarge': [4, 16_384],
  'm5.large': [2, 8192],
  'm5.xlarge': [4, 16_384],
  'm5.2xlarge': [8, 32_768],
  'c5.large': [2, 4096],
  'c5.xlarge': [4, 8192],
  'c5.2xlarge': [8, 16_384],
  'r5.large': [2, 16_384],
  'r5.xlarge': [4, 32_768],
};

/** The instance type a local takeover host has when its request names none. */
export const DEFAULT_LOCAL_INSTANCE_TYPE = 'm5.large';

/** @throws UnknownInstanceTypeError for a type the table lacks */
export function localInstanceType(instanceType: string): InstanceTypeInfo {
  const size = SIZES[instanceType];
  if (!size) throw new UnknownInstanceTypeError(instanceType);
  return { instanceType, vCpus: size[0], memoryMiB: size[1] };
}
