import { readFile } from 'node:fs/promises';
import { type Command, InvalidArgumentError } from 'commander';
import { defaultRunId } from '../../core/adapters/aws/failback-executions.js';
import { InvalidInputError } from '../../core/errors.js';
import { parseFailbackRequest } from '../../core/failback/request.js';
import { RunId } from '../../core/failback/run-state.js';
import { findMethod } from '../../core/methods/registry.js';
import { deployedFailback, type StateMachineOptions, withStateMachineOptions } from '../state-machine.js';

interface StartOptions extends StateMachineOptions {
  plan: string;
  name?: string;
  json?: boolean;
}

/** `homebound start`: validates a failback request (the plan) and starts its method's deployed state machine with it. */
export function registerStart(program: Command): void {
  withStateMachineOptions(
    program
      .command('start')
      .description('Start a failback on AWS: validate the plan (a failback request), then StartExecution')
      .requiredOption('--plan <file>', 'the failback request, JSON (docs/failback-request.md)')
      .option(
        '--name <runId>',
        'the run id: execution name, staging prefix, homebound:run tag (default: from the plan)',
        (value: string) => {
          const parsed = RunId.safeParse(value);
          if (!parsed.success) throw new InvalidArgumentError(`"${value}": ${parsed.error.issues[0]?.message}`);
          return parsed.data;
        },
      )
      .option('--json', 'print the started run as JSON'),
  ).action(async (options: StartOptions) => {
    const text = await readFile(options.plan, 'utf8').catch((error: unknown) => {
      throw new InvalidInputError(`cannot read --plan ${options.plan}: ${(error as Error).message}`);
    });
    let document: unknown;
    try {
      document = JSON.parse(text);
    } catch (error) {
      throw new InvalidInputError(`--plan ${options.plan} is not JSON: ${(error as Error).message}`);
    }
    // The schema ValidateRequest applies: a bad plan fails here, before anything is started.
    const request = parseFailbackRequest(document);
    const runId = options.name ?? defaultRunId(request);
    // parseFailbackRequest accepted the method, so the registry has it; the request's method picks the state machine.
    const method = findMethod(request.method);
    if (!method) throw new InvalidInputError(`method "${request.method}" has no state machine`);
    const failback = await deployedFailback(options, method);
    const run = await failback.start(request, runId);
    if (options.json) {
      console.log(JSON.stringify(run, null, 2));
      return;
    }
    console.log(`started run ${run.runId} at ${run.startDate}`);
    console.log(`execution: ${run.executionArn}`);
    console.log(`watch it:  homebound status ${run.runId}`);
  });
}
