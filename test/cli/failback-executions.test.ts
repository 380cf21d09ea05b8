import { readFileSync } from 'node:fs';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  ListExecutionsCommand,
  SFNClient,
  SFNServiceException,
  StartExecutionCommand,
  StateMachineDoesNotExist,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import {
  APPROVAL_STATE,
  defaultRunId,
  FailbackExecutions,
  PASS_RECORDED_STATE,
} from '../../core/adapters/aws/failback-executions.js';
import {
  AccessDeniedError,
  RunAlreadyExistsError,
  RunNotFoundError,
  StateMachineNotFoundError,
} from '../../core/adapters/aws/sfn-errors.js';
import { StackNotFoundError, stateMachineArnFromStack } from '../../core/adapters/aws/stack-outputs.js';
import { parseFailbackRequest } from '../../core/failback/request.js';
import { automatedMethod } from '../../core/methods/automated.js';
import { conditionalAutomatedMethod } from '../../core/methods/conditional-automated.js';
import { definitionPath } from '../../core/methods/method.js';

const ARN = 'arn:aws:states:eu-west-1:123456789012:stateMachine:HomeboundAutomatedFailback';
const sfnMock = mockClient(SFNClient);
const cfnMock = mockClient(CloudFormationClient);
const request = parseFailbackRequest({
  method: 'automated',
  hosts: ['i-0123456789abcdef0'],
  target: { platform: 'aws', region: 'eu-west-1' },
});
const executions = () => new FailbackExecutions(new SFNClient({ region: 'eu-west-1' }), ARN);
const meta = { $metadata: { httpStatusCode: 400 } };

afterEach(() => {
  sfnMock.reset();
  cfnMock.reset();
});

/** A history event of `type` for state `name`, ids in order. */
let eventId = 0;
function stateEvent(type: 'entered' | 'exited', name: string, kind: 'Task' | 'Fail' = 'Task'): HistoryEvent {
  eventId += 1;
  return type === 'entered'
    ? {
        id: eventId,
        timestamp: new Date(),
        type: `${kind}StateEntered` as HistoryEvent['type'],
        stateEnteredEventDetails: { name },
      }
    : {
        id: eventId,
        timestamp: new Date(),
        type: `${kind}StateExited` as HistoryEvent['type'],
        stateExitedEventDetails: { name },
      };
}
const pass = (): HistoryEvent[] => [
  stateEvent('entered', PASS_RECORDED_STATE),
  stateEvent('exited', PASS_RECORDED_STATE),
];

describe('homebound start (StartExecution)', () => {
  it('starts the state machine named by the run id, with the validated request as input', async () => {
    sfnMock.on(StartExecutionCommand).resolves({
      executionArn: `${ARN.replace('stateMachine', 'execution')}:drill-1`,
      startDate: new Date('2025-01-02T03:04:05Z'),
    });
    const run = await executions().start(request, 'drill-1');
    const call = sfnMock.commandCalls(StartExecutionCommand)[0]?.args[0].input;
    expect(call?.stateMachineArn).toBe(ARN);
    expect(call?.name).toBe('drill-1');
    expect(JSON.parse(call?.input ?? '')).toEqual(request);
    expect(run).toEqual({
      runId: 'drill-1',
      executionArn: 'arn:aws:states:eu-west-1:123456789012:execution:HomeboundAutomatedFailback:drill-1',
      startDate: '2025-01-02T03:04:05.000Z',
    });
  });

  it('names a run after its plan, so the same plan started twice is one run', () => {
    const again = parseFailbackRequest(JSON.parse(JSON.stringify(request)));
    const other = parseFailbackRequest({ ...request, hosts: ['i-0fedcba9876543210'] });
    expect(defaultRunId(again)).toBe(defaultRunId(request));
    expect(defaultRunId(other)).not.toBe(defaultRunId(request));
    expect(defaultRunId(request)).toMatch(/^failback-[0-9a-f]{16}$/);
  });

  it('reports a name already taken as RunAlreadyExistsError naming the run', async () => {
    sfnMock
      .on(StartExecutionCommand)
      .rejects(new ExecutionAlreadyExists({ message: 'Execution Already Exists', ...meta }));
    const started = executions().start(request, 'drill-1');
    await expect(started).rejects.toThrow(RunAlreadyExistsError);
    await expect(started).rejects.toThrow(/"drill-1".*homebound status drill-1/);
  });

  it('reports a missing state machine as StateMachineNotFoundError naming its ARN', async () => {
    sfnMock
      .on(StartExecutionCommand)
      .rejects(new StateMachineDoesNotExist({ message: 'State Machine Does Not Exist', ...meta }));
    await expect(executions().start(request, 'drill-1')).rejects.toThrow(new StateMachineNotFoundError(ARN));
  });

  it('reports a denial as AccessDeniedError naming the action and the state machine', async () => {
    sfnMock.on(StartExecutionCommand).rejects(
      new SFNServiceException({
        name: 'AccessDeniedException',
        $fault: 'client',
        message: 'not authorized',
        ...meta,
      }),
    );
    const started = executions().start(request, 'drill-1');
    await expect(started).rejects.toThrow(AccessDeniedError);
    await expect(started).rejects.toThrow(
      `AWS denied StartExecution on ${ARN}: not authorized (the caller needs states:StartExecution on it)`,
    );
  });

  it('refuses a run id Step Functions would refuse, calling nothing', async () => {
    await expect(executions().start(request, 'run with spaces')).rejects.toThrow(/run name "run with spaces"/);
    expect(sfnMock.calls()).toHaveLength(0);
  });
});

