import { GetCommandInvocationCommand, SendCommandCommand, SSM, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it } from 'vitest';
import { mapSsmError, SsmRunCommand, type SsmRunCommandClient } from '../../core/adapters/aws/ssm-run-command.js';
import { RequestRejectedError, ThrottledError, TransientError } from '../../core/errors.js';
import { SsmCheck } from '../../core/health/checks.js';
import { HealthCheckUnsupportedError } from '../../core/health/errors.js';
import { NoRunCommand } from '../../core/health/run-command.js';
import { probeSsm } from '../../core/health/ssm.js';

/*
 * This stand-in takes the aggregated client's request shapes and throws errors shaped as the SDK's (JSON protocol:
 * the code is `name`, the status in `$metadata`); the last test drives the real SDK client through
 * aws-sdk-client-mock (the local cloud serves no SSM).
 */

type Invocation = Awaited<ReturnType<SsmRunCommandClient['getCommandInvocation']>>;

function sdkError(name: string, httpStatusCode: number, message = name): Error {
  return Object.assign(new Error(message), {
    name,
    $fault: httpStatusCode >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode },
  });
}

/** Answers GetCommandInvocation with `answers` in turn (an Error is thrown), the last one from then on. */
function fakeSsm(answers: readonly (Invocation | Error)[], sendError?: Error) {
  const calls: { operation: string; input: unknown }[] = [];
  let next = 0;
  const client: SsmRunCommandClient = {
    sendCommand: async (input) => {
      calls.push({ operation: 'SendCommand', input });
      if (sendError) throw sendError;
      return { Command: { CommandId: 'cmd-1' } };
    },
    getCommandInvocation: async (input) => {
      calls.push({ operation: 'GetCommandInvocation', input });
      const answer = answers[Math.min(next++, answers.length - 1)];
      if (answer instanceof Error) throw answer;
      return answer ?? {};
    },
    cancelCommand: async (input) => {
      calls.push({ operation: 'CancelCommand', input });
      return {};
    },
  };
  return { client, calls, port: new SsmRunCommand(client) };
}

const check = SsmCheck.parse({ type: 'ssm', parameters: { commands: ['pg_isready'] }, timeoutSeconds: 5 });
const limits = { timeoutMs: 2000 };
const options = { pollMs: 10, comment: 'homebound health check, run r-1' };

describe('ssm health check over SSM Run Command', () => {
  it('sends the document to the instance and passes once the invocation succeeds', async () => {
    const ssm = fakeSsm([
      sdkError('InvocationDoesNotExist', 400),
      { Status: 'InProgress', ResponseCode: -1 },
      {
        Status: 'Success',
        StatusDetails: 'Success',
        ResponseCode: 0,
        StandardOutputContent: 'accepting connections\n',
      },
    ]);
    const outcome = await probeSsm(ssm.port, 'i-0abc', check, limits, options);
    expect(outcome).toEqual({
      passed: true,
      detail: 'ssm AWS-RunShellScript on i-0abc (command cmd-1): Success, exit 0, output: accepting connections',
    });
    expect(ssm.calls[0]).toEqual({
      operation: 'SendCommand',
      input: {
        InstanceIds: ['i-0abc'],
        DocumentName: 'AWS-RunShellScript',
        Parameters: { commands: ['pg_isready'] },
        // SSM's delivery timeout cannot be shorter than 30 s.
        TimeoutSeconds: 30,
        Comment: 'homebound health check, run r-1',
      },
    });
    expect(ssm.calls.filter((call) => call.operation === 'GetCommandInvocation')).toHaveLength(3);
    expect(ssm.calls[1]?.input).toEqual({ CommandId: 'cmd-1', InstanceId: 'i-0abc' });
  });

  it('fails with the exit code and standard error of a failed command', async () => {
    const ssm = fakeSsm([
      {
        Status: 'Failed',
        StatusDetails: 'Failed',
        ResponseCode: 2,
        StandardOutputContent: '',
        StandardErrorContent: 'no response from server\n',
      },
    ]);
    await expect(probeSsm(ssm.port, 'i-0abc', check, limits, options)).resolves.toEqual({
      passed: false,
      detail: 'ssm AWS-RunShellScript on i-0abc (command cmd-1): Failed, exit 2, output: no response from server',
    });
  });

  it('polls through throttling and service errors', async () => {
    const ssm = fakeSsm([
      sdkError('ThrottlingException', 400, 'Rate exceeded'),
      sdkError('InternalServerError', 500),
      { Status: 'Success', ResponseCode: 0 },
    ]);
    await expect(probeSsm(ssm.port, 'i-0abc', check, limits, options)).resolves.toMatchObject({ passed: true });
  });

  it('fails at once, saying what to fix, when SSM cannot reach the instance', async () => {
    const ssm = fakeSsm([], sdkError('InvalidInstanceId', 400, 'Instances [[i-0abc]] not in a valid state'));
    const outcome = await probeSsm(ssm.port, 'i-0abc', check, limits, options);
    expect(outcome.passed).toBe(false);
    expect(outcome.detail).toContain('not sent: RequestRejectedError');
    expect(outcome.detail).toContain('i-0abc is not a managed node SSM can reach');
    expect(ssm.calls.map((call) => call.operation)).toEqual(['SendCommand']);
  });

  it('cancels a command still running at its timeout and fails', async () => {
    const ssm = fakeSsm([{ Status: 'InProgress', ResponseCode: -1 }]);
    const started = Date.now();
    const outcome = await probeSsm(ssm.port, 'i-0abc', check, { timeoutMs: 300 }, options);
    expect(Date.now() - started).toBeLessThan(1500);
    expect(outcome).toEqual({
      passed: false,
      detail:
        'ssm AWS-RunShellScript on i-0abc (command cmd-1): no result within 0.3 s (last: InProgress); cancelled the command',
    });
    expect(ssm.calls.at(-1)).toEqual({
      operation: 'CancelCommand',
      input: { CommandId: 'cmd-1', InstanceIds: ['i-0abc'] },
    });
  });

  it('reports a check where no SSM runs as unsupported, naming the error', async () => {
    const port = new NoRunCommand('in the local cloud: its hosts run no SSM Agent');
    await expect(port.sendCommand()).rejects.toBeInstanceOf(HealthCheckUnsupportedError);
    const outcome = await probeSsm(port, 'i-local', check, limits, options);
    expect(outcome).toEqual({
      passed: false,
      detail:
        'ssm AWS-RunShellScript on i-local: not sent: HealthCheckUnsupportedError: ssm checks are not supported in the local cloud: its hosts run no SSM Agent',
    });
  });
});

