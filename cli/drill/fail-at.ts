import { DrillInjectedFailure } from '../../core/failback/errors.js';
import type { JsonObject } from '../../core/orchestration/json.js';
import type { TaskHandler } from '../../core/orchestration/local-runner.js';
import { type DrillApproval, reachableStates } from './rehearsed-path.js';

export type { DrillApproval } from './rehearsed-path.js';

/** `--fail-at` as state handlers: each named Task state throws DrillInjectedFailure whenever the run reaches it. */
export function failAtHandlers(states: readonly string[]): () => Readonly<Record<string, TaskHandler>> {
  return () =>
    Object.fromEntries(
      states.map((stateName): [string, TaskHandler] => [
        stateName,
        () => {
          throw new DrillInjectedFailure(stateName);
        },
      ]),
    );
}

/** A `--fail-at` state the rehearsed path does not reach, and why. */
export interface UnreachedFailAt {
  readonly state: string;
  readonly why: string;
}

/**
 * The `--fail-at` states this rehearsal will not reach (see reachableStates). The walk over-approximates the path,
 * so a state named here is certainly missed; one not named may still be missed, which the report says at the end.
 */
export function unreachedFailAt(
  definition: JsonObject,
  failAt: readonly string[],
  approval: DrillApproval,
): UnreachedFailAt[] {
  const failing = new Set(failAt);
  const onRehearsedPath = reachableStates(definition, failing, approval);
  const withoutFailures = reachableStates(definition, new Set(), 'auto-approve');
  return failAt
    .filter((state) => !onRehearsedPath.has(state))
    .map((state) => ({
      state,
      why: withoutFailures.has(state)
        ? 'an earlier --fail-at or the decision ends the run before it'
        : 'it runs only when something fails or the cutover is rejected: add a --fail-at before it (e.g. --fail-at Cutover) or --reject',
    }));
}
