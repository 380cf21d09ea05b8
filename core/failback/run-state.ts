import { z } from 'zod';
import type { ComputePort } from '../compute/port.js';
import type { GatewayArtifactLocation } from '../gateway/config.js';
import { gatewayScopePrefix, gatewaysPrefix } from '../gateway/scope.js';
import { HealthCheck } from '../health/checks.js';
import type { HostHealthChecker } from '../health/runner.js';
import type { BlockSource, Staging } from '../ports.js';
import { FirstPass, TargetBase } from './kept-target.js';
import type { FailbackMetrics } from './metrics.js';
import { FailbackRequest } from './request.js';
import type { StreamSplitSettings } from './stream-split.js';
import type { TakeoverTag } from './takeover-tag.js';

/**
 * The shapes that travel between the states of the automated failback state machine. Every handler parses its
 * input with these, so a state machine edit that breaks a shape fails loudly at the first task, not later.
 * Payloads stay small: block lists, manifests and pass records live in staging.
 */

export const RunId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,79}$/, 'letters, digits, - and _ (≤ 80)');

/**
 * The disk a takeover volume's target starts from (the request's `hosts[i].failback.seed`, checked by ValidateRequest):
 * an EBS volume that becomes the target, or a snapshot a target is created from. `field` names it in the request.
 */
export const VolumeSeed = z.object({
  volumeId: z.string().optional(),
  snapshotId: z.string().optional(),
  field: z.string(),
  /** The request's `target.powerOffSeed`: PrepareTarget may stop the instance the seed volume is attached to. */
  powerOff: z.boolean(),
});
export type VolumeSeed = z.infer<typeof VolumeSeed>;

/** A takeover volume and where it sits. `volumeKey` names it in staging. */
export const RunVolume = z.object({
  hostId: z.string(),
  volumeId: z.string(),
  device: z.string(),
  sizeBytes: z.number().int().positive(),
  volumeKey: z.string(),
  /** Its seed, when the request gives one (a seeded first pass). */
  seed: VolumeSeed.optional(),
});
export type RunVolume = z.infer<typeof RunVolume>;

/**
 * What a failback EC2 instance is launched with, resolved by ValidateRequest from the request, the takeover host and
 * the deployment (core/failback/resolve-hosts.ts). An absent subnet or group list: the compute adapter's launch
 * settings; an absent address: the subnet assigns one.
 */
export const AwsHostSettings = z.object({
  platform: z.literal('aws'),
  instanceType: z.string(),
  subnetId: z.string().optional(),
  securityGroupIds: z.array(z.string()).optional(),
  privateIp: z.string().optional(),
  tags: z.record(z.string(), z.string()),
});
export type AwsHostSettings = z.infer<typeof AwsHostSettings>;

/** What the request says of a failback VM, handed to the agent's PrepareTarget (absent: the agent's defaults). */
export const VsphereHostSettings = z.object({
  platform: z.literal('vsphere'),
  /** The seed VM (request `hosts[].failback.seed.vm`) and whether it may be powered off (`target.powerOffSeed`). */
  seed: z.object({ vm: z.string(), powerOff: z.boolean() }).optional(),
  vmName: z.string().optional(),
  folder: z.string().optional(),
  resourcePool: z.string().optional(),
  datastore: z.string().optional(),
  portGroup: z.string().optional(),
  numCPUs: z.number().int().positive().optional(),
  memoryMiB: z.number().int().positive().optional(),
});
export type VsphereHostSettings = z.infer<typeof VsphereHostSettings>;

export const HostSettings = z.discriminatedUnion('platform', [AwsHostSettings, VsphereHostSettings]);
export type HostSettings = z.infer<typeof HostSettings>;

/**
 * A takeover host of the run: its Name, its wave (1 first; absent: 1), what its failback host gets (absent: the
 * compute adapter's launch settings, as before per-host settings existed) and the health checks its failback host
 * must pass at cutover (absent: its state only).
 */
export const TakeoverHost = z.object({
  hostId: z.string(),
  name: z.string(),
  wave: z.number().int().min(1).optional(),
  failback: HostSettings.optional(),
  healthChecks: z.array(HealthCheck).optional(),
});
export type TakeoverHost = z.infer<typeof TakeoverHost>;

/** The takeover hosts of one wave: the unit the cutover stops, starts and checks (docs/architecture.md, "Waves"). */
export const Wave = z.object({ wave: z.number().int().min(1), takeoverHostIds: z.array(z.string()).min(1) });
export type Wave = z.infer<typeof Wave>;

