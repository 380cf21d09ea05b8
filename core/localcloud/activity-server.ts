import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import type { ActivityQueues } from '../orchestration/activity-queues.js';
import { MAX_PAYLOAD_BYTES } from '../orchestration/task-invoker.js';
import { SfnApiError, toSfnApiError } from './sfn-errors.js';
import { type LocalCredentials, verifySigV4 } from './sigv4.js';

/** Options of `ActivityServer.start`. */
export interface ActivityServerOptions {
  /** The queues and task tokens it serves; the local runner schedules Activity Tasks on the same object. */
  readonly activities: ActivityQueues;
  /** The only key pair accepted (SigV4, service `states`). */
  readonly credentials: LocalCredentials;
  /** How long GetActivityTask waits for a task before answering without one. @default 60000 (as on AWS) */
  readonly pollWaitMs?: number;
  /** @default 0 (an ephemeral port) */
  readonly port?: number;
}

/** Step Functions' long-poll: GetActivityTask answers after at most 60 s, with or without a task. */
export const DEFAULT_POLL_WAIT_MS = 60_000;
const MAX_BODY_BYTES = 2 * MAX_PAYLOAD_BYTES;
const TARGET_PREFIX = 'AWSStepFunctions.';

const arn = z.string().min(1).max(256);
const taskToken = z.string().min(1).max(2048);
const REQUESTS = {
  GetActivityTask: z.object({ activityArn: arn, workerName: z.string().max(80).optional() }),
  SendTaskHeartbeat: z.object({ taskToken }),
  SendTaskSuccess: z.object({ taskToken, output: z.string().max(MAX_PAYLOAD_BYTES) }),
  SendTaskFailure: z.object({
    taskToken,
    error: z.string().max(256).optional(),
    cause: z.string().max(32_768).optional(),
  }),
  CreateActivity: z.object({ name: z.string().min(1).max(80) }),
  DescribeActivity: z.object({ activityArn: arn }),
} as const;

type Operation = keyof typeof REQUESTS;
type Answer = Record<string, unknown>;

/**
 * The Step Functions activity and task-token API (awsJson1_0: `POST /`, `X-Amz-Target: AWSStepFunctions.<Op>`) on
 * 127.0.0.1, SigV4-verified like the local EBS server, so an activity worker runs as its own process with the
 * unmodified @aws-sdk/client-sfn: GetActivityTask (long poll), SendTaskHeartbeat, SendTaskSuccess, SendTaskFailure,
 * CreateActivity, DescribeActivity. The task-token calls also complete the local runner's .waitForTaskToken tasks.
 */
export class ActivityServer {
  /** Aborts the long polls still waiting, so `close` does not wait up to pollWaitMs. */
  private readonly polls = new Set<AbortController>();

  private constructor(
    private readonly options: ActivityServerOptions,
    private readonly server: Server,
  ) {}

  /** Starts listening on 127.0.0.1. Throws when the port is taken. */
  static async start(options: ActivityServerOptions): Promise<ActivityServer> {
    // Long polls hold a request open for up to pollWaitMs; Node's default requestTimeout (300 s) is enough.
    const server = createServer({ keepAlive: true, keepAliveTimeout: 65_000 });
    const activityServer = new ActivityServer(options, server);
    server.on('request', (request: IncomingMessage, response: ServerResponse) => {
      activityServer.handle(request, response).catch((error: unknown) => response.destroy(error as Error));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
    });
    return activityServer;
  }

