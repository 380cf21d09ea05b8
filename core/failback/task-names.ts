/**
 * The names of the Lambda tasks (core/failback/tasks.ts), apart from the table so a method description
 * (core/methods/) can list its tasks without importing the steps — the steps import the request, which the methods
 * define. tsc holds this list and the table's keys equal.
 */
export const FAILBACK_TASK_NAMES = [
  'ValidateRequest',
  'PrepareTarget',
  'PlanOnPremRun',
  'SnapshotVolumes',
  'CheckSnapshots',
  'StreamPass',
  'CheckApplied',
  'RecordPass',
  'LaunchFailbackHosts',
  'SetHostPower',
  'CheckHosts',
  'RequestApproval',
  'VerifyDecision',
  'Cutover',
  'CheckHostHealth',
  'VerifyFailback',
  'RetireTakeoverHosts',
  'Rollback',
  'CleanUp',
  'Report',
] as const;

export type FailbackTaskName = (typeof FAILBACK_TASK_NAMES)[number];
