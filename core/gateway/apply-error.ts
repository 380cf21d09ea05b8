import { z } from 'zod';
import { passPrefix } from '../engine/layout.js';
import { parseStagedJson } from '../engine/manifest.js';
import { StagedObjectMissingError } from '../errors.js';
import type { Staging } from '../ports.js';

/**
 * The record a gateway leaves in staging when it cannot apply a pass, next to where ack.json would appear, so the
 * control plane waiting for the ack fails fast with the gateway's named error instead of timing out.
 *
 *   <volumeKey>/pass-000001/apply-error.json
 */

export const APPLY_ERROR_FORMAT = 'homebound.apply-error/v1';
export const APPLY_ERROR_KEY = 'apply-error.json';

export const ApplyErrorRecord = z.object({
  format: z.literal(APPLY_ERROR_FORMAT),
  volumeKey: z.string(),
  passNumber: z.number().int().positive(),
  /** The error's class name, e.g. CorruptSegmentError. */
  error: z.string(),
  message: z.string(),
  /** ISO 8601 time the gateway gave up on the pass. */
  at: z.string(),
  /** HMAC-SHA256 (hex) over the other fields with the run's gateway key (core/engine/run-key.ts). */
  mac: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
});
export type ApplyErrorRecord = z.infer<typeof ApplyErrorRecord>;

/** Staging key of the apply-error record of one pass. */
export function applyErrorKey(volumeKey: string, passNumber: number): string {
  return passPrefix(volumeKey, passNumber) + APPLY_ERROR_KEY;
}

/** Builds the record for an error thrown while applying a pass. */
export function applyErrorRecord(volumeKey: string, passNumber: number, error: unknown): ApplyErrorRecord {
  return {
    format: APPLY_ERROR_FORMAT,
    volumeKey,
    passNumber,
    error: error instanceof Error ? error.name : 'Error',
    message: error instanceof Error ? error.message : String(error),
    at: new Date().toISOString(),
  };
}

/**
 * The apply-error record of a pass, or undefined when the gateway has not reported one.
 * @throws CorruptSegmentError when the object is not a valid record.
 */
export async function readApplyError(
  staging: Staging,
  volumeKey: string,
  passNumber: number,
): Promise<ApplyErrorRecord | undefined> {
  const key = applyErrorKey(volumeKey, passNumber);
  const body = await staging.get(key).catch((error: unknown) => {
    if (error instanceof StagedObjectMissingError) return undefined;
    throw error;
  });
  return body && parseStagedJson(ApplyErrorRecord, body, key);
}
