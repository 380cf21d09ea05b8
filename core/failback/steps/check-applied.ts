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
import { type FailbackDeps, PassState, runLayout } from '../run-state.js';

export const CheckAppliedInput = z.object({
  runId: z.string(),
  pass: PassState,
  /** The sync gateway the run launched: its records are below its instance ARN, and it must be running. */
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

/** Who applies the pass, for messages: the gateway by its id, otherwise the writer of the records prefix. */
function applier(input: CheckAppliedInput): string {
  return input.gatewayHostId ? `the sync gateway ${input.gatewayHostId}` : `the applier writing ${input.recordsPrefix}`;
}

/**
 * Whether the sync gateway has made the pass durable on every target volume: each volume's ack.json names this
 * pass's snapshot. Fails fast with ApplyFailedError when the gateway recorded a refusal (e.g. a corrupt segment),
 * UnexpectedHostStateError when the gateway is no longer running, GatewayUnavailableError when its heartbeat is
 * stale (or never came), ApplyTimedOutError after `applyTimeoutSeconds`; UnverifiedAckError for an ack, apply
 * error or heartbeat whose MAC does not verify with this run's gateway key (never counted as applied).
 * Reads only below the ARN of the gateway this run launched (core/gateway/scope.ts), where no other instance's role
 * can write: a record anywhere else — the run's staged-pass prefix, another gateway's prefix — is never looked at.
 */
export async function checkApplied(
  input: CheckAppliedInput,
  deps: FailbackDeps,
): Promise<{ applied: boolean; volumesApplied: number }> {
  const scope = recordsScope(input, deps);
  const staging = deps.staging(scope + GATEWAY_VOLUMES_DIR);
  const runKey = await gatewayRunKey(input.runId, deps);
  let volumesApplied = 0;
  for (const snapshot of input.pass.snapshots) {
    const failure = await staging.head(applyErrorKey(snapshot.volumeKey, input.pass.number));
    if (failure) {
      const key = failure.key;
      const record = parseStagedJson(ApplyErrorRecord, await staging.get(key), key);
      // A forged refusal would only roll the run back, but its message would lie to the operator.
      if (!hasValidMac(runKey, record)) throw unverified(key, input.runId);
      throw new ApplyFailedError(
        `${applier(input)} could not apply pass ${input.pass.number} of ${snapshot.volumeKey}: ${record.error}: ${record.message}`,
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
    volumesApplied++;
  }
  if (volumesApplied === input.pass.snapshots.length) return { applied: true, volumesApplied };

  if (input.gatewayHostId) {
    const [gateway] = await deps.compute.describeHosts({ hostIds: [input.gatewayHostId] });
    if (gateway && gateway.state !== 'running' && gateway.state !== 'pending') {
      throw new UnexpectedHostStateError(`the sync gateway ${input.gatewayHostId} is ${gateway.state}, not running`);
    }
  }
  await checkGatewayLiveness(input, scope, runKey, deps);
  const startedAt = Date.parse(input.pass.startedAt ?? '');
  if (deps.now().getTime() - startedAt > input.applyTimeoutSeconds * 1000) {
    throw new ApplyTimedOutError(
      `pass ${input.pass.number} was not applied within ${input.applyTimeoutSeconds} s (${volumesApplied} of ${input.pass.snapshots.length} volumes acknowledged)`,
    );
  }
  return { applied: false, volumesApplied };
}

/**
 * A host can stay "running" while its gateway process is gone (crashed past its restarts, hung), so liveness comes
 * from the heartbeat the gateway rewrites in staging. Before its first heartbeat the gateway gets the same limit
 * counted from the pass's start (after its launch for the first pass, which is when a gateway boots).
 * @throws GatewayUnavailableError; UnverifiedAckError for a heartbeat this run's gateway did not sign
 */
async function checkGatewayLiveness(
  input: CheckAppliedInput,
  scope: string,
  runKey: Buffer,
  deps: FailbackDeps,
): Promise<void> {
  const limitSeconds = (input.gateway ?? DEFAULT_GATEWAY_LIVENESS).unavailableAfterSeconds;
  const now = deps.now().getTime();
  const heartbeat = await readHeartbeat(deps.staging(scope));
  if (heartbeat) {
    // Another run's gateway must not keep this run waiting on a gateway that is gone.
    if (!hasValidMac(runKey, heartbeat) || heartbeat.runId !== input.runId) {
      throw unverified(`${scope}${HEARTBEAT_KEY}`, input.runId);
    }
    const ageSeconds = (now - Date.parse(heartbeat.at)) / 1000;
    if (ageSeconds > limitSeconds) {
      throw new GatewayUnavailableError(
        `${applier(input)} has not reported for ${Math.round(ageSeconds)} s (last heartbeat ${heartbeat.at}, limit ${limitSeconds} s)`,
      );
    }
    return;
  }
  const startedAt = Date.parse(input.pass.startedAt ?? '');
  if (now - startedAt > limitSeconds * 1000) {
    throw new GatewayUnavailableError(
      `${applier(input)} has written no heartbeat within ${limitSeconds} s of pass ${input.pass.number} starting (${input.pass.startedAt})`,
    );
  }
}

/**
 * The prefix CheckApplied reads: the records prefix the run's state names (the on-prem agent's), else the one only
 * the run's own gateway instance can write under.
 * @throws InvalidInputError when the state names neither
 */
function recordsScope(input: CheckAppliedInput, deps: FailbackDeps): string {
  if (input.recordsPrefix) return input.recordsPrefix.endsWith('/') ? input.recordsPrefix : `${input.recordsPrefix}/`;
  if (input.gatewayHostId) return gatewayScope({ runId: input.runId, gatewayHostId: input.gatewayHostId }, deps);
  throw new InvalidInputError('CheckApplied needs gatewayHostId or recordsPrefix: whose records to read');
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