describe('SSM error mapping', () => {
  const context = { operation: 'SendCommand', instanceId: 'i-0abc', document: 'Custom-Check' };

  it.each([
    ['ThrottlingException', 400, ThrottledError, 'throttled'],
    ['InternalServerError', 500, TransientError, 'service side'],
    ['ServiceUnavailable', 503, TransientError, 'service side'],
    ['InvalidInstanceId', 400, RequestRejectedError, 'not a managed node'],
    ['InvalidDocument', 400, RequestRejectedError, 'document Custom-Check does not exist'],
    ['InvalidParameters', 400, RequestRejectedError, 'do not fit document Custom-Check'],
    ['AccessDeniedException', 400, RequestRejectedError, 'grant ssm:SendCommand'],
    ['UnsupportedPlatformType', 400, RequestRejectedError, 'rejected (UnsupportedPlatformType)'],
  ])('maps %s (%i) to %o', (code, status, type, words) => {
    const mapped = mapSsmError(sdkError(code, status), context);
    expect(mapped).toBeInstanceOf(type);
    expect(mapped.message).toContain(words);
    expect((mapped as Error & { retryable: boolean }).retryable).toBe(type !== RequestRejectedError);
  });

  it('reads an invocation SSM does not know yet as none, not as an error', async () => {
    const ssm = fakeSsm([sdkError('InvocationDoesNotExist', 400)]);
    await expect(ssm.port.getInvocation('cmd-1', 'i-0abc')).resolves.toBeUndefined();
  });

  it('drives the real SDK client: SendCommand and GetCommandInvocation in their shapes, SSM errors mapped', async () => {
    const ssm = mockClient(SSMClient);
    try {
      ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-sdk' } });
      ssm.on(GetCommandInvocationCommand).resolves({ Status: 'Success', ResponseCode: 0, StandardOutputContent: 'ok' });
      const port = new SsmRunCommand(
        new SSM({ region: 'eu-west-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } }),
      );

      const commandId = await port.sendCommand({
        instanceId: 'i-0abc',
        document: 'AWS-RunShellScript',
        parameters: { commands: ['systemctl is-active app'] },
        timeoutSeconds: 30,
      });
      expect(commandId).toBe('cmd-sdk');
      expect(ssm.commandCalls(SendCommandCommand)[0]?.args[0].input).toMatchObject({
        InstanceIds: ['i-0abc'],
        DocumentName: 'AWS-RunShellScript',
        Parameters: { commands: ['systemctl is-active app'] },
        TimeoutSeconds: 30,
      });
      expect(await port.getInvocation('cmd-sdk', 'i-0abc')).toMatchObject({ status: 'Success' });
      expect(ssm.commandCalls(GetCommandInvocationCommand)[0]?.args[0].input).toEqual({
        CommandId: 'cmd-sdk',
        InstanceId: 'i-0abc',
      });

      ssm.on(SendCommandCommand).rejects(sdkError('InvalidInstanceId', 400, 'Instances not in a valid state'));
      await expect(
        port.sendCommand({ instanceId: 'i-0abc', document: 'AWS-RunShellScript', timeoutSeconds: 30 }),
      ).rejects.toThrow(/i-0abc/);
    } finally {
      ssm.restore();
    }
  });
});