describe('homebound status (DescribeExecution, GetExecutionHistory)', () => {
  const executionArn = 'arn:aws:states:eu-west-1:123456789012:execution:HomeboundAutomatedFailback:drill-1';

  it('says a run parked at the approval is waiting for it, with the passes so far, reading no execution data', async () => {
    sfnMock.on(DescribeExecutionCommand).resolves({
      executionArn,
      stateMachineArn: ARN,
      name: 'drill-1',
      status: 'RUNNING',
      startDate: new Date('2025-01-02T03:04:05Z'),
    });
    sfnMock
      .on(GetExecutionHistoryCommand)
      .resolvesOnce({ events: [stateEvent('entered', 'ValidateRequest'), ...pass(), ...pass()], nextToken: 'page-2' })
      .resolvesOnce({ events: [...pass(), stateEvent('entered', APPROVAL_STATE)] });

    const status = await executions().status('drill-1');

    expect(status).toMatchObject({
      runId: 'drill-1',
      executionArn,
      status: 'RUNNING',
      currentState: APPROVAL_STATE,
      passes: 3,
      waitingForApproval: true,
    });
    const pages = sfnMock.commandCalls(GetExecutionHistoryCommand).map((call) => call.args[0].input);
    expect(pages.map((page) => [page.executionArn, page.includeExecutionData, page.nextToken])).toEqual([
      [executionArn, false, undefined],
      [executionArn, false, 'page-2'],
    ]);
    expect(sfnMock.commandCalls(DescribeExecutionCommand)[0]?.args[0].input.includedData).toBe('METADATA_ONLY');
  });

  it('says a run past the approval is no longer waiting for it', async () => {
    sfnMock
      .on(DescribeExecutionCommand)
      .resolves({ executionArn, name: 'drill-1', status: 'RUNNING', startDate: new Date() });
    sfnMock.on(GetExecutionHistoryCommand).resolves({
      events: [
        ...pass(),
        stateEvent('entered', APPROVAL_STATE),
        stateEvent('exited', APPROVAL_STATE),
        stateEvent('entered', 'CatchUpAfterApproval'),
      ],
    });
    expect(await executions().status(executionArn)).toMatchObject({
      currentState: 'CatchUpAfterApproval',
      waitingForApproval: false,
      passes: 1,
    });
  });

  it('gives the error and cause of a failed run', async () => {
    sfnMock.on(DescribeExecutionCommand).resolves({
      executionArn,
      name: 'drill-1',
      status: 'FAILED',
      startDate: new Date('2025-01-02T03:04:05Z'),
      stopDate: new Date('2025-01-02T04:00:00Z'),
      error: 'FailbackRolledBack',
      cause: 'cutover rejected: not tonight',
    });
    sfnMock.on(GetExecutionHistoryCommand).resolves({ events: [stateEvent('entered', 'RolledBack', 'Fail')] });
    expect(await executions().status('drill-1')).toMatchObject({
      status: 'FAILED',
      stopDate: '2025-01-02T04:00:00.000Z',
      currentState: 'RolledBack',
      waitingForApproval: false,
      error: 'FailbackRolledBack',
      cause: 'cutover rejected: not tonight',
    });
  });

  it('shows the latest run when none is named', async () => {
    sfnMock.on(ListExecutionsCommand).resolves({
      executions: [{ executionArn, stateMachineArn: ARN, name: 'drill-1', status: 'RUNNING', startDate: new Date() }],
    });
    sfnMock
      .on(DescribeExecutionCommand)
      .resolves({ executionArn, name: 'drill-1', status: 'RUNNING', startDate: new Date() });
    sfnMock.on(GetExecutionHistoryCommand).resolves({ events: [] });
    expect((await executions().status()).executionArn).toBe(executionArn);
    expect(sfnMock.commandCalls(ListExecutionsCommand)[0]?.args[0].input).toEqual({
      stateMachineArn: ARN,
      maxResults: 1,
    });
  });

  it('reports an unknown run as RunNotFoundError naming it', async () => {
    sfnMock
      .on(DescribeExecutionCommand)
      .rejects(new ExecutionDoesNotExist({ message: 'Execution Does Not Exist', ...meta }));
    await expect(executions().status('nope')).rejects.toThrow(RunNotFoundError);
    await expect(executions().status('nope')).rejects.toThrow(
      /no run arn:aws:states:.*:execution:HomeboundAutomatedFailback:nope/,
    );
  });

  it('reads progress from states the automated failback has', () => {
    const states = JSON.stringify(JSON.parse(readFileSync(definitionPath(automatedMethod), 'utf8')).States);
    for (const name of [PASS_RECORDED_STATE, APPROVAL_STATE]) expect(states).toContain(`"${name}":{`);
  });
});

