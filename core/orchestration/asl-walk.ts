import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { isDistributedMap } from './distributed-map-config.js';
import { InvalidDefinitionError } from './errors.js';
import { isJsonObject, type JsonObject, type JsonValue } from './json.js';

/** The fields of a Map or Parallel state that hold child machines; checks of a state's own fields skip them. */
export const NESTED_MACHINE_FIELDS: ReadonlySet<string> = new Set(['ItemProcessor', 'Iterator', 'Branches']);

const PLACEHOLDER = /^\$\{([A-Za-z0-9_]+)\}$/;

/** The placeholder name in `"${Name}"` (a CDK DefinitionSubstitutions key), or undefined for anything else. */
export function placeholderName(value: unknown): string | undefined {
  return typeof value === 'string' ? PLACEHOLDER.exec(value)?.[1] : undefined;
}

const StateTypes = ['Task', 'Parallel', 'Map', 'Pass', 'Wait', 'Choice', 'Succeed', 'Fail'] as const;

/** The shape every (sub-)machine must have before the checks look deeper; the library's validator checks the rest. */
const MachineShape = z.looseObject({
  StartAt: z.string().min(1),
  States: z.record(z.string(), z.looseObject({ Type: z.enum(StateTypes) })),
});

/** One state of the definition, wherever it sits. `state` is the live object: mutating it edits the definition. */
export interface VisitedState {
  readonly name: string;
  readonly state: JsonObject;
  readonly type: (typeof StateTypes)[number];
  /**
   * True inside an inline Map iterator or a Parallel branch, where the library reports the iteration as the
   * execution. A Distributed Map's processor runs as a child execution of its own, as on AWS: not nested.
   */
  readonly nested: boolean;
}

/**
 * Reads a definition from an object or a path to an `.asl.json` file and returns a private deep copy.
 * @throws InvalidDefinitionError when the file is unreadable, not JSON, or not shaped like a state machine.
 */
export function readDefinition(definition: object | string): JsonObject {
  let raw: unknown = definition;
  if (typeof definition === 'string') {
    try {
      raw = JSON.parse(readFileSync(definition, 'utf8'));
    } catch (error) {
      throw new InvalidDefinitionError(undefined, `cannot read ${definition} as JSON`, { cause: error });
    }
  }
  const parsed = z.json().safeParse(raw);
  if (!parsed.success || !isJsonObject(parsed.data)) {
    throw new InvalidDefinitionError(undefined, 'the definition is not a JSON object');
  }
  // structuredClone so that preparing the definition for the library never edits the caller's object.
  const copy: JsonValue = structuredClone(parsed.data);
  if (!isJsonObject(copy)) throw new InvalidDefinitionError(undefined, 'the definition is not a JSON object');
  assertMachineShape(copy, undefined);
  return copy;
}

function assertMachineShape(machine: JsonValue | undefined, owner: string | undefined): asserts machine is JsonObject {
  const result = MachineShape.safeParse(machine);
  if (!result.success) {
    const where = owner === undefined ? 'the definition' : 'the nested machine';
    throw new InvalidDefinitionError(owner, `${where} is not ASL: ${z.prettifyError(result.error)}`);
  }
}

/** The child machines of a Map (ItemProcessor, or the older Iterator) or a Parallel state (Branches). */
export function childMachines(name: string, state: JsonObject): JsonObject[] {
  const children: JsonValue[] = [];
  if (state.Type === 'Map') {
    const processor = state.ItemProcessor ?? state.Iterator;
    if (processor === undefined) throw new InvalidDefinitionError(name, 'a Map state needs an ItemProcessor');
    children.push(processor);
  } else if (state.Type === 'Parallel') {
    if (!Array.isArray(state.Branches)) throw new InvalidDefinitionError(name, 'a Parallel state needs Branches');
    children.push(...state.Branches);
  }
  return children.map((child) => {
    assertMachineShape(child, name);
    return child;
  });
}

/** Every state of a machine, depth first, including those in Map iterators and Parallel branches. */
export function* walkStates(machine: JsonObject, nested = false): Generator<VisitedState> {
  const states = machine.States;
  if (!isJsonObject(states)) return;
  for (const [name, state] of Object.entries(states)) {
    if (!isJsonObject(state)) continue;
    const type = StateTypes.find((t) => t === state.Type);
    if (type === undefined) continue;
    yield { name, state, type, nested };
    for (const child of childMachines(name, state)) yield* walkStates(child, !isDistributedMap(state));
  }
}
