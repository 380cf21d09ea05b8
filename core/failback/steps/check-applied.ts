import { z } from 'zod';
import { ACK_KEY, passPrefix } from '../../engine/layout.js';
import { PassAck, parseStagedJson } from '../../engine/manifest.js';
import { hasValidMac } from '../../engine/run-key.js';
import { InvalidInputError } from '../../errors.js';
import { HEARTBEAT_KEY, readHeartbeat } from '../../gateway/heartbeat.js';
import { ApplyErrorRecord, applyErrorKey } from '../../gateway/run-gateway.js';
import { GATEWAY_VOLUMES_DIR } from '../../gateway/scope.js';
import {
  ApplyFailedError,
  ApplyTimedOutError,
  GatewayAckSecretMissingError,
  GatewayUnavailableError,
  UnexpectedHostStateError,
  UnverifiedAckError,
} from '../errors.js';
import { DEFAULT_GATEWAY_LIVENESS, GatewayLiveness } from '../request.js';
import { type FailbackDeps, PassState, runLayout, TargetGateway } from '../run-state.js';

export const CheckAppliedInput = z.object({
  runId: z.string(),
  pass: PassState,
  /** The run's sync gateways and their volumes: each one's records are below its instance ARN, and it must run. */
  gateways: z.array(TargetGateway).min(1).optional(),
  /** The one sync gateway of an execution started before runs had several: it holds every volume. */
  gatewayHostId: z.string().optional(),
  /**
   * Where the applying side writes its records when it is no cloud host (the on-prem agent's `runs/<runId>/agent/`,
   * planned by PlanOnPremRun): the run's state carries the scope, so this step never asks which method it serves.
   */
  recordsPrefix: z.string().min(1).optional(),
  applyTimeoutSeconds: z.number().int().positive(),
  /** Absent in inputs of executions started before it existed: the defaults. */
  gateway: GatewayLiveness.optional(),
});
export type CheckAppliedInput = z.infer<typeof CheckAppliedInput>;

/** One applying side of the run (a sync gateway, the on-prem agent): where it writes, and which volumes it applies. */
interface Applier {
  /** For messages: `the sync gateway i-… (volumes a, b)`, or the writer of the records prefix. */
  readonly name: string;
  /** The gateway's host id; absent for an applier that is no host of the compute port. */
  readonly hostId?: string;
  /** The prefix only it writes under. */
  readonly scope: string;
  readonly snapshots: PassState['snapshots'];
}

/**
 * Whether every sync gateway has made the pass durable on each of its target volumes: each volume's ack.json, below
 * the ARN of the gateway holding it, names this pass's snapshot. Fails fast with ApplyFailedError when a gateway
 * recorded a refusal (e.g. a corrupt segment), UnexpectedHostStateError when a gateway still owing acks is no longer
 * running, GatewayUnavailableError when its heartbeat is stale (or never came) — each naming that gateway and its
 * volumes — ApplyTimedOutError after `applyTimeoutSeconds`; UnverifiedAckError for an ack, apply error or heartbeat
 * whose MAC does not verify with this run's gateway key (never counted as applied).
 * Reads a volume's records only below the ARN of the gateway this run put it on (core/gateway/scope.ts), where no
 * other instance's role can write: a record anywhere else — the run's staged-pass prefix, another gateway's prefix,
 * even another gateway of the same run — is never looked at.
 */
export async function checkApplied(
  input: CheckAppliedInput,
  deps: FailbackDeps,
): Promise<{ applied: boolean; volumesApplied: number }> {
  const runKey = await gatewayRunKey(input.runId, deps);
  const owing: Applier[] = [];
  let volumesApplied = 0;
  for (const applier of appliers(input, deps)) {
    const applied = await countApplied(input, applier, runKey, deps);
    volumesApplied += applied;
    if (applied < applier.snapshots.length) owing.push(applier);
  }
  if (owing.length === 0) return { applied: true, volumesApplied };

  for (const applier of owing) {
    if (applier.hostId) {
      const [gateway] = await deps.compute.describeHosts({ hostIds: [applier.hostId] });
      if (gateway && gateway.state !== 'running' && gateway.state !== 'pending') {
        throw new UnexpectedHostStateError(`${applier.name} is ${gateway.state}, not running`);
      }
    }
    await checkGatewayLiveness(input, applier, runKey, deps);
  }
  const startedAt = Date.parse(input.pass.startedAt ?? '');
  if (deps.now().getTime() - startedAt > input.applyTimeoutSeconds * 1000) {
    throw new ApplyTimedOutError(
      `pass ${input.pass.number} was not applied within ${input.applyTimeoutSeconds} s (${volumesApplied} of ${input.pass.snapshots.length} volumes acknowledged; waiting for ${owing.map((applier) => applier.name).join('; ')})`,
    );
  }
  return { applied: false, volumesApplied };
}

/**
 * How many of the applier's volumes acknowledge this pass.
 * @throws ApplyFailedError for a recorded refusal or an ack of another pass; UnverifiedAckError
 */