/** The hosts' waves, lowest first: the order failback hosts start in (the takeover hosts stop in the reverse). */
export function wavesOf(hosts: readonly TakeoverHost[]): Wave[] {
  const numbers = [...new Set(hosts.map((host) => host.wave ?? 1))].sort((a, b) => a - b);
  return numbers.map((wave) => ({
    wave,
    takeoverHostIds: hosts.filter((host) => (host.wave ?? 1) === wave).map((host) => host.hostId),
  }));
}

/** The output of ValidateRequest: the run's identity and inventory. */
export const RunInventory = z.object({
  runId: RunId,
  request: FailbackRequest,
  hosts: z.array(TakeoverHost).min(1),
  takeoverHostIds: z.array(z.string()).min(1),
  volumes: z.array(RunVolume).min(1),
  /** The waves, lowest first (failback hosts start in this order) … */
  waves: z.array(Wave).min(1),
  /** … and highest first (takeover hosts stop in this order): a JSONPath state machine cannot reverse a list. */
  wavesStopOrder: z.array(Wave).min(1),
});
export type RunInventory = z.infer<typeof RunInventory>;

/** A target volume, 1:1 with a takeover volume, and where it sits on its sync gateway. */
export const TargetVolume = z.object({
  volumeKey: z.string(),
  targetVolumeId: z.string(),
  gatewayDevice: z.string(),
  /** The gateway holding it; absent in the state of a run with one gateway (`gatewayHostId`), started before. */
  gatewayHostId: z.string().optional(),
  /**
   * A seeded target: where its gateway publishes the seed's hashes (a key from the staging bucket's root,
   * core/gateway/scope.ts), and the snapshot that keeps the seed's pre-failback state.
   */
  seed: z.object({ recordKey: z.string(), preservedAs: z.string() }).optional(),
});
export type TargetVolume = z.infer<typeof TargetVolume>;
/** One sync gateway of a run and the volumes it applies passes to (core/failback/gateway-plan.ts). */
export const TargetGateway = z.object({ hostId: z.string(), volumeKeys: z.array(z.string()).min(1) });
export type TargetGateway = z.infer<typeof TargetGateway>;
/**
 * The run's sync gateways and the target volumes they hold. Read it through `targetGateways` (gateway-plan.ts): the
 * state of a run whose PrepareTarget ran before runs had several gateways has only `gatewayHostId`.
 */
export const TargetState = z.object({
  gateways: z.array(TargetGateway).min(1).optional(),
  /** The one gateway of a run prepared before `gateways` existed; it holds every volume. */
  gatewayHostId: z.string().optional(),
  volumes: z.array(TargetVolume).min(1),
  /**
   * The snapshots the target volumes provably hold from a kept run (core/failback/kept-target.ts), one per volume
   * when the first pass is incremental; absent or empty: the first pass is full.
   */
  bases: z.array(TargetBase).optional(),
  /** How the first pass starts and why (the run report's `firstPass`). */
  firstPass: FirstPass.optional(),
});
export type TargetState = z.infer<typeof TargetState>;

export const PassSnapshot = z.object({
  volumeKey: z.string(),
  hostId: z.string(),
  volumeId: z.string(),
  sizeBytes: z.number().int().positive(),
  snapshotId: z.string(),
  /** The previous pass's snapshot: this pass carries what changed since. Absent for the full pass. */
  baseSnapshotId: z.string().optional(),
  /**
   * The run's first pass of a seeded volume: where the target side publishes the seed's hash list
   * (core/engine/seed.ts), relative to the root of the staging StreamPass writes to. StreamPass then makes the pass
   * `seeded`: it carries only blocks that differ from the seed.
   */
  seed: z.object({ recordKey: z.string().min(1) }).optional(),
  /** The host's cutover wave, for the progress records `homebound status` shows; absent from a run begun without it. */
  wave: z.number().int().min(1).optional(),
});
export type PassSnapshot = z.infer<typeof PassSnapshot>;

/** The pass in progress. Pass 0 is the placeholder before the first snapshot. */
export const PassState = z.object({
  number: z.number().int().nonnegative(),
  kind: z.enum(['full', 'incremental']).optional(),
  /** The pass after the takeover hosts stopped: the last one. */
  final: z.boolean(),
  startedAt: z.string().optional(),
  snapshots: z.array(PassSnapshot),
});
export type PassState = z.infer<typeof PassState>;

/** Failback hosts, one per takeover host. */
export const FailbackHost = z.object({ takeoverHostId: z.string(), failbackHostId: z.string() });
export type FailbackHost = z.infer<typeof FailbackHost>;
export const FailbackState = z.object({ hosts: z.array(FailbackHost).min(1), hostIds: z.array(z.string()).min(1) });
export type FailbackState = z.infer<typeof FailbackState>;

