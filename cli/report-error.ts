import { CommanderError, InvalidArgumentError } from 'commander';
import { HomeboundError } from '../core/errors.js';

/**
 * One place that turns any failure into a message an operator can act on and a non-zero exit code: 2 bad usage,
 * 3 a named homebound error, 1 anything unexpected. Shared by the CLI and the sync gateway bundle.
 */
export function reportError(error: unknown): number {
  // Commander prints its own parse errors and rethrows them as a plain CommanderError; an InvalidArgumentError that
  // arrives here was thrown by a command's action, unprinted.
  if (error instanceof InvalidArgumentError) {
    console.error(`homebound: ${error.message}`);
    return 2;
  }
  if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
  if (error instanceof HomeboundError) {
    console.error(`homebound: ${error.name}: ${error.message}`);
    return 3;
  }
  console.error(`homebound: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  return 1;
}
