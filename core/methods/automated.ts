import { z } from 'zod';
import { MAX_VOLUMES_PER_GATEWAY } from '../failback/gateway-devices.js';
import { AwsFailbackSettings, hostList, NetworkSettings } from '../failback/host-settings.js';
import { sharedRequestFields } from '../failback/request-fields.js';
import type { FailbackMethod } from './method.js';

/** The automated method's request: a cloud (AWS) target the failback hosts are launched in. */
export const AutomatedFailbackRequest = z.strictObject({
  method: z.literal('automated'),
  ...sharedRequestFields,
  /** Takeover hosts to move home: ids (e.g. "i-0abc…") or `{ id, wave?, failback? }` with AWS launch settings. */
  hosts: hostList(AwsFailbackSettings, { allowSsm: true }),
  target: z.strictObject({
    platform: z.literal('aws'),
    /** The Region the failback hosts run in (the deployment's image; type, subnet, … per host or the defaults). */
    region: z.string().min(1),
    /**
     * The most target volumes one sync gateway holds; a run launches as many gateways as its volumes need
     * (docs/sync-gateway.md). At most 21, the device names /dev/sdf–/dev/sdz one gateway attaches. @default 21
     */
    volumesPerGateway: z
      .number()
      .int()
      .min(1)
      .max(
        MAX_VOLUMES_PER_GATEWAY,
        `at most ${MAX_VOLUMES_PER_GATEWAY}: one sync gateway attaches its volumes at /dev/sdf–/dev/sdz`,
      )
      .default(MAX_VOLUMES_PER_GATEWAY),
    /**
     * Lets PrepareTarget stop the instance a seed volume (`hosts[i].failback.seed`) is attached to and detach it; a
     * seed attached to a running instance is refused without it. @default false
     */
    powerOffSeed: z.boolean().default(false),
  }),
  /** The address remap applied to kept private addresses. @default no remap */
  network: NetworkSettings.optional(),
});
export type AutomatedFailbackRequest = z.infer<typeof AutomatedFailbackRequest>;

/**
 * The automated method: failback to cloud hosts through sync gateways (statemachines/automated-failback.asl.json).
 * Every task of the table is its own: it was the only method when the table was written.
 */
export const automatedMethod = {
  name: 'automated',
  description: 'failback to cloud (AWS) hosts through sync gateways',
  aslFile: 'statemachines/automated-failback.asl.json',
  tasks: [
    'ValidateRequest',
    'PrepareTarget',
    'SnapshotVolumes',
    'CheckSnapshots',
    'StreamPass',
    'CheckApplied',
    'RecordPass',
    'LaunchFailbackHosts',
    'SetHostPower',
    'CheckHosts',
    'RequestApproval',
    'VerifyDecision',
    'Cutover',
    'CheckHostHealth',
    'VerifyFailback',
    'RetireTakeoverHosts',
    'Rollback',
    'CleanUp',
    'Report',
  ],
  request: AutomatedFailbackRequest,
  stateMachineArnOutput: 'AutomatedFailbackStateMachineArn',
  constructId: 'AutomatedFailback',
} as const satisfies FailbackMethod<'automated'>;