/** What a failed state hands to Catch (ResultPath `$.failure`). */
export const CaughtFailure = z.object({ Error: z.string(), Cause: z.string().optional() });
export type CaughtFailure = z.infer<typeof CaughtFailure>;

/** Asks a human to approve the cutover and returns at once; the decision completes the task token later. */
export interface ApprovalPort {
  requestApproval(request: ApprovalRequest): Promise<void>;
  /**
   * Re-reads the run's decision from the approval store (never from the task's output) before the cutover.
   * @throws UnverifiedApprovalError when the store does not prove an approval by an allowed approver
   */
  verifyDecision(runId: string): Promise<VerifiedDecision>;
}

/** An approval as the approval store proves it: VerifyDecision's result, what the run report names as the decider. */
export interface VerifiedDecision {
  readonly approved: true;
  readonly approvalId: string;
  /** `email:<address>`, `slack:<user id>` or `operator:<name>`. */
  readonly approver: string;
  readonly approverName?: string;
  readonly channel: string;
  readonly decidedAt: string;
}

export interface ApprovalRequest {
  readonly runId: string;
  readonly taskToken: string;
  readonly timeoutSeconds: number;
  readonly summary: ApprovalSummary;
}

/** What an approver is shown before deciding: the run's hosts and volumes and how far the passes have converged. */
export const ApprovalSummary = z.object({
  passes: z.number().int(),
  lastPassBytesChanged: z.number().nonnegative(),
  /** Snapshot → applied of the last pass; the final pass moves a similar delta, so it takes about as long. */
  lastPassSeconds: z.number().nonnegative(),
  /** When the last pass's snapshots were taken (ISO); with lastPassSeconds, how old the figures are. */
  lastPassStartedAt: z.string().optional(),
  takeoverHostIds: z.array(z.string()),
  failbackHostIds: z.array(z.string()),
  volumes: z.array(RunVolume.pick({ hostId: true, volumeId: true, sizeBytes: true })),
  /**
   * Set when the wait asks a person to confirm the failback hosts are up rather than to approve a cutover (the
   * manual platform, after its cutover): what they must check, from the agent's answer. Pages and messages then ask
   * "confirm the hosts are up". The state machine gives one per cutover wave (a list): they are joined line by line.
   */
  instructions: z
    .union([z.string(), z.array(z.string()).min(1)])
    .transform((value) => (Array.isArray(value) ? value.join('\n') : value))
    .pipe(z.string().max(4000))
    .optional(),
});
export type ApprovalSummary = z.infer<typeof ApprovalSummary>;

/** What the steps of the method work with: the compute port, the EBS direct APIs, staging, approvals, a clock. */
export interface FailbackDeps {
  readonly compute: ComputePort;
  readonly blockSource: BlockSource;
  /** Staging rooted at a key prefix of the staging bucket, e.g. `runs/<runId>/volumes/`. */
  readonly staging: (prefix: string) => Staging;
  readonly stagingBucket: string;
  /**
   * The stack's bucket for run records (`records/`), when `staging` is another store (the conditional-automated
   * method's on-prem store for its pass tasks): kept records must be where the next run's PlanOnPremRun reads them.
   * @default staging
   */
  readonly recordStaging?: ((prefix: string) => Staging) | undefined;
  /** The tag a host must carry to be failed back (ValidateRequest checks it; IAM enforces it on AWS). */
  readonly takeoverTag: TakeoverTag;
  /**
   * The deployment's launch settings of failback hosts: what a host whose request and takeover host say nothing gets,
   * and what IAM lets LaunchFailbackHosts launch (core/failback/resolve-hosts.ts checks requests against it).
   * @default nothing configured and nothing restricted (the local cloud)
   */
  readonly failbackLaunch?: FailbackLaunchSettings | undefined;
  /** The deployment's convergence threshold (lib/config.ts `convergenceThresholdMiB`), for requests that set none. */
  readonly defaultConvergenceThresholdMiB?: number | undefined;
  /**
   * Days after which the staging bucket expires `runs/` (its lifecycle rule); ValidateRequest keeps a pass's deadline
   * shorter, so no staged pass expires before its ack. Absent locally, where nothing expires.
   */
  readonly stagingExpiryDays?: number | undefined;
  /** The gateway bundle the sync gateway's user data installs; absent locally, where gateways run from source. */
  readonly gatewayArtifact?: GatewayArtifactLocation | undefined;
  readonly approvals: ApprovalPort;
  /**
   * The gateway key of a run (core/engine/run-key.ts), derived from the stack's gateway-ack secret. Only the steps
   * that give it to a gateway or verify with it (PrepareTarget, CheckApplied, CleanUp) have it; elsewhere it is absent.
   */
  readonly gatewayRunKey?: ((runId: string) => Promise<Buffer>) | undefined;
  /**
   * How StreamPass splits a volume's pass over invocations running at once and shares the snapshot's read budget
   * (core/failback/stream-split.ts). @default streamSplitSettings(): 4 invocations per volume, 1,000 reads/s per snapshot
   */
  readonly streamSplit?: StreamSplitSettings | undefined;
  /** Where the steps publish their metrics (core/failback/metrics.ts). */
  readonly metrics: FailbackMetrics;
  /**
   * Runs failback hosts' health checks (core/health/). @default TCP and HTTP probes from where the step runs, `ssm`
   * checks unsupported (no SSM client wired)
   */
  readonly health?: HostHealthChecker | undefined;
  readonly now: () => Date;
}

