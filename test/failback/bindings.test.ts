import { describe, expect, it } from 'vitest';
import { failbackTasks } from '../../core/failback/tasks.js';
import { automatedMethod } from '../../core/methods/automated.js';
import { definitionPath } from '../../core/methods/method.js';
import { readDefinition, walkStates } from '../../core/orchestration/asl-walk.js';
import { taskPlaceholder } from '../../core/orchestration/task-bindings.js';

const kebab = (name: string) => name.replace(/(?<!^)([A-Z])/g, '-$1').toLowerCase();

describe('automated-failback.asl.json bindings', () => {
  const placeholders = new Set(
    [...walkStates(readDefinition(definitionPath(automatedMethod)))]
      .filter((state) => state.type === 'Task')
      .map((state) => taskPlaceholder(state.state)),
  );

  it('binds every Task to a failback task by its …FunctionArn placeholder, and every task is used', () => {
    expect([...placeholders].sort()).toEqual(
      Object.keys(failbackTasks)
        .map((name) => `${name}FunctionArn`)
        .sort(),
    );
  });

  it.each(Object.keys(failbackTasks))('has a Lambda entry point for %s in functions/', async (name) => {
    const module = (await import(`../../functions/${kebab(name)}.ts`)) as { handler?: unknown };
    expect(typeof module.handler).toBe('function');
  });
});
