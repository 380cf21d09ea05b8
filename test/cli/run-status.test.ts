import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import {
  DescribeExecutionCommand,
  ExecutionDoesNotExist,
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  SFNClient,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { deployedFailback, runStatus } from '../../cli/state-machine.js';
import { StackNotFoundError } from '../../core/adapters/aws/stack-outputs.js';
import { automatedMethod } from '../../core/methods/automated.js';
import type { FailbackMethod } from '../../core/methods/method.js';

const AUTOMATED_ARN = 'arn:aws:states:eu-west-1:123456789012:stateMachine:HomeboundAutomated';
const OTHER_ARN = 'arn:aws:states:eu-west-1:123456789012:stateMachine:HomeboundOther';
/** A second method as the registry will hold one: only the fields the CLI reads matter here. */
const otherMethod: FailbackMethod = {
  ...automatedMethod,
  name: 'other',
  stateMachineArnOutput: 'OtherFailbackStateMachineArn',
  constructId: 'OtherFailback',
} as unknown as FailbackMethod;
const methods = [automatedMethod, otherMethod];
const options = { stackName: 'Homebound' };
const env = {};
const execution = (machine: string, name: string) => `${machine.replace(':stateMachine:', ':execution:')}:${name}`;
const meta = { $metadata: { httpStatusCode: 400 } };

const sfnMock = mockClient(SFNClient);
const cfnMock = mockClient(CloudFormationClient);

beforeEach(() => {
  vi.stubEnv('AWS_REGION', 'eu-west-1');
  vi.stubEnv('AWS_ACCESS_KEY_ID', 'AKIDEXAMPLE');
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'local-test-secret');
  cfnMock.on(DescribeStacksCommand, { StackName: 'Homebound' }).resolves({
    Stacks: [
      {
        StackName: 'Homebound',
        CreationTime: new Date(),
        StackStatus: 'UPDATE_COMPLETE',
        Outputs: [
          { OutputKey: 'AutomatedFailbackStateMachineArn', OutputValue: AUTOMATED_ARN },
          { OutputKey: 'OtherFailbackStateMachineArn', OutputValue: OTHER_ARN },
        ],
      },
    ],
  });
  sfnMock.on(GetExecutionHistoryCommand).resolves({ events: [] });
});
afterEach(() => {
  vi.unstubAllEnvs();
  sfnMock.reset();
  cfnMock.reset();
});

describe('homebound status across methods', () => {
  it("finds a named run on whichever method's state machine ran it", async () => {
    sfnMock
      .on(DescribeExecutionCommand, { executionArn: execution(AUTOMATED_ARN, 'run-7') })
      .rejects(new ExecutionDoesNotExist({ message: 'Execution Does Not Exist', ...meta }));
    sfnMock
      .on(DescribeExecutionCommand, { executionArn: execution(OTHER_ARN, 'run-7') })
      .resolves({ name: 'run-7', status: 'RUNNING', startDate: new Date('2026-12-01T10:00:00Z') });

    const status = await runStatus(options, 'run-7', env, methods);

    expect(status.executionArn).toBe(execution(OTHER_ARN, 'run-7'));
    expect(status.status).toBe('RUNNING');
  });

  it('shows the latest run of all methods when none is named', async () => {
    for (const [machine, name, started] of [
      [AUTOMATED_ARN, 'older', '2026-12-01T10:00:00Z'],
      [OTHER_ARN, 'newer', '2026-12-02T10:00:00Z'],
    ] as const) {
      sfnMock.on(ListExecutionsCommand, { stateMachineArn: machine }).resolves({
        executions: [
          {
            executionArn: execution(machine, name),
            stateMachineArn: machine,
            name,
            status: 'SUCCEEDED',
            startDate: new Date(started),
          },
        ],
      });
      sfnMock
        .on(DescribeExecutionCommand, { executionArn: execution(machine, name) })
        .resolves({ name, status: 'SUCCEEDED', startDate: new Date(started) });
    }

    expect((await runStatus(options, undefined, env, methods)).runId).toBe('newer');
  });

  it('asks the state machine an execution ARN names, without reading the stack', async () => {
    const arn = execution(OTHER_ARN, 'run-9');
    sfnMock.on(DescribeExecutionCommand, { executionArn: arn }).resolves({ name: 'run-9', status: 'FAILED' });

    expect((await runStatus(options, arn, env, methods)).executionArn).toBe(arn);
    expect(cfnMock.commandCalls(DescribeStacksCommand)).toHaveLength(0);
  });

  it('says no run when no state machine has it', async () => {
    sfnMock
      .on(DescribeExecutionCommand)
      .rejects(new ExecutionDoesNotExist({ message: 'Execution Does Not Exist', ...meta }));
    await expect(runStatus(options, 'nope', env, methods)).rejects.toThrow(
      /no run .*:execution:HomeboundAutomated:nope/,
    );
  });
});

describe('homebound start picks the state machine of the request method', () => {
  it("uses the method's own stack output", async () => {
    expect((await deployedFailback(options, otherMethod, env)).stateMachineArn).toBe(OTHER_ARN);
    expect((await deployedFailback(options, automatedMethod, env)).stateMachineArn).toBe(AUTOMATED_ARN);
  });

  it('names the missing output when the stack has no state machine for the method', async () => {
    const missing = { ...otherMethod, name: 'later', stateMachineArnOutput: 'LaterFailbackStateMachineArn' };
    await expect(deployedFailback(options, missing, env)).rejects.toThrow(StackNotFoundError);
    await expect(deployedFailback(options, missing, env)).rejects.toThrow(
      /no output LaterFailbackStateMachineArn \(the later method's state machine\)/,
    );
  });
});
