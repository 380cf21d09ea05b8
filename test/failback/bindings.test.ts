import { describe, expect, it } from 'vitest';
import { FAILBACK_TASK_NAMES } from '../../core/failback/task-names.js';
import { failbackTasks } from '../../core/failback/tasks.js';
import { definitionPath } from '../../core/methods/method.js';
import { failbackMethods } from '../../core/methods/registry.js';
import { readDefinition, walkStates } from '../../core/orchestration/asl-walk.js';
import { taskPlaceholder } from '../../core/orchestration/task-bindings.js';

const kebab = (name: string) => name.replace(/(?<!^)([A-Z])/g, '-$1').toLowerCase();

/** The Lambda placeholders (`${…FunctionArn}`) of the Task states of a method's ASL file (not its Activities'). */
function placeholdersOf(method: (typeof failbackMethods)[number]): string[] {
  return [
    ...new Set(
      [...walkStates(readDefinition(definitionPath(method)))]
        .filter((state) => state.type === 'Task')
        .flatMap((state) => taskPlaceholder(state.state) ?? [])
        .filter((placeholder) => placeholder.endsWith('FunctionArn')),
    ),
  ].sort();
}

describe.each(failbackMethods.map((method) => [method.name, method] as const))('the %s method', (_, method) => {
  it('binds exactly the tasks it lists, each Task by its …FunctionArn placeholder', () => {
    expect(placeholdersOf(method)).toEqual(method.tasks.map((name) => `${name}FunctionArn`).sort());
  });

  it('lists only tasks of the table, each once', () => {
    for (const name of method.tasks) expect(Object.keys(failbackTasks)).toContain(name);
    expect(new Set(method.tasks).size).toBe(method.tasks.length);
  });
});

describe('the task table', () => {
  it('has no task that no method binds (a Lambda nobody calls)', () => {
    const bound = new Set(failbackMethods.flatMap((method) => method.tasks));
    expect([...bound].sort()).toEqual(Object.keys(failbackTasks).sort());
  });

  it('has the names task-names.ts lists, which the method descriptions are typed by', () => {
    expect([...FAILBACK_TASK_NAMES].sort()).toEqual(Object.keys(failbackTasks).sort());
  });

  it.each(Object.keys(failbackTasks))('has a Lambda entry point for %s in functions/', async (name) => {
    const module = (await import(`../../functions/${kebab(name)}.ts`)) as { handler?: unknown };
    expect(typeof module.handler).toBe('function');
  });
});
