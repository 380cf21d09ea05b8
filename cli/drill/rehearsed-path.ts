import { DrillInjectedFailure } from '../../core/failback/errors.js';
import { childMachines } from '../../core/orchestration/asl-walk.js';
import { isJsonObject, type JsonObject, type JsonValue } from '../../core/orchestration/json.js';

/**
 * How the drill decides the cutover: the approval Task succeeds, fails (rejected), or either — a person decides in the
 * terminal or on the localhost page (`ask`), or on the page only (`page`, for runs without a terminal).
 */
export type DrillApproval = 'auto-approve' | 'reject' | 'ask' | 'page';

/**
 * What the walk knows of the state data at a point of the path, by JSON path: `true`/`false` for a flag a state set,
 * `present` for a slot a state wrote. A path that is some state's ResultPath and is not here has not been written.
 */
type Facts = Readonly<Record<string, boolean | 'present'>>;

/** Errors an injected failure matches: a catcher without one of these lets a DrillInjectedFailure through. */
const INJECTED_ERRORS: ReadonlySet<string> = new Set(['States.ALL', 'States.TaskFailed', DrillInjectedFailure.name]);

/**
 * The states a rehearsal can reach: a walk of the definition where a failing Task (and a Map whose iterator holds
 * one) follows only the catchers an injected failure matches, any other Task its Next, and the approval Task its Next
 * when approved, its catchers when rejected (both when a person decides). Choices are followed where the walk cannot
 * prove the rule false from the flags it tracks: a Pass state's boolean `Result` fields and a Task's boolean
 * Parameters (homebound's steps echo them, e.g. the snapshot step's `final`), and the slots states write (e.g.
 * `$.approval` exists only once the approval Task succeeded). So the set may hold too much, never too little.
 */
export function reachableStates(
  machine: JsonObject,
  failing: ReadonlySet<string>,
  approval: DrillApproval,
): Set<string> {
  const states = isJsonObject(machine.States) ? machine.States : {};
  const slots = new Set(
    Object.values(states).flatMap((state) =>
      isJsonObject(state) && typeof state.ResultPath === 'string' ? [state.ResultPath] : [],
    ),
  );
  const reached = new Set<string>();
  const seen = new Set<string>();
  const queue: { name: string; facts: Facts }[] =
    typeof machine.StartAt === 'string' ? [{ name: machine.StartAt, facts: {} }] : [];
  while (queue.length > 0) {
    const { name, facts } = queue.pop() as { name: string; facts: Facts };
    const state = states[name];
    const key = `${name} ${JSON.stringify(facts)}`;
    if (seen.has(key) || !isJsonObject(state)) continue;
    seen.add(key);
    reached.add(name);
    const nested = childMachines(name, state).map((child) => reachableStates(child, failing, approval));
    for (const inner of nested) for (const innerName of inner) reached.add(innerName);
    const fails = failing.has(name) || nested.some((inner) => [...inner].some((innerName) => failing.has(innerName)));
    for (const next of successors(state, facts, slots, fails, approval)) queue.push(next);
  }
  return reached;
}

function successors(
  state: JsonObject,
  facts: Facts,
  slots: ReadonlySet<string>,
  fails: boolean,
  approval: DrillApproval,
): { name: string; facts: Facts }[] {
  if (state.Type === 'Choice') {
    const rules = (Array.isArray(state.Choices) ? state.Choices : []).filter(isJsonObject);
    const taken = rules.filter((rule) => !provedFalse(rule, facts, slots));
    const names = [...taken.map((rule) => rule.Next), state.Default].filter((next) => typeof next === 'string');
    return names.map((name) => ({ name, facts }));
  }
  const catchers = (Array.isArray(state.Catch) ? state.Catch : []).filter(isJsonObject);
  const caught = (only: (catcher: JsonObject) => boolean) =>
    catchers
      .filter((catcher) => typeof catcher.Next === 'string' && only(catcher))
      .map((catcher) => ({ name: String(catcher.Next), facts: written(facts, catcher.ResultPath, {}) }));
  if (fails) {
    return caught(
      (catcher) =>
        Array.isArray(catcher.ErrorEquals) && catcher.ErrorEquals.some((error) => INJECTED_ERRORS.has(String(error))),
    );
  }
  const flags = state.Type === 'Pass' ? state.Result : state.Type === 'Task' ? state.Parameters : undefined;
  // A Wait, or a Pass without a Result, hands its input on unchanged.
  const unchanged = state.Type === 'Wait' || (state.Type === 'Pass' && state.Result === undefined);
  const after = unchanged ? facts : written(facts, state.ResultPath, flags);
  const next = typeof state.Next === 'string' ? [{ name: state.Next, facts: after }] : [];
  const waitsForDecision = typeof state.Resource === 'string' && state.Resource.endsWith('.waitForTaskToken');
  if (!waitsForDecision || approval === 'auto-approve') return next;
  if (approval === 'reject') return caught(() => true);
  return [...next, ...caught(() => true)];
}

/** The facts after a state wrote its result at `resultPath` (absent: the whole data; null: nothing). */
function written(facts: Facts, resultPath: JsonValue | undefined, flags: JsonValue | undefined): Facts {
  if (resultPath === null) return facts;
  if (typeof resultPath !== 'string' || resultPath === '$') return {};
  const kept = Object.entries(facts).filter(([path]) => path !== resultPath && !path.startsWith(`${resultPath}.`));
  const set = isJsonObject(flags)
    ? Object.entries(flags).flatMap(([name, value]) =>
        typeof value === 'boolean' ? [[`${resultPath}.${name}`, value] as const] : [],
      )
    : [];
  return Object.fromEntries([...kept, [resultPath, 'present'], ...set]);
}

/** True when the facts show a Choice rule cannot match (a flag set otherwise, or a slot not yet written). */
function provedFalse(rule: JsonObject, facts: Facts, slots: ReadonlySet<string>): boolean {
  if (Array.isArray(rule.And)) return rule.And.some((inner) => isJsonObject(inner) && provedFalse(inner, facts, slots));
  if (Array.isArray(rule.Or)) return rule.Or.every((inner) => isJsonObject(inner) && provedFalse(inner, facts, slots));
  if (typeof rule.Variable !== 'string') return false;
  const known = facts[rule.Variable];
  if (typeof rule.BooleanEquals === 'boolean' && typeof known === 'boolean') return known !== rule.BooleanEquals;
  if (rule.IsPresent === true && slots.has(rule.Variable)) return known === undefined;
  return false;
}
