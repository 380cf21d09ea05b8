import type { z } from 'zod';
import { InvalidInputError } from './errors.js';

/**
 * Reads a process environment through `schema`, once, where a function or command starts.
 * @throws InvalidInputError naming the first variable that is missing or malformed
 */
export function parseEnvironment<T extends z.ZodType>(schema: T, env: NodeJS.ProcessEnv): z.output<T> {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InvalidInputError(`environment variable ${String(issue?.path[0])}: ${issue?.message}`);
  }
  return parsed.data;
}
