import type { HealthCheckFault } from '../../core/health/rehearsal.js';
import type { EbsFaults } from '../../core/localcloud/ebs-faults.js';
import type { FailbackMethod } from '../../core/methods/method.js';
import type { DrillApproval } from './fail-at.js';

/** What `homebound drill` was asked to rehearse. */
export interface DrillOptions {
  /** The method rehearsed: its ASL and tasks are what the local runner loads (core/methods/registry.ts). */
  readonly method: FailbackMethod;
  /** Takeover hosts of the fleet (`--hosts`). @default 1 */
  readonly hosts: number;
  /** Cutover waves the hosts are split into (`--waves`, at most `hosts`). @default 1 */
  readonly waves: number;
  /** Failback hosts whose health check fails on purpose (`--fail-health-check HOST|wave:K`). @default none */
  readonly healthCheckFaults?: readonly HealthCheckFault[];
  /** How long a wave may take to pass its health checks (the request's cutover.healthTimeoutSeconds). @default 30 */
  readonly healthTimeoutSeconds?: number;
  /** Volumes per takeover host. */
  readonly volumes: number;
  readonly sizeMiB: number;
  readonly writesPerSecond: number;
  readonly thresholdMiB: number;
  readonly maxPasses: number;
  readonly approvalTimeoutSeconds: number;
  /** How the cutover is decided: at once, rejected at once, or by a person (terminal or localhost page). */
  readonly approval: DrillApproval;
  /**
   * Rehearse a rejected run and then a second, approved execution on the same takeover host that starts from the
   * target volumes the first one kept (`approval` is then ignored: reject, then approve).
   */
  readonly rejectThenRetry?: boolean | undefined;
  /**
   * `--reuse-original [--divergence-pct P] [--seed-unrelated]`: seed each takeover volume's target with an original
   * disk that survived at home — a copy made at the failover with `divergencePct` % of its blocks written afterwards
   * (random data instead of a copy with `unrelated`) — so the first pass is seeded. @default none: a full first pass
   */
  readonly reuseOriginal?: ReuseOriginal | undefined;
  /** Task states made to fail whenever the run reaches them. */
  readonly failAt: readonly string[];
  readonly seed: number;
  /** Keep everything here instead of a temp dir that is removed afterwards. */
  readonly workDir?: string | undefined;
  /** Keep the temp work dir at the end (and after Ctrl-C) instead of removing it. */
  readonly keepWorkDir?: boolean | undefined;
  /** Draw a progress bar (a terminal). */
  readonly interactive: boolean;
  /** Faults the local EBS server injects (drill --ebs-throttle-rate …). @default none */
  readonly ebsFaults?: EbsFaults;
}

/** What `--reuse-original` asks (cli/drill/reuse-original.ts for the automated method). */
export interface ReuseOriginal {
  /** Share of each original's blocks written at home after the failover, in %. @default 2 */
  readonly divergencePct: number;
  /** Random originals instead of copies: a seed that saves nothing (the run still ends identical). @default false */
  readonly unrelated?: boolean | undefined;
}

/** `--divergence-pct`'s default. */
export const DEFAULT_DIVERGENCE_PCT = 2;