async function countApplied(input: CheckAppliedInput, applier: Applier, runKey: Buffer, deps: FailbackDeps) {
  const staging = deps.staging(applier.scope + GATEWAY_VOLUMES_DIR);
  let applied = 0;
  for (const snapshot of applier.snapshots) {
    const failure = await staging.head(applyErrorKey(snapshot.volumeKey, input.pass.number));
    if (failure) {
      const key = failure.key;
      const record = parseStagedJson(ApplyErrorRecord, await staging.get(key), key);
      // A forged refusal would only roll the run back, but its message would lie to the operator.
      if (!hasValidMac(runKey, record)) throw unverified(key, input.runId);
      throw new ApplyFailedError(
        `${applier.name} could not apply pass ${input.pass.number} of ${snapshot.volumeKey}: ${record.error}: ${record.message}`,
      );
    }
    const ackKey = passPrefix(snapshot.volumeKey, input.pass.number) + ACK_KEY;
    if (!(await staging.head(ackKey))) continue;
    const ack = parseStagedJson(PassAck, await staging.get(ackKey), ackKey);
    if (!hasValidMac(runKey, ack)) throw unverified(ackKey, input.runId);
    if (ack.volumeKey !== snapshot.volumeKey || ack.passNumber !== input.pass.number) {
      throw new ApplyFailedError(`${ackKey} acknowledges pass ${ack.passNumber} of ${ack.volumeKey}`);
    }
    if (ack.snapshotId !== snapshot.snapshotId) {
      throw new ApplyFailedError(`${ackKey} acknowledges ${ack.snapshotId}, not this pass's ${snapshot.snapshotId}`);
    }
    applied++;
  }
  return applied;
}

/**
 * A host can stay "running" while its gateway process is gone (crashed past its restarts, hung), so liveness comes
 * from the heartbeat the gateway rewrites in staging. Before its first heartbeat the gateway gets the same limit
 * counted from the pass's start (after its launch for the first pass, which is when a gateway boots).
 * @throws GatewayUnavailableError; UnverifiedAckError for a heartbeat this run's gateway did not sign
 */
async function checkGatewayLiveness(
  input: CheckAppliedInput,
  applier: Applier,
  runKey: Buffer,
  deps: FailbackDeps,
): Promise<void> {
  const limitSeconds = (input.gateway ?? DEFAULT_GATEWAY_LIVENESS).unavailableAfterSeconds;
  const now = deps.now().getTime();
  const heartbeat = await readHeartbeat(deps.staging(applier.scope));
  if (heartbeat) {
    // Another run's gateway must not keep this run waiting on a gateway that is gone.
    if (!hasValidMac(runKey, heartbeat) || heartbeat.runId !== input.runId) {
      throw unverified(`${applier.scope}${HEARTBEAT_KEY}`, input.runId);
    }
    const ageSeconds = (now - Date.parse(heartbeat.at)) / 1000;
    if (ageSeconds > limitSeconds) {
      throw new GatewayUnavailableError(
        `${applier.name} has not reported for ${Math.round(ageSeconds)} s (last heartbeat ${heartbeat.at}, limit ${limitSeconds} s)`,
      );
    }
    return;
  }
  const startedAt = Date.parse(input.pass.startedAt ?? '');
  if (now - startedAt > limitSeconds * 1000) {
    throw new GatewayUnavailableError(
      `${applier.name} has written no heartbeat within ${limitSeconds} s of pass ${input.pass.number} starting (${input.pass.startedAt})`,
    );
  }
}

/**
 * The run's applying sides, each with the pass's snapshots of its volumes: the records prefix the run's state names
 * (the on-prem agent's, every volume), else each sync gateway below its own instance ARN with the volumes it holds.
 * @throws InvalidInputError when the state names neither, or a volume of the pass is on no gateway of the run
 */
function appliers(input: CheckAppliedInput, deps: FailbackDeps): Applier[] {
  if (input.recordsPrefix) {
    const scope = input.recordsPrefix.endsWith('/') ? input.recordsPrefix : `${input.recordsPrefix}/`;
    return [{ name: `the applier writing ${input.recordsPrefix}`, scope, snapshots: input.pass.snapshots }];
  }
  const gateways =
    input.gateways ??
    (input.gatewayHostId
      ? [{ hostId: input.gatewayHostId, volumeKeys: input.pass.snapshots.map((snapshot) => snapshot.volumeKey) }]
      : undefined);
  if (!gateways) throw new InvalidInputError('CheckApplied needs gateways or recordsPrefix: whose records to read');
  const held = new Set(gateways.flatMap((gateway) => gateway.volumeKeys));
  const orphan = input.pass.snapshots.find((snapshot) => !held.has(snapshot.volumeKey));
  if (orphan) throw new InvalidInputError(`CheckApplied: ${orphan.volumeKey} is on no sync gateway of the run`);
  return gateways.map((gateway) => ({
    name: `the sync gateway ${gateway.hostId} (volumes ${gateway.volumeKeys.join(', ')})`,
    hostId: gateway.hostId,
    scope: gatewayScope({ runId: input.runId, gatewayHostId: gateway.hostId }, deps),
    snapshots: input.pass.snapshots.filter((snapshot) => gateway.volumeKeys.includes(snapshot.volumeKey)),
  }));
}

/** The prefix only the run's own gateway instance can write under: `runs/<runId>/gateways/<its ARN>/`. */
export function gatewayScope(run: { runId: string; gatewayHostId: string }, deps: FailbackDeps): string {
  return runLayout.gatewayScope(run.runId, deps.compute.instanceArn(run.gatewayHostId));
}

/** @throws GatewayAckSecretMissingError: without the key nothing can be verified, so nothing counts (fails closed). */
async function gatewayRunKey(runId: string, deps: FailbackDeps): Promise<Buffer> {
  if (!deps.gatewayRunKey) throw new GatewayAckSecretMissingError('CheckApplied');
  return deps.gatewayRunKey(runId);
}

function unverified(key: string, runId: string): UnverifiedAckError {
  return new UnverifiedAckError(
    `${key} does not carry a valid MAC of run ${runId}'s gateway key (unsigned, altered, or written by another run's gateway); not counted`,
  );
}
