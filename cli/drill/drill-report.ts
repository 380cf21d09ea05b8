import type { HostState } from '../../core/compute/port.js';
import type { LocalRunEvent } from '../../core/orchestration/local-runner.js';
import type { VolumeCheck, WritesCheck } from './verify.js';

/** `homebound drill --json`: what happened, and whether it checks out. */
export interface DrillReport {
  readonly format: 'homebound.drill-report/v1';
  readonly runId: string;
  readonly status: 'succeeded' | 'rolled-back' | 'failed';
  /** Why the run rolled back or failed. */
  readonly reason?: string;
  /** Succeeded: every failback volume is byte-identical to its takeover volume as it stopped, and holds every write.
   * Rolled back: the takeover hosts run again and every write they made is still on their volumes. */
  readonly verified: boolean;
  readonly options: Readonly<Record<string, unknown>>;
  readonly volumes: readonly VolumeCheck[];
  readonly writes: WritesCheck;
  readonly passes: readonly {
    readonly number: number;
    readonly kind: 'full' | 'incremental';
    readonly final: boolean;
    readonly bytesChanged: number;
    readonly bytesStaged: number;
    readonly blocks: number;
    readonly seconds: number;
    /** When the pass started (ISO 8601): places the cutover decision among the passes in the HTML chart. */
    readonly startedAt?: string;
  }[];
  readonly bytesChanged: number;
  readonly bytesStaged: number;
  readonly downtimeSeconds: number | null;
  /** The cutover decision as audited (absent when none was taken, e.g. a failure before approval or a timeout). */
  readonly decision?: {
    readonly outcome: string;
    readonly approver: string;
    readonly channel: string;
    readonly decidedAt: string;
  };
  readonly phases: readonly { readonly name: string; readonly seconds: number }[];
  readonly hosts: readonly {
    readonly hostId: string;
    readonly name: string;
    readonly role: string;
    readonly state: HostState;
  }[];
  readonly startedAt: string;
  readonly seconds: number;
}

/** The phases of a run, each starting at the first entry into one of these states. */
const PHASES: readonly { name: string; starts: readonly string[] }[] = [
  { name: 'validate and prepare the target', starts: ['ValidateRequest'] },
  { name: 'passes while the takeover hosts serve', starts: ['SnapshotVolumes'] },
  { name: 'failback hosts launched', starts: ['LaunchFailbackHosts'] },
  { name: 'waiting for approval', starts: ['RequestApproval'] },
  { name: 'catch-up pass', starts: ['CatchUpAfterApproval'] },
  { name: 'cutover (takeover stopped → failback verified)', starts: ['StopTakeoverHosts'] },
  { name: 'retire takeover hosts, clean up, report', starts: ['RetireTakeoverHosts'] },
  { name: 'rollback', starts: ['Rollback'] },
];

/** How long each phase the run went through lasted, from its history. */
export function phaseDurations(history: readonly LocalRunEvent[]): { name: string; seconds: number }[] {
  const starts: { name: string; at: number }[] = [];
  for (const phase of PHASES) {
    const entered = history.find((event) => event.type === 'StateEntered' && phase.starts.includes(event.stateName));
    if (entered) starts.push({ name: phase.name, at: entered.timestamp });
  }
  starts.sort((a, b) => a.at - b.at);
  const end = history.at(-1)?.timestamp ?? Date.now();
  return starts.map((phase, i) => ({
    name: phase.name,
    seconds: ((starts[i + 1]?.at ?? end) - phase.at) / 1000,
  }));
}