/** The deployment's failback launch settings (lib/config.ts): defaults, and the sets IAM allows. */
export interface FailbackLaunchSettings {
  /** For a takeover host without an instance type. */
  readonly instanceType?: string | undefined;
  readonly subnetId?: string | undefined;
  /** The default groups, and the only ones a request may choose from (IAM pins launches to them). */
  readonly securityGroupIds?: readonly string[] | undefined;
  /** The instance types IAM lets failback hosts launch as. @default any */
  readonly allowedInstanceTypes?: readonly string[] | undefined;
  /** The subnets IAM lets failback hosts launch in. @default any */
  readonly allowedSubnetIds?: readonly string[] | undefined;
  /** The tag keys (besides homebound's own) IAM lets a launch set. @default any */
  readonly allowedTagKeys?: readonly string[] | undefined;
}

/** A pass's Distributed Map objects, beside its staged volumes and apart from the gateways' own prefixes. */
function passMapDir(runId: string, passNumber: number): string {
  return `${runLayout.passMaps(runId)}pass-${String(passNumber).padStart(6, '0')}/`;
}

/**
 * The key patterns of every run's StreamPass map objects, for IAM (lib/failback-state-machine.ts): kept beside
 * `runLayout.passItemsKey` and `passResultsPrefix` so the two cannot drift apart.
 */
export const passMapPatterns = {
  items: 'runs/*/stream-pass/pass-*/items.json',
  results: 'runs/*/stream-pass/pass-*/results/*',
} as const;

/**
 * Where a run's objects live in the staging bucket: its staged passes under `runs/` (deleted at clean-up, and expired
 * by the bucket's lifecycle rule should a run never get there) and its record under `records/` (kept).
 */
export const runLayout = {
  root: (runId: string) => `runs/${runId}/`,
  volumes: (runId: string) => `runs/${runId}/volumes/`,
  /** Where the run's sync gateways write, each below its own instance ARN (core/gateway/scope.ts). */
  gateways: gatewaysPrefix,
  /** What the gateway `instanceArn` wrote for the run: its heartbeat, and its acks and apply errors under `volumes/`. */
  gatewayScope: gatewayScopePrefix,
  /** What the on-prem agent writes for the run (its acks, apply errors, heartbeat): its records prefix. */
  agent: (runId: string) => `runs/${runId}/agent/`,
  /** Every pass's StreamPass map objects of the run (clean-up deletes them). */
  passMaps: (runId: string) => `runs/${runId}/stream-pass/`,
  /**
   * The items of a pass's StreamPass Distributed Map (the pass's snapshots, a JSON array), which CheckSnapshots writes
   * and the map's ItemReader reads: the state machine's role may read only these keys (lib/failback-state-machine.ts).
   */
  passItemsKey: (runId: string, passNumber: number) => `${passMapDir(runId, passNumber)}items.json`,
  /** Where the StreamPass map's ResultWriter writes (`<prefix>/<map run id>/manifest.json`, `SUCCEEDED_0.json`, …). */
  passResultsPrefix: (runId: string, passNumber: number) => `${passMapDir(runId, passNumber)}results`,
  record: (runId: string) => `records/${runId}/`,
  passRecordKey: (passNumber: number) => `passes/${String(passNumber).padStart(6, '0')}.json`,
  reportKey: 'report.json',
} as const;

/** Tags on everything a run creates, so it can be found, cleaned up and scoped by IAM conditions. */
export const RUN_TAG = 'homebound:run';
