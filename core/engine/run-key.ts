import { createHmac, timingSafeEqual } from 'node:crypto';
import { canonicalJson } from './manifest.js';

/**
 * Run-bound gateway records. A sync gateway writes `ack.json`, `apply-error.json` and the heartbeat only below its own
 * instance ARN, and the control plane reads only below the ARN of the run's gateway (core/gateway/scope.ts); as a
 * second line (a principal with wider S3 rights, the local cloud's S3 without IAM) those records also carry an
 * HMAC-SHA256 with a key only this run's gateway holds:
 *
 *   run key = HMAC-SHA256(stack gateway-ack secret, "homebound-gateway-ack:" + runId)
 *
 * The stack secret is readable only by the control-plane functions that need it (PrepareTarget derives the key and
 * puts it in the gateway's user data; CheckApplied derives it again to verify). A gateway of another run holds
 * another key, so it cannot make a record this run accepts.
 */

export const RUN_KEY_CONTEXT = 'homebound-gateway-ack:';

/** The field each signed record carries its MAC in. */
export const MAC_FIELD = 'mac';

/** Derives the gateway key of one run from the stack's gateway-ack secret. */
export function deriveRunKey(stackSecret: string | Buffer, runId: string): Buffer {
  return createHmac('sha256', stackSecret)
    .update(RUN_KEY_CONTEXT + runId)
    .digest();
}

/** Hex HMAC-SHA256 of a record's canonical JSON without its `mac` field. */
export function recordMac(runKey: Buffer, record: object): string {
  return createHmac('sha256', runKey).update(canonicalJson(record, MAC_FIELD)).digest('hex');
}

/** The record with its MAC added. */
export function signRecord<T extends object>(runKey: Buffer, record: T): T & { mac: string } {
  return { ...record, mac: recordMac(runKey, record) };
}

/** Whether the record carries a MAC that `runKey` made over exactly its other fields; compared in constant time. */
export function hasValidMac(runKey: Buffer, record: { readonly mac?: string | undefined }): boolean {
  if (typeof record.mac !== 'string' || !/^[0-9a-f]{64}$/.test(record.mac)) return false;
  return timingSafeEqual(Buffer.from(record.mac, 'hex'), Buffer.from(recordMac(runKey, record), 'hex'));
}
