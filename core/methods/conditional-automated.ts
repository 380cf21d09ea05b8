import { z } from 'zod';
import { sharedRequestFields } from '../failback/request-fields.js';
import type { FailbackMethod } from './method.js';

/**
 * Where the failback VMs go on vSphere. Every field defaults to the agent's config (the agent knows its site; a
 * request names a placement only to override it for one run).
 */
export const VspherePlacement = z.strictObject({
  datacenter: z.string().min(1),
  cluster: z.string().min(1),
  resourcePool: z.string().min(1).optional(),
  datastore: z.string().min(1),
  /** The port group the VMs' NIC joins. */
  network: z.string().min(1),
  folder: z.string().min(1).optional(),
});
export type VspherePlacement = z.infer<typeof VspherePlacement>;

/**
 * The S3-compatible store the passes are staged in and the agent reads from (an on-prem store AWS can reach over
 * HTTPS, or the stack's bucket when absent). An on-prem store is not IAM: its keys are in Secrets Manager.
 */
export const OnPremStaging = z.strictObject({
  bucket: z.string().min(3).max(63),
  /** The store's URL, e.g. https://s3.dc1.example:9000. @default AWS S3 */
  endpoint: z.string().url().optional(),
  /** Path-style addressing (most on-prem stores need it). @default true with `endpoint` */
  forcePathStyle: z.boolean().optional(),
  /** A Secrets Manager secret holding `{ "accessKeyId", "secretAccessKey" }` for the store. */
  credentialsSecretArn: z.string().startsWith('arn:').optional(),
});
export type OnPremStaging = z.infer<typeof OnPremStaging>;

/**
 * How the state machine judges the agent's liveness: its data heartbeat (heartbeat.json, read by CheckApplied) and
 * the Activity Tasks' HeartbeatSeconds (an agent silent for `unavailableAfterSeconds` is gone: the task fails with
 * States.HeartbeatTimeout, is retried for a restarted agent, then rolls back as AgentUnavailable).
 */
export const AgentLiveness = z
  .strictObject({
    /** How often the agent writes the run's heartbeat into staging. @default 15 */
    heartbeatSeconds: z.number().int().min(1).max(60).default(15),
    /** A silent agent is unavailable after this long. @default 300 */
    unavailableAfterSeconds: z.number().int().min(2).max(3600).default(300),
    /** How long PrepareOnPremTarget may take (disks and VMs are created there). @default 1800 */
    prepareTimeoutSeconds: z.number().int().min(10).max(86_400).default(1800),
    /**
     * How long each later agent operation (verification boot, cutover, verify, rollback) may take, counted from when
     * it is scheduled: an agent that is gone never takes the task, and only this ends the wait. @default 900
     */
    operationTimeoutSeconds: z.number().int().min(10).max(86_400).default(900),
  })
  .refine((agent) => agent.unavailableAfterSeconds > agent.heartbeatSeconds, {
    message: 'unavailableAfterSeconds must be longer than heartbeatSeconds',
    path: ['unavailableAfterSeconds'],
  });
export type AgentLiveness = z.infer<typeof AgentLiveness>;
export const DEFAULT_AGENT_LIVENESS: AgentLiveness = {
  heartbeatSeconds: 15,
  unavailableAfterSeconds: 300,
  prepareTimeoutSeconds: 1800,
  operationTimeoutSeconds: 900,
};

/** The conditional-automated method's request: an on-prem target reached through an agent and S3-compatible staging. */
export const ConditionalAutomatedFailbackRequest = z.strictObject({
  method: z.literal('conditional-automated'),
  ...sharedRequestFields,
  target: z
    .strictObject({
      /** `vsphere`: the agent creates VMs through vCenter; `manual`: the operator prepared hosts and disks. */
      platform: z.enum(['vsphere', 'manual']),
      placement: VspherePlacement.optional(),
      staging: OnPremStaging.optional(),
    })
    .refine((target) => target.platform === 'vsphere' || target.placement === undefined, {
      message: 'placement applies to the vsphere platform only',
      path: ['placement'],
    }),
  agent: AgentLiveness.default(DEFAULT_AGENT_LIVENESS),
});
export type ConditionalAutomatedFailbackRequest = z.infer<typeof ConditionalAutomatedFailbackRequest>;

/**
 * The conditional-automated method: failback to an on-prem site (vSphere or operator-prepared hosts) that AWS cannot
 * reach, through an S3-compatible staging store and the on-prem agent, which answers the `homebound-agent` Activity
 * (statemachines/conditional-automated-failback.asl.json; docs/agent.md). The data path's steps are the automated
 * method's; the on-prem steps are Activity Tasks, so only the Lambda tasks are listed here.
 */
export const conditionalAutomatedMethod = {
  name: 'conditional-automated',
  description: 'failback to an on-prem site (vSphere or manual) through S3-compatible staging and the on-prem agent',
  aslFile: 'statemachines/conditional-automated-failback.asl.json',
  tasks: [
    'ValidateRequest',
    'PlanOnPremRun',
    'SnapshotVolumes',
    'CheckSnapshots',
    'StreamPass',
    'CheckApplied',
    'RecordPass',
    'SetHostPower',
    'CheckHosts',
    'RequestApproval',
    'VerifyDecision',
    'RetireTakeoverHosts',
    'Rollback',
    'CleanUp',
    'Report',
  ],
  request: ConditionalAutomatedFailbackRequest,
  stateMachineArnOutput: 'ConditionalAutomatedFailbackStateMachineArn',
  constructId: 'ConditionalAutomatedFailback',
} as const satisfies FailbackMethod<'conditional-automated'>;

/** The ASL placeholder of the agent's Activity (given to CDK as `otherSubstitutions`, locally to `activities`). */
export const AGENT_ACTIVITY_PLACEHOLDER = 'AgentActivityArn';
