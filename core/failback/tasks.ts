import type { z } from 'zod';
import type { FailbackDeps } from './run-state.js';
import { RequestApprovalInput, requestApproval } from './steps/approval.js';
import { CheckAppliedInput, checkApplied } from './steps/check-applied.js';
import { CheckHostHealthInput, checkHostHealth } from './steps/check-host-health.js';
import { CleanUpInput, cleanUp } from './steps/clean-up.js';
import {
  CutoverWaveInput,
  cutover,
  RetireTakeoverHostsInput,
  retireTakeoverHosts,
  VerifyFailbackInput,
  verifyFailback,
} from './steps/cutover.js';
import {
  CheckHostsInput,
  checkHosts,
  LaunchFailbackHostsInput,
  launchFailbackHosts,
  SetHostPowerInput,
  setHostPower,
} from './steps/hosts.js';
import { PlanOnPremRunInput, planOnPremRun } from './steps/plan-on-prem-run.js';
import { PrepareTargetInput, prepareTarget } from './steps/prepare-target.js';
import { RecordPassInput, recordPass } from './steps/record-pass.js';
import { ReportInput, report } from './steps/report.js';
import { RollbackInput, rollback } from './steps/rollback.js';
import { CheckSnapshotsInput, checkSnapshots, SnapshotVolumesInput, snapshotVolumes } from './steps/snapshots.js';
import { StreamPassInput, streamPass } from './steps/stream-pass-task.js';
import { ValidateRequestInput, validateRequest } from './steps/validate-request.js';
import { VerifyDecisionInput, verifyDecision } from './steps/verify-decision.js';
import type { FailbackTaskName } from './task-names.js';

/** One Task of the state machine: the schema its input must satisfy and the step it runs. */
export interface FailbackTask<I> {
  readonly input: z.ZodType<I>;
  /** `deadline` (epoch ms) is when the invocation must have returned; only long steps look at it. `signal` aborts
   * when the invocation is given up (its Task timed out, the execution ended): long steps stop their calls. */
  readonly run: (input: I, deps: FailbackDeps, deadline: number, signal: AbortSignal) => Promise<unknown>;
}

function task<I>(input: z.ZodType<I>, run: FailbackTask<I>['run']): FailbackTask<I> {
  return { input, run };
}

/**
 * Every Lambda task of every method by the name of its `${…FunctionArn}` placeholder, without the `FunctionArn`
 * suffix: one Lambda per name, shared by each method whose ASL binds it (a method lists its own in core/methods/).
 * The Lambda entry points in functions/ and the local runner both bind from this table.
 */
export const failbackTasks = {
  ValidateRequest: task(ValidateRequestInput, validateRequest),
  PrepareTarget: task(PrepareTargetInput, prepareTarget),
  PlanOnPremRun: task(PlanOnPremRunInput, planOnPremRun),
  SnapshotVolumes: task(SnapshotVolumesInput, snapshotVolumes),
  CheckSnapshots: task(CheckSnapshotsInput, checkSnapshots),
  StreamPass: task(StreamPassInput, streamPass),
  CheckApplied: task(CheckAppliedInput, checkApplied),
  RecordPass: task(RecordPassInput, recordPass),
  LaunchFailbackHosts: task(LaunchFailbackHostsInput, launchFailbackHosts),
  SetHostPower: task(SetHostPowerInput, setHostPower),
  CheckHosts: task(CheckHostsInput, checkHosts),
  RequestApproval: task(RequestApprovalInput, requestApproval),
  VerifyDecision: task(VerifyDecisionInput, verifyDecision),
  Cutover: task(CutoverWaveInput, cutover),
  CheckHostHealth: task(CheckHostHealthInput, checkHostHealth),
  VerifyFailback: task(VerifyFailbackInput, verifyFailback),
  RetireTakeoverHosts: task(RetireTakeoverHostsInput, retireTakeoverHosts),
  Rollback: task(RollbackInput, rollback),
  CleanUp: task(CleanUpInput, cleanUp),
  Report: task(ReportInput, report),
} as const;

export type { FailbackTaskName } from './task-names.js';

// Every listed name has a task and no task is unlisted: a mismatch fails tsc here.
const sameNames: [FailbackTaskName, keyof typeof failbackTasks] extends [keyof typeof failbackTasks, FailbackTaskName]
  ? true
  : never = true;
void sameNames;
