import {
  DescribeInstancesCommand,
  DescribeInstanceTypesCommand,
  EC2Client,
  EC2ServiceException,
} from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { AwsCompute } from '../../core/compute/aws-compute.js';
import { UnknownInstanceTypeError } from '../../core/compute/errors.js';
import { localInstanceType } from '../../core/compute/instance-types.js';

const ec2Mock = mockClient(EC2Client);
afterEach(() => {
  ec2Mock.reset();
});

function compute(): AwsCompute {
  return new AwsCompute(new EC2Client({ region: 'eu-west-1' }), {
    instanceArnPrefix: 'arn:aws:ec2:eu-west-1:111122223333:instance/',
    availabilityZone: 'eu-west-1a',
    launch: { imageId: 'ami-0123456789abcdef0', instanceType: 'm7i.large', subnetId: 'subnet-1' },
  });
}

describe('instance type sizes (an on-prem failback VM gets its takeover host’s vCPUs and memory)', () => {
  it('AwsCompute reads them with DescribeInstanceTypes and a host’s type with DescribeInstances', async () => {
    ec2Mock.on(DescribeInstanceTypesCommand, { InstanceTypes: ['r6i.xlarge'] }).resolves({
      InstanceTypes: [{ InstanceType: 'r6i.xlarge', VCpuInfo: { DefaultVCpus: 4 }, MemoryInfo: { SizeInMiB: 32_768 } }],
    });
    ec2Mock.on(DescribeInstancesCommand).resolves({
      Reservations: [{ Instances: [{ InstanceId: 'i-1', InstanceType: 'r6i.xlarge', State: { Name: 'running' } }] }],
    });

    expect(await compute().describeInstanceType('r6i.xlarge')).toEqual({
      instanceType: 'r6i.xlarge',
      vCpus: 4,
      memoryMiB: 32_768,
    });
    const [host] = await compute().describeHosts({ hostIds: ['i-1'] });
    expect(host?.instanceType).toBe('r6i.xlarge');
  });

  it('names an unknown type with UnknownInstanceTypeError, from EC2 and from the local table', async () => {
    ec2Mock.on(DescribeInstanceTypesCommand).rejects(
      new EC2ServiceException({
        name: 'InvalidInstanceType',
        message: 'The following supplied instance types do not exist: [x9.huge]',
        $fault: 'client',
        $metadata: { httpStatusCode: 400 },
      }),
    );
    await expect(compute().describeInstanceType('x9.huge')).rejects.toBeInstanceOf(UnknownInstanceTypeError);
    ec2Mock.on(DescribeInstanceTypesCommand).resolves({ InstanceTypes: [] });
    await expect(compute().describeInstanceType('x9.huge')).rejects.toThrow('instance type x9.huge is not known');
    expect(() => localInstanceType('x9.huge')).toThrow(UnknownInstanceTypeError);
    expect(localInstanceType('m5.large')).toEqual({ instanceType: 'm5.large', vCpus: 2, memoryMiB: 8192 });
  });
});
