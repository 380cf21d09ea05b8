import { z } from 'zod';
import { isValidVolumeKey } from '../engine/layout.js';
import { HomeboundError, InvalidInputError } from '../errors.js';
import { HealthChecks } from '../health/checks.js';
import { ProposedBase } from './held-snapshots.js';

/**
 * What the state machine asks the agent through its Activity: the Task's `Parameters` are one of these, told apart by
 * `operation`. Each is parsed with its own schema, so a state machine edit that breaks a shape fails that state with
 * InvalidInputError naming the field instead of doing something half right.
 */

const RunId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,79}$/, 'letters, digits, - and _ (≤ 80)');

/** Where a request asks a failback VM to go (platform.ts FailbackPlacement), in operations and run records alike. */
export const FailbackPlacementSchema = z.object({
  folder: z.string().min(1).optional(),
  resourcePool: z.string().min(1).optional(),
  datastore: z.string().min(1).optional(),
  portGroup: z.string().min(1).optional(),
});

/** A host's seed VM, in operations and run records alike: name or folder path, and whether it may be powered off. */
export const SeedVmSchema = z.object({ vm: z.string().min(1), powerOff: z.boolean() });

export const AgentHost = z.object({
  hostId: z.string().min(1),
  name: z.string().min(1),
  instanceType: z.string().min(1),
  vCpus: z.number().int().positive(),
  memoryMiB: z.number().int().positive(),
  /** The failback VM's name the request asks. @default the platform's naming */
  vmName: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,80}$/, 'letters, digits, . _ - (≤ 80)')
    .optional(),
  /** Where the request asks the VM to go. @default the agent's config */
  placement: FailbackPlacementSchema.optional(),
  /** The seed VM whose disks become the target disks (seeded failback, docs/agent.md). @default none */
  seed: SeedVmSchema.optional(),
});

export const AgentVolume = z.object({
  hostId: z.string().min(1),
  // Becomes part of file names and keys the manual platform's disks by it.
  volumeId: z.string().regex(/^vol-[A-Za-z0-9]+$/, 'expected an EBS volume id such as vol-0123456789abcdef0'),
  volumeKey: z.string().refine(isValidVolumeKey, 'not a valid volume key (letters, digits, . _ -)'),
  /** Position among the host's disks, 0 = boot. @default the volume's position among its host's volumes here */
  deviceIndex: z.number().int().nonnegative().optional(),
  sizeBytes: z.number().int().positive(),
});

/** Prepare the target and start following the run's staging. */
export const PrepareTargetInput = z
  .object({
    operation: z.literal('PrepareTarget'),
    runId: RunId,
    hosts: z.array(AgentHost).min(1),
    volumes: z.array(AgentVolume).min(1),
    /** Key prefix of the run's passes in the staging store. @default runs/<runId>/volumes/ */
    stagingPrefix: z.string().min(1).optional(),
    /**
     * Key prefix under which the agent writes the run's acks (`volumes/<volumeKey>/pass-NNNNNN/ack.json`), apply
     * errors and heartbeat (`heartbeat.json`): what CheckApplied reads. @default runs/<runId>/agent/
     */
    recordsPrefix: z.string().min(1).optional(),
    /** How often the agent writes the run's heartbeat. @default none */
    heartbeat: z.object({ intervalSeconds: z.number().int().min(1) }).optional(),
    /** The run's gateway key (hex, core/engine/run-key.ts): acks, apply errors and heartbeats are MACed with it. */
    ackKey: z
      .string()
      .regex(/^[0-9a-f]{64}$/, '64 lowercase hex digits')
      .optional(),
    /**
     * The snapshots a rolled-back run's kept records say these disks hold (PlanOnPremRun): the agent answers per disk
     * whether its journal proves it, and opens the disks as holding them only when every one does.
     */
    bases: z.array(ProposedBase).optional(),
    /** Why the control plane proposes no base (the report's reason for a full first pass). */
    noBaseReason: z.string().optional(),
  })
  .superRefine((input, context) => {
    const hostIds = new Set(input.hosts.map((host) => host.hostId));
    const seen = { volumeId: new Set<string>(), volumeKey: new Set<string>() };
    input.volumes.forEach((volume, index) => {
      if (!hostIds.has(volume.hostId)) {
        context.addIssue({ code: 'custom', path: ['volumes', index, 'hostId'], message: 'names no host of the run' });
      }
      for (const field of ['volumeId', 'volumeKey'] as const) {
        if (seen[field].has(volume[field])) {
          context.addIssue({ code: 'custom', path: ['volumes', index, field], message: `duplicate ${volume[field]}` });
        }
        seen[field].add(volume[field]);
      }
    });
  });
