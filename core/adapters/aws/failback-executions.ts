import { createHash } from 'node:crypto';
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  ListExecutionsCommand,
  type SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { InvalidInputError } from '../../errors.js';
import type { FailbackRequest } from '../../failback/request.js';
import { RunId } from '../../failback/run-state.js';
import { mapSfnError, RunNotFoundError } from './sfn-errors.js';

/** The ASL states whose events tell a run's progress (statemachines/automated-failback.asl.json). */
export const PASS_RECORDED_STATE = 'RecordPass';
export const APPROVAL_STATE = 'RequestApproval';

const STATE_MACHINE_ARN = /^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:stateMachine:[A-Za-z0-9_-]+$/;
const EXECUTION_ARN = /^(arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}):execution:([A-Za-z0-9_-]+):[A-Za-z0-9_-]+$/;

export interface StartedRun {
  readonly runId: string;
  readonly executionArn: string;
  readonly startDate: string;
}

/** What `homebound status` reports about one run. Never the execution's input or output (the task token). */
export interface RunStatus {
  readonly runId: string;
  readonly executionArn: string;
  /** RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED (or PENDING_REDRIVE). */
  readonly status: string;
  readonly startDate: string;
  readonly stopDate?: string;
  /** The state the run is in (RUNNING) or was last in. */
  readonly currentState?: string;
  /** Passes recorded so far (the full one included). */
  readonly passes: number;
  /** Running and parked at the cutover approval: a human decision is awaited. */
  readonly waitingForApproval: boolean;
  readonly error?: string;
  readonly cause?: string;
}

/**
 * The default run id of a plan: the same request always gets the same name, so starting it twice starts one run
 * (Step Functions refuses a second execution of a name, and returns the first while it runs with the same input).
 */
export function defaultRunId(request: FailbackRequest): string {
  return `failback-${createHash('sha256').update(JSON.stringify(request)).digest('hex').slice(0, 16)}`;
}

/** Checks a state machine ARN's shape. @throws InvalidInputError naming `what` */
export function parseStateMachineArn(arn: string, what: string): string {
  if (!STATE_MACHINE_ARN.test(arn)) {
    throw new InvalidInputError(
      `${what} "${arn}" is not a state machine ARN (arn:aws:states:<region>:<account>:stateMachine:<name>)`,
    );
  }
  return arn;
}

/**
 * The state machine an execution ARN belongs to (the ARN names it), so a run given by its ARN is looked up on its
 * own method's state machine. @throws InvalidInputError for anything but an execution ARN
 */
export function stateMachineArnOfExecution(executionArn: string): string {
  const match = EXECUTION_ARN.exec(executionArn);
  if (!match) {
    throw new InvalidInputError(
      `"${executionArn}" is not an execution ARN (arn:aws:states:<region>:<account>:execution:…)`,
    );
  }
  return `${match[1]}:stateMachine:${match[2]}`;
}

/** Starts and inspects runs of one deployed failback state machine (one method's) through the Step Functions API. */
export class FailbackExecutions {
  constructor(
    private readonly sfn: SFNClient,
    readonly stateMachineArn: string,
  ) {
    parseStateMachineArn(stateMachineArn, 'state machine ARN');
  }

  /** The execution ARN of the run named `runId` of this state machine. */
  executionArn(runId: string): string {
    return this.stateMachineArn.replace(/:stateMachine:([^:]+)$/, `:execution:$1:${runId}`);
  }

  /**
   * Starts a run of an already validated request, named `runId` (the staging prefix and the `homebound:run` tag).
   * Starting the same name with the same input while it runs returns that run instead of a second one.
   * @throws RunAlreadyExistsError, StateMachineNotFoundError, AccessDeniedError, InvalidInputError
   */
  async start(request: FailbackRequest, runId: string): Promise<StartedRun> {
    const name = RunId.safeParse(runId);
    if (!name.success) throw new InvalidInputError(`run name "${runId}": ${name.error.issues[0]?.message}`);
    try {
      const started = await this.sfn.send(
        new StartExecutionCommand({
          stateMachineArn: this.stateMachineArn,
          name: runId,
          input: JSON.stringify(request),
        }),
      );
      return {
        runId,
        executionArn: started.executionArn ?? this.executionArn(runId),
        startDate: (started.startDate ?? new Date()).toISOString(),
      };
    } catch (error) {
      throw mapSfnError(error, { operation: 'StartExecution', target: this.stateMachineArn, runId });
    }
  }

