import { HealthCheckUnsupportedError } from './errors.js';

/**
 * The run-command port: what an `ssm` health check needs from AWS Systems Manager Run Command. Implemented over SSM
 * (`SsmRunCommand`, core/adapters/aws/ssm-run-command.ts) and, where nothing can run a command on the host (the local
 * cloud, an on-prem VM), by `NoRunCommand`. Throws ThrottledError / TransientError (worth polling again),
 * HealthCheckUnsupportedError, RequestRejectedError for anything else the service refuses.
 */
export interface RunCommandPort {
  /** Sends `document` to one instance; returns the command id. */
  sendCommand(request: SendCommandRequest): Promise<string>;
  /** The invocation's state, or undefined while the service does not know it yet (just after sendCommand). */
  getInvocation(commandId: string, instanceId: string): Promise<CommandInvocation | undefined>;
  /** Asks the instance to stop the command; a command already ended is left as it is. */
  cancelCommand(commandId: string, instanceId: string): Promise<void>;
}

export interface SendCommandRequest {
  readonly instanceId: string;
  readonly document: string;
  readonly parameters?: Readonly<Record<string, readonly string[]>> | undefined;
  /** How long the command may wait to be delivered and run. */
  readonly timeoutSeconds: number;
  /** Shown in the SSM console next to the command, e.g. `homebound health check tcp:5432 of run r-1`. */
  readonly comment?: string;
}

/** GetCommandInvocation's answer, as much of it as a health check reports. */
export interface CommandInvocation {
  /** SSM's `Status`: Pending, InProgress, Delayed, Success, Cancelled, TimedOut, Failed, Cancelling. */
  readonly status: string;
  /** SSM's `StatusDetails`, e.g. `Undeliverable`, `ExecutionTimedOut`. */
  readonly statusDetails?: string | undefined;
  /** The script's exit code (-1 while none). */
  readonly responseCode?: number | undefined;
  /** The start of its standard error, else of its standard output (SSM keeps the first 24,000 characters). */
  readonly output?: string | undefined;
}

/** The statuses after which an invocation changes no more. */
export const TERMINAL_COMMAND_STATUSES: ReadonlySet<string> = new Set(['Success', 'Cancelled', 'TimedOut', 'Failed']);

/** The run-command port where no command can run: every call throws HealthCheckUnsupportedError saying why. */
export class NoRunCommand implements RunCommandPort {
  constructor(private readonly reason: string) {}

  async sendCommand(): Promise<string> {
    throw new HealthCheckUnsupportedError(`ssm checks are not supported ${this.reason}`);
  }

  async getInvocation(): Promise<CommandInvocation | undefined> {
    throw new HealthCheckUnsupportedError(`ssm checks are not supported ${this.reason}`);
  }

  async cancelCommand(): Promise<void> {}
}