  /** Base URL for `new SFNClient({ endpoint })`. */
  get endpoint(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Ends waiting polls (they answer without a task), stops listening and drops kept-alive connections. */
  async close(): Promise<void> {
    for (const poll of this.polls) poll.abort();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    let status = 200;
    let answer: Answer;
    try {
      const body = await readBody(request);
      verifySignature(request, body, this.options.credentials);
      const operation = operationOf(request);
      answer = await this.perform(operation, body, response);
    } catch (error) {
      const refusal = toSfnApiError(error, !/CreateActivity$/.test(String(request.headers['x-amz-target'])));
      status = refusal.status;
      answer = { __type: refusal.errorType, message: refusal.message };
    }
    if (response.destroyed) return;
    const text = Buffer.from(JSON.stringify(answer));
    response.writeHead(status, {
      'Content-Type': 'application/x-amz-json-1.0',
      'Content-Length': String(text.length),
      'x-amzn-RequestId': randomUUID(),
    });
    response.end(text);
  }

  private async perform(operation: Operation, body: Buffer, response: ServerResponse): Promise<Answer> {
    const { activities } = this.options;
    const tokens = activities.taskTokens;
    switch (operation) {
      case 'GetActivityTask': {
        const { activityArn, workerName } = parseBody(REQUESTS.GetActivityTask, body);
        const hungUp = new AbortController();
        // A worker that hangs up mid-poll must not be handed a task it will never see.
        const onClose = () => {
          if (!response.writableFinished) hungUp.abort();
        };
        response.once('close', onClose);
        this.polls.add(hungUp);
        try {
          const task = await activities.poll(activityArn, {
            ...(workerName === undefined ? {} : { workerName }),
            waitMs: this.options.pollWaitMs ?? DEFAULT_POLL_WAIT_MS,
            signal: hungUp.signal,
          });
          return task === undefined ? {} : { taskToken: task.taskToken, input: task.input };
        } finally {
          this.polls.delete(hungUp);
          response.off('close', onClose);
        }
      }
      case 'SendTaskHeartbeat':
        tokens.sendTaskHeartbeat(parseBody(REQUESTS.SendTaskHeartbeat, body).taskToken);
        return {};
      case 'SendTaskSuccess': {
        const { taskToken, output } = parseBody(REQUESTS.SendTaskSuccess, body);
        tokens.sendTaskSuccess(taskToken, parseOutput(output));
        return {};
      }
      case 'SendTaskFailure': {
        const { taskToken, error, cause } = parseBody(REQUESTS.SendTaskFailure, body);
        // As on AWS, a failure without an error name has an empty one (matched only by States.ALL).
        tokens.sendTaskFailure(taskToken, error ?? '', cause ?? '');
        return {};
      }
      case 'CreateActivity': {
        const created = activities.createActivity(parseBody(REQUESTS.CreateActivity, body).name);
        return { activityArn: created.activityArn, creationDate: created.creationDate.getTime() / 1000 };
      }
      case 'DescribeActivity': {
        const found = activities.describeActivity(parseBody(REQUESTS.DescribeActivity, body).activityArn);
        return { activityArn: found.activityArn, name: found.name, creationDate: found.creationDate.getTime() / 1000 };
      }
    }
  }
}

function verifySignature(request: IncomingMessage, body: Buffer, credentials: LocalCredentials): void {
  const accessKeyId = /Credential=([^/]+)\//.exec(request.headers.authorization ?? '')?.[1];
  if (accessKeyId !== credentials.accessKeyId) {
    throw new SfnApiError('UnrecognizedClientException', 'The security token included in the request is invalid.');
  }
  try {
    verifySigV4(
      { method: request.method ?? 'POST', rawUrl: request.url ?? '/', headers: request.headers, body },
      credentials,
      'states',
    );
  } catch (error) {
    throw new SfnApiError('InvalidSignatureException', error instanceof Error ? error.message : String(error));
  }
}

function operationOf(request: IncomingMessage): Operation {
  const target = request.headers['x-amz-target'];
  const name = typeof target === 'string' && target.startsWith(TARGET_PREFIX) ? target.slice(TARGET_PREFIX.length) : '';
  if (request.method !== 'POST' || !isOperation(name)) {
    throw new SfnApiError('UnknownOperationException', `the local activity API has no operation ${String(target)}`);
  }
  return name;
}

function isOperation(name: string): name is Operation {
  return Object.hasOwn(REQUESTS, name);
}

/** The operation's request, checked. @throws SfnApiError SerializationException, ValidationException */
function parseBody<S extends z.ZodType>(schema: S, body: Buffer): z.infer<S> {
  let input: unknown;
  try {
    input = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
  } catch {
    throw new SfnApiError('SerializationException', 'the request body is not JSON');
  }
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new SfnApiError(
      'ValidationException',
      `${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid request'}`,
    );
  }
  return parsed.data;
}

function parseOutput(output: string): unknown {
  try {
    return JSON.parse(output);
  } catch {
    throw new SfnApiError('InvalidOutput', 'the output is not valid JSON');
  }
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of request) {
    length += (chunk as Buffer).length;
    if (length > MAX_BODY_BYTES)
      throw new SfnApiError('ValidationException', `request body over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, length);
}
