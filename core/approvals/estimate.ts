import type { ApprovalSummary } from '../failback/run-state.js';

/** What the approver is told to expect if they approve. */
export interface CutoverEstimate {
  /** The final pass carries about what the last one did, so it takes about as long. */
  readonly finalPassSeconds: number;
  /** Takeover hosts stopped → failback hosts verified: the final pass plus the fixed steps around it. */
  readonly downtimeSeconds: number;
}

/**
 * Time the cutover takes besides the final pass on AWS: stopping the takeover hosts, the final snapshot becoming
 * readable, moving the volumes and starting the failback hosts. A rough figure from EC2 stop/start times; the page
 * calls the result an estimate.
 */
export const AWS_CUTOVER_OVERHEAD_SECONDS = 180;

/** Estimates the final pass and the downtime from the last pass. */
export function estimateCutover(summary: ApprovalSummary, overheadSeconds: number): CutoverEstimate {
  const finalPassSeconds = Math.ceil(summary.lastPassSeconds);
  return { finalPassSeconds, downtimeSeconds: finalPassSeconds + overheadSeconds };
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'] as const;

/** 1536 → "1.5 KiB". */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${UNITS[unit]}`;
}

/** 75 → "1 min 15 s". */
export function formatSeconds(seconds: number): string {
  const whole = Math.round(seconds);
  if (whole < 60) return `${whole} s`;
  const minutes = Math.floor(whole / 60);
  if (minutes < 60) return `${minutes} min${whole % 60 ? ` ${whole % 60} s` : ''}`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** Epoch seconds → "2026-11-23 17:30 UTC". */
export function formatDeadline(epochSeconds: number): string {
  return `${new Date(epochSeconds * 1000).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}
