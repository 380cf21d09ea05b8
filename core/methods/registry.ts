import { automatedMethod } from './automated.js';
import { conditionalAutomatedMethod } from './conditional-automated.js';
import type { FailbackMethod } from './method.js';

/**
 * Every failback method homebound runs, in the order docs and `--help` list them. Adding a method is adding its
 * module and one entry here: the request union, the CDK stack, the triggers and the CLI all read this list.
 */
export const failbackMethods = [automatedMethod, conditionalAutomatedMethod] as const;

export type FailbackMethodName = (typeof failbackMethods)[number]['name'];

/** The method names, for messages (`"automated"`, …). */
export const knownMethodNames: readonly FailbackMethodName[] = failbackMethods.map((method) => method.name);

/** The method named `name`, or undefined for a name no method has. */
export function findMethod(name: unknown): FailbackMethod | undefined {
  return failbackMethods.find((method) => method.name === name);
}
