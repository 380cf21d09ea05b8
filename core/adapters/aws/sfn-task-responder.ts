import { SendTaskFailureCommand, SendTaskSuccessCommand, type SFNClient } from '@aws-sdk/client-sfn';
import type { TaskResponder } from '../../approvals/decide.js';
import { ApprovalNoLongerWaitingError } from '../../approvals/errors.js';

/** SFN's answers for a token that can no longer be completed. */
const TOKEN_GONE = new Set(['TaskTimedOut', 'TaskDoesNotExist', 'InvalidToken']);

function translate(error: unknown): unknown {
  if (error instanceof Error && TOKEN_GONE.has(error.name)) {
    return new ApprovalNoLongerWaitingError(`Step Functions: ${error.name}`, { cause: error });
  }
  return error;
}

/** Completes task tokens with SendTaskSuccess/SendTaskFailure. Errors name the SFN error, never the token. */
export class SfnTaskResponder implements TaskResponder {
  constructor(private readonly client: SFNClient) {}

  async sendTaskSuccess(taskToken: string, output: Readonly<Record<string, unknown>>): Promise<void> {
    await this.client
      .send(new SendTaskSuccessCommand({ taskToken, output: JSON.stringify(output) }))
      .catch((error: unknown) => {
        throw translate(error);
      });
  }

  async sendTaskFailure(taskToken: string, error: string, cause: string): Promise<void> {
    await this.client.send(new SendTaskFailureCommand({ taskToken, error, cause })).catch((failure: unknown) => {
      throw translate(failure);
    });
  }
}