  /**
   * Where a run stands: `run` is a run id, an execution ARN, or undefined for the latest run of this state machine.
   * @throws RunNotFoundError, StateMachineNotFoundError, AccessDeniedError, InvalidInputError
   */
  async status(run?: string): Promise<RunStatus> {
    const executionArn = await this.resolve(run);
    const call = async <T>(operation: string, send: () => Promise<T>): Promise<T> => {
      try {
        return await send();
      } catch (error) {
        throw mapSfnError(error, { operation, target: executionArn });
      }
    };
    const execution = await call('DescribeExecution', () =>
      this.sfn.send(new DescribeExecutionCommand({ executionArn, includedData: 'METADATA_ONLY' })),
    );
    const events: HistoryEvent[] = [];
    let nextToken: string | undefined;
    do {
      // Without execution data: state inputs hold the approval task token, which has no business on a terminal.
      const page = await call('GetExecutionHistory', () =>
        this.sfn.send(
          new GetExecutionHistoryCommand({ executionArn, includeExecutionData: false, maxResults: 1000, nextToken }),
        ),
      );
      events.push(...(page.events ?? []));
      nextToken = page.nextToken;
    } while (nextToken);
    const status = execution.status ?? 'UNKNOWN';
    const progress = summarizeHistory(events, status === 'RUNNING');
    return {
      runId: execution.name ?? executionArn.split(':').at(-1) ?? executionArn,
      executionArn,
      status,
      startDate: (execution.startDate ?? new Date(0)).toISOString(),
      ...(execution.stopDate ? { stopDate: execution.stopDate.toISOString() } : {}),
      ...progress,
      ...(execution.error ? { error: execution.error } : {}),
      ...(execution.cause ? { cause: execution.cause } : {}),
    };
  }

  private async resolve(run: string | undefined): Promise<string> {
    if (run === undefined) {
      const latest = await this.sfn
        .send(new ListExecutionsCommand({ stateMachineArn: this.stateMachineArn, maxResults: 1 }))
        .catch((error: unknown) => {
          throw mapSfnError(error, { operation: 'ListExecutions', target: this.stateMachineArn });
        });
      const arn = latest.executions?.[0]?.executionArn;
      if (!arn) throw new RunNotFoundError(`of ${this.stateMachineArn} (it has never run)`);
      return arn;
    }
    if (run.startsWith('arn:')) {
      stateMachineArnOfExecution(run);
      return run;
    }
    const runId = RunId.safeParse(run);
    if (!runId.success) throw new InvalidInputError(`run "${run}": ${runId.error.issues[0]?.message}`);
    return this.executionArn(runId.data);
  }
}

/** Reads progress off the history events (names and types only). */
export function summarizeHistory(
  events: readonly HistoryEvent[],
  running: boolean,
): Pick<RunStatus, 'currentState' | 'passes' | 'waitingForApproval'> {
  let currentState: string | undefined;
  let passes = 0;
  let inApproval = false;
  for (const event of events) {
    const entered = event.stateEnteredEventDetails?.name;
    const exited = event.stateExitedEventDetails?.name;
    if (entered && event.type?.endsWith('StateEntered')) {
      currentState = entered;
      inApproval = entered === APPROVAL_STATE;
    }
    if (exited && event.type?.endsWith('StateExited')) {
      if (exited === PASS_RECORDED_STATE) passes += 1;
      if (exited === APPROVAL_STATE) inApproval = false;
    }
  }
  return { ...(currentState ? { currentState } : {}), passes, waitingForApproval: running && inApproval };
}
