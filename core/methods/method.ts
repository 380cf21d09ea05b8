import type { z } from 'zod';
import type { FailbackTaskName } from '../failback/task-names.js';

/**
 * A failback method as one unit: everything a layer needs to know to run it, so adding a method is adding files
 * (its ASL, its request variant, this description, its registry entry) and never an `if (method)` in a step.
 *
 * - The steps are shared (core/failback/steps); `tasks` says which of the Lambda tasks of the table
 *   (core/failback/tasks.ts) its ASL binds — test/failback/bindings.test.ts holds the two equal.
 * - What differs per environment (e.g. which staging its passes go to) is chosen by the wiring (core/wiring/).
 * - CDK builds one state machine per method (lib/failback-state-machine.ts) and routes "Failback Requested" events
 *   whose `detail.method` equals `name` to it.
 */
export interface FailbackMethod<Name extends string = string> {
  /** The request's `method` value, EventBridge's `detail.method`, `homebound drill --method`. */
  readonly name: Name;
  /** One line for `--help`, errors and docs. */
  readonly description: string;
  /** The ASL file, relative to the project root (what CDK deploys and the local runner loads). */
  readonly aslFile: string;
  /** The Lambda tasks its ASL binds, by `${<Task>FunctionArn}` placeholder name without the suffix. */
  readonly tasks: readonly FailbackTaskName[];
  /** Its variant of the failback request: a strict object whose `method` is `z.literal(name)`. */
  readonly request: z.ZodObject<{ method: z.ZodLiteral<Name> } & z.ZodRawShape>;
  /** The stack output holding its state machine's ARN, where `homebound start`/`status` look it up. */
  readonly stateMachineArnOutput: string;
  /** The CDK construct id of its state machine (stable: a changed id replaces a deployed state machine). */
  readonly constructId: string;
}

/** The absolute path of a method's ASL file. */
export function definitionPath(method: Pick<FailbackMethod, 'aslFile'>): string {
  return new URL(`../../${method.aslFile}`, import.meta.url).pathname;
}
