import { Duration } from 'aws-cdk-lib';
import type { FailbackTaskName } from '../core/failback/tasks.js';
import type { FailbackAccess } from './failback-permissions.js';

export interface FailbackTaskSettings {
  /** Entry file under functions/. */
  readonly entry: string;
  readonly description: string;
  /** At most the smallest TimeoutSeconds of the ASL states that call it, so the state sees the Lambda's own error. */
  readonly timeout: Duration;
  /** @default 512 */
  readonly memorySize?: number;
  readonly access: readonly FailbackAccess[];
  /**
   * Runs in the configured subnet with the health-check security group (egress only), so it reaches failback hosts'
   * private addresses; it then reaches AWS APIs only through the subnet's NAT or VPC endpoints. @default false
   */
  readonly inVpc?: boolean;
}

/**
 * Every failback Task's function: entry, limits and what it may do. Typed against the task table, so a Task added
 * to core/failback/tasks.ts without a row here fails `tsc`.
 */
export const failbackTaskSettings = {
  ValidateRequest: {
    entry: 'functions/validate-request.ts',
    description: 'Checks the failback request and discovers the takeover hosts',
    timeout: Duration.minutes(1),
    access: ['ec2:describe'],
  },
  PrepareTarget: {
    entry: 'functions/prepare-target.ts',
    description: 'Creates the target volumes and the sync gateways',
    timeout: Duration.minutes(5),
    access: [
      'ec2:describe',
      'ec2:createVolumes',
      'ec2:launchGateway',
      'iam:passGatewayRole',
      'ec2:moveVolumes',
      'ec2:keepTargets',
      'ec2:takeOverSeeds',
      'staging',
    ],
  },
  PlanOnPremRun: {
    entry: 'functions/plan-on-prem-run.ts',
    description: 'Plans the on-prem side of a conditional-automated run (VM sizes, disk order, run key)',
    timeout: Duration.minutes(1),
    access: ['ec2:describe'],
  },
  SnapshotVolumes: {
    entry: 'functions/snapshot-volumes.ts',
    description: 'Takes crash-consistent snapshots of the takeover hosts',
    timeout: Duration.minutes(2),
    access: ['ec2:describe', 'ec2:snapshot'],
  },
  CheckSnapshots: {
    entry: 'functions/check-snapshots.ts',
    description: "Reports whether the pass snapshots completed; writes the pass's StreamPass items once they did",
    timeout: Duration.minutes(2),
    access: ['ec2:describe', 'staging'],
  },
  StreamPass: {
    entry: 'functions/stream-pass.ts',
    description: "Streams one volume's pass into staging, continuing from its cursor",
    timeout: Duration.minutes(15),
    // ~1 vCPU: SHA-256 of every block and ~100 parallel EBS connections.
    memorySize: 1769,
    access: ['ebs:read', 'staging'],
  },
  CheckApplied: {
    entry: 'functions/check-applied.ts',
    description: "Checks the sync gateways' acknowledgements of a pass",
    timeout: Duration.minutes(2),
    access: ['ec2:describe', 'staging'],
  },
  RecordPass: {
    entry: 'functions/record-pass.ts',
    description: 'Records a pass, decides convergence, deletes superseded snapshots',
    timeout: Duration.minutes(2),
    access: ['ec2:deleteSnapshots', 'staging'],
  },
  LaunchFailbackHosts: {
    entry: 'functions/launch-failback-hosts.ts',
    description: 'Launches the failback hosts for verification',
    timeout: Duration.minutes(5),
    access: ['ec2:describe', 'ec2:launchFailbackHosts'],
  },
  SetHostPower: {
    entry: 'functions/set-host-power.ts',
    description: 'Starts or stops hosts',
    timeout: Duration.minutes(2),
    access: ['ec2:power'],
  },
  CheckHosts: {
    entry: 'functions/check-hosts.ts',
    description: 'Reports whether hosts reached a state',
    timeout: Duration.minutes(2),
    access: ['ec2:describe'],
  },
  RequestApproval: {
    entry: 'functions/request-approval.ts',
    description: 'Stores the task token under an opaque id and asks the approvers (email, Slack)',
    timeout: Duration.minutes(1),
    access: [],
  },
  VerifyDecision: {
    entry: 'functions/verify-decision.ts',
    description: 'Re-reads the cutover decision from the approval store before anything stops',
    timeout: Duration.minutes(1),
    // Read-only on the approval tables, granted by Approvals.connectVerifier (lib/approvals.ts); nothing on EC2.
    access: [],
  },
  Cutover: {
    entry: 'functions/cutover.ts',
    description: 'Moves the target volumes to the failback hosts and starts them',
    timeout: Duration.minutes(5),
    access: ['ec2:describe', 'ec2:moveVolumes', 'ec2:power'],
  },
  CheckHostHealth: {
    entry: 'functions/check-host-health.ts',
    description: "Runs a wave's health checks on its failback hosts (state, TCP, HTTP(S), SSM Run Command)",
    // A round checks every host of the wave at once; one check waits at most 600 s (an SSM command).
    timeout: Duration.minutes(12),
    access: ['ec2:describe', 'ssm:healthChecks'],
    // TCP and HTTP checks connect to the hosts' private addresses.
    inVpc: true,
  },
  VerifyFailback: {
    entry: 'functions/verify-failback.ts',
    description: 'Verifies the failback hosts run on the synced volumes',
    timeout: Duration.minutes(2),
    access: ['ec2:describe', 'staging'],
  },
  RetireTakeoverHosts: {
    entry: 'functions/retire-takeover-hosts.ts',
    description: 'Stops and tags the takeover hosts after a verified failback',
    timeout: Duration.minutes(2),
    access: ['ec2:describe', 'ec2:power', 'ec2:retire', 'ec2:markLive'],
  },
  Rollback: {
    entry: 'functions/rollback.ts',
    description: 'Stops the failback hosts and names, by wave, the takeover hosts to restart',
    timeout: Duration.minutes(5),
    access: ['ec2:describe', 'ec2:power'],
  },
  CleanUp: {
    entry: 'functions/clean-up.ts',
    description:
      'Terminates the gateway, deletes temporary snapshots and staged segments; after a rollback terminates the failback hosts and keeps targets',
    timeout: Duration.minutes(5),
    access: [
      'ec2:describe',
      'ec2:terminateGateway',
      'ec2:removeFailbackHosts',
      'ec2:deleteSnapshots',
      'ec2:keepTargets',
      'staging',
    ],
  },
  Report: {
    entry: 'functions/report.ts',
    description: 'Writes the run report',
    timeout: Duration.minutes(2),
    access: ['ec2:describe', 'staging'],
  },
} as const satisfies Record<FailbackTaskName, FailbackTaskSettings>;
