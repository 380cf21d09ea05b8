import { z } from 'zod';
import { hostList, VsphereFailbackSettings } from '../failback/host-settings.js';
import { sharedRequestFields } from '../failback/request-fields.js';
import type { FailbackMethod } from './method.js';

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
  /** Takeover hosts to move home: ids or `{ id, wave?, failback? }` with the VM's vSphere settings. */
  hosts: hostList(VsphereFailbackSettings, { allowSsm: false }),
  target: z.strictObject({
    /** `vsphere`: the agent creates VMs through vCenter; `manual`: the operator prepared hosts and disks. */
    platform: z.enum(['vsphere', 'manual']),
    /**
     * Whether the agent may power off a seed VM it finds running (an original VM may have come back up on its own);
     * without it a running seed VM fails the run before anything is written. @default false
     */
    powerOffSeed: z.boolean().default(false),
    // Where the VMs go is the agent's config (it knows its site), and which store the passes go to is the
    // deployment's (homebound:onPremStaging*): a request that could name either would ask for what this build does
    // not do, or send takeover data to a store of the sender's choice. Named here so the refusal says where they live.
    placement: z.undefined({ error: "is set in the agent's config (docs/agent.md), not in a request" }).optional(),
    staging: z
      .undefined({ error: 'is set by the deployment (homebound:onPremStaging*, docs/operations.md), not in a request' })
      .optional(),
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
