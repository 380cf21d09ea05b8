import { HomeboundError, RequestRejectedError, ThrottledError, TransientError } from '../../errors.js';
import type { CommandInvocation, RunCommandPort, SendCommandRequest } from '../../health/run-command.js';

/**
 * The three SSM calls the run-command port makes, in the request and response shapes of @aws-sdk/client-ssm's
 * aggregated `SSM` client, which satisfies this interface as it is (`new SsmRunCommand(new SSM({ region }))`; the
 * test drives it through the real SDK client).
 */
export interface SsmRunCommandClient {
  sendCommand(input: {
    InstanceIds: string[];
    DocumentName: string;
    Parameters?: Record<string, string[]>;
    TimeoutSeconds?: number;
    Comment?: string;
  }): Promise<{ Command?: { CommandId?: string } }>;
  getCommandInvocation(input: { CommandId: string; InstanceId: string }): Promise<{
    Status?: string;
    StatusDetails?: string;
    ResponseCode?: number;
    StandardOutputContent?: string;
    StandardErrorContent?: string;
  }>;
  cancelCommand(input: { CommandId: string; InstanceIds?: string[] }): Promise<unknown>;
}

/** The run-command port over SSM Run Command. Errors are mapped by `mapSsmError`. */
export class SsmRunCommand implements RunCommandPort {
  constructor(private readonly client: SsmRunCommandClient) {}

  async sendCommand(request: SendCommandRequest): Promise<string> {
    const response = await this.client
      .sendCommand({
        InstanceIds: [request.instanceId],
        DocumentName: request.document,
        ...(request.parameters
          ? {
              Parameters: Object.fromEntries(
                Object.entries(request.parameters).map(([key, values]) => [key, [...values]]),
              ),
            }
          : {}),
        TimeoutSeconds: request.timeoutSeconds,
        // SSM takes at most 100 characters.
        ...(request.comment ? { Comment: request.comment.slice(0, 100) } : {}),
      })
      .catch((error: unknown) => {
        throw mapSsmError(error, {
          operation: 'SendCommand',
          instanceId: request.instanceId,
          document: request.document,
        });
      });
    const commandId = response.Command?.CommandId;
    if (!commandId) throw new RequestRejectedError(`SSM SendCommand to ${request.instanceId} returned no command id`);
    return commandId;
  }

  async getInvocation(commandId: string, instanceId: string): Promise<CommandInvocation | undefined> {
    try {
      const response = await this.client.getCommandInvocation({ CommandId: commandId, InstanceId: instanceId });
      return {
        status: response.Status ?? 'Pending',
        statusDetails: response.StatusDetails,
        responseCode: response.ResponseCode,
        output: response.StandardErrorContent?.trim() ? response.StandardErrorContent : response.StandardOutputContent,
      };
    } catch (error) {
      // SSM knows a command's invocation only a moment after SendCommand returns.
      if (codeOf(error) === 'InvocationDoesNotExist') return undefined;
      throw mapSsmError(error, { operation: 'GetCommandInvocation', instanceId });
    }
  }

  async cancelCommand(commandId: string, instanceId: string): Promise<void> {
    await this.client.cancelCommand({ CommandId: commandId, InstanceIds: [instanceId] }).catch((error: unknown) => {
      throw mapSsmError(error, { operation: 'CancelCommand', instanceId });
    });
  }
}

/** What a failed SSM call was about, to name it in the error. */
export interface SsmCallContext {
  readonly operation: string;
  readonly instanceId: string;
  readonly document?: string;
}

const THROTTLE_CODES = new Set(['ThrottlingException', 'TooManyUpdates']);

/**
 * The one place SSM errors become homebound errors. SSM (JSON protocol) reports its error code as the exception's
 * `name`. Throttling and service-side failures are retryable (a health check polls again); a host SSM cannot reach,
 * a document or parameters it refuses, and IAM refusals are RequestRejectedError saying what to fix.
 */
export function mapSsmError(error: unknown, context: SsmCallContext): Error {
  if (error instanceof HomeboundError) return error;
  const code = codeOf(error);
  const message = error instanceof Error ? error.message : String(error);
  const where = `SSM ${context.operation}`;
  const options = { cause: error };
  switch (code) {
    case 'InvalidInstanceId':
      return new RequestRejectedError(
        `${where}: ${context.instanceId} is not a managed node SSM can reach (not running, no SSM Agent, or no instance profile allowing SSM): ${message}`,
        options,
      );
    case 'InvalidDocument':
      return new RequestRejectedError(
        `${where}: document ${context.document ?? '?'} does not exist: ${message}`,
        options,
      );
    case 'InvalidParameters':
      return new RequestRejectedError(
        `${where}: parameters do not fit document ${context.document ?? '?'}: ${message}`,
        options,
      );
    case 'AccessDeniedException':
      return new RequestRejectedError(`${where} denied by IAM (grant ssm:${context.operation}): ${message}`, options);
  }
  if (code !== undefined && THROTTLE_CODES.has(code))
    return new ThrottledError(`${where} throttled (${code})`, options);
  if (code === 'InternalServerError' || statusOf(error) >= 500) {
    return new TransientError(`${where} failed on the service side (${code ?? 'unknown'}): ${message}`, options);
  }
  if (statusOf(error) >= 400) return new RequestRejectedError(`${where} rejected (${code}): ${message}`, options);
  return error instanceof Error ? error : new Error(String(error));
}

function codeOf(error: unknown): string | undefined {
  return error instanceof Error ? error.name : undefined;
}

function statusOf(error: unknown): number {
  const metadata = (error as { $metadata?: { httpStatusCode?: unknown } } | undefined)?.$metadata;
  return typeof metadata?.httpStatusCode === 'number' ? metadata.httpStatusCode : 0;
}