describe('the state machine ARN from the stack', () => {
  it("reads the stack's AutomatedFailbackStateMachineArn output", async () => {
    cfnMock.on(DescribeStacksCommand, { StackName: 'Homebound' }).resolves({
      Stacks: [
        {
          StackName: 'Homebound',
          CreationTime: new Date(),
          StackStatus: 'CREATE_COMPLETE',
          Outputs: [
            { OutputKey: 'StagingBucketName', OutputValue: 'bucket' },
            { OutputKey: 'AutomatedFailbackStateMachineArn', OutputValue: ARN },
          ],
        },
      ],
    });
    expect(
      await stateMachineArnFromStack(new CloudFormationClient({ region: 'eu-west-1' }), 'Homebound', automatedMethod),
    ).toBe(ARN);
  });

  it("reads the conditional-automated method's own output when the stack has both methods'", async () => {
    const conditionalArn = ARN.replace('AutomatedFailback', 'ConditionalAutomatedFailback');
    cfnMock.on(DescribeStacksCommand, { StackName: 'Homebound' }).resolves({
      Stacks: [
        {
          StackName: 'Homebound',
          CreationTime: new Date(),
          StackStatus: 'CREATE_COMPLETE',
          Outputs: [
            { OutputKey: 'AutomatedFailbackStateMachineArn', OutputValue: ARN },
            { OutputKey: 'ConditionalAutomatedFailbackStateMachineArn', OutputValue: conditionalArn },
          ],
        },
      ],
    });
    const cloudFormation = new CloudFormationClient({ region: 'eu-west-1' });
    expect(conditionalArn).not.toBe(ARN);
    expect(await stateMachineArnFromStack(cloudFormation, 'Homebound', conditionalAutomatedMethod)).toBe(
      conditionalArn,
    );
    expect(await stateMachineArnFromStack(cloudFormation, 'Homebound', automatedMethod)).toBe(ARN);
  });

  it('reports a stack that is not deployed as StackNotFoundError naming it', async () => {
    cfnMock
      .on(DescribeStacksCommand)
      .rejects(
        Object.assign(new Error('Stack with id Homebound does not exist'), { name: 'ValidationError', ...meta }),
      );
    await expect(
      stateMachineArnFromStack(new CloudFormationClient({ region: 'eu-west-1' }), 'Homebound', automatedMethod),
    ).rejects.toThrow(
      new StackNotFoundError(
        'stack Homebound does not exist in this account and Region; deploy it, set AWS_REGION, or pass --stack-name or --state-machine-arn',
      ),
    );
  });
});