export type PrepareTargetInput = z.infer<typeof PrepareTargetInput>;

/** The operations after PrepareTarget act on the run the agent recorded then; they carry only its id. */
const runOperation = <T extends string>(operation: T) => z.object({ operation: z.literal(operation), runId: RunId });

/**
 * The takeover host ids of one cutover wave: the operation acts on their failback hosts only. @default every host of
 * the run
 */
const WaveHostIds = z.array(z.string().min(1)).min(1).optional();

export const VerificationBootInput = runOperation('VerificationBoot').extend({ hostIds: WaveHostIds });
export const CutoverInput = runOperation('Cutover').extend({ hostIds: WaveHostIds });

/** One takeover host as the request's `$.hosts` gives it: only its id and health checks matter here. */
const WaveHealthHost = z.object({ hostId: z.string().min(1), healthChecks: HealthChecks.default([]) });

/**
 * One round of a wave's health checks on-prem: each failback host is powered on, and passes its host's `tcp`/`http`
 * checks against its guest IP. Past `timeoutSeconds` after `since`, an unhealthy wave fails the operation with
 * HealthCheckFailedError.
 */
export const CheckWaveHealthInput = runOperation('CheckWaveHealth').extend({
  hostIds: z.array(z.string().min(1)).min(1),
  /** The run's hosts (the request's `$.hosts`); those of `hostIds` give their checks. @default no checks but state */
  hosts: z.array(WaveHealthHost).default([]),
  /** When the wave's cutover began (ISO time): the health deadline is `timeoutSeconds` after it. */
  since: z.iso.datetime(),
  timeoutSeconds: z.number().int().min(1).max(86_400),
});
export type CheckWaveHealthInput = z.infer<typeof CheckWaveHealthInput>;
export const VerifyInput = runOperation('Verify');
export const RollbackInput = runOperation('Rollback');

export const OPERATIONS = {
  PrepareTarget: PrepareTargetInput,
  VerificationBoot: VerificationBootInput,
  Cutover: CutoverInput,
  CheckWaveHealth: CheckWaveHealthInput,
  Verify: VerifyInput,
  Rollback: RollbackInput,
} as const;
export type OperationName = keyof typeof OPERATIONS;
export type OperationInput = { [K in OperationName]: z.infer<(typeof OPERATIONS)[K]> }[OperationName];

/** The activity input names an operation this agent does not know (a newer state machine, or a typo). */
export class UnknownOperationError extends HomeboundError {
  constructor(readonly operation: string) {
    super(`unknown operation ${JSON.stringify(operation)}; this agent knows ${Object.keys(OPERATIONS).join(', ')}`);
  }
}

/**
 * Parses an activity task's input.
 * @throws InvalidInputError (not JSON, no `operation`, or a wrong field — named), UnknownOperationError
 */
export function parseOperation(text: string): OperationInput {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new InvalidInputError(`activity input is not JSON: ${(error as Error).message}`, { cause: error });
  }
  const head = z.object({ operation: z.string() }).safeParse(raw);
  if (!head.success) throw new InvalidInputError('activity input has no "operation" (a string)');
  const { operation } = head.data;
  if (!isOperationName(operation)) throw new UnknownOperationError(operation);
  const schema: z.ZodType<OperationInput> = OPERATIONS[operation];
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`);
    throw new InvalidInputError(`${operation} input is invalid: ${problems.join('; ')}`);
  }
  return parsed.data;
}

function isOperationName(name: string): name is OperationName {
  return Object.hasOwn(OPERATIONS, name);
}
