import type { Command } from 'commander';
import type { RunStatus } from '../../core/adapters/aws/failback-executions.js';
import { runStatus, type StateMachineOptions, withStateMachineOptions } from '../state-machine.js';

interface StatusOptions extends StateMachineOptions {
  json?: boolean;
}

/** `homebound status`: where a run on AWS stands, from DescribeExecution and its history. */
export function registerStatus(program: Command): void {
  withStateMachineOptions(
    program
      .command('status')
      .description(
        'Show a failback run on AWS: status, current state, passes, whether it awaits approval, failure cause',
      )
      .argument('[run]', 'run id (execution name) or execution ARN (default: the latest run)')
      .option('--json', 'print the status as JSON'),
  ).action(async (run: string | undefined, options: StatusOptions) => {
    const status = await runStatus(options, run);
    console.log(options.json ? JSON.stringify(status, null, 2) : describeStatus(status));
  });
}

/** The status for a terminal, one fact per line. */
export function describeStatus(status: RunStatus): string {
  const lines = [
    `run ${status.runId}: ${status.status}`,
    `started ${status.startDate}${status.stopDate ? `, ended ${status.stopDate}` : ''}`,
    `${status.status === 'RUNNING' ? 'current state' : 'last state'}: ${status.currentState ?? '(none yet)'}`,
    `passes recorded: ${status.passes}`,
  ];
  if (status.waitingForApproval) lines.push('waiting for the cutover approval (issue it through the approval channel)');
  if (status.error) lines.push(`error: ${status.error}${status.cause ? `: ${status.cause}` : ''}`);
  lines.push(`execution: ${status.executionArn}`);
  return lines.join('\n');
}
