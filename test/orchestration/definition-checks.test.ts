import net from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  AssignNotSupportedError,
  DistributedMapNotSupportedError,
  DuplicateStateNameError,
  FalsyPassResultError,
  InvalidDefinitionError,
  InvalidRunnerOptionsError,
  JsonataNotSupportedError,
  LocalStateMachine,
  MissingTaskTimeoutError,
  RootResultPathError,
  UnboundTaskError,
  UnsupportedContextPathError,
} from '../../core/orchestration/local-runner.js';
import { fixture, placeholder } from './fixture.js';

const noop = async () => ({});
const task = (extra: object = {}) => ({
  Type: 'Task',
  Resource: placeholder('DoFunctionArn'),
  TimeoutSeconds: 5,
  ...extra,
});
/** A one-state machine around `state`, named `S`. */
const around = (state: object, top: object = {}) => ({ StartAt: 'S', States: { S: { End: true, ...state } }, ...top });
const load = (definition: object) => LocalStateMachine.load({ definition, handlers: { DoFunctionArn: noop } });
const mapOf = (processor: object, extra: object = {}) => ({
  Type: 'Map',
  ItemProcessor: { StartAt: 'Inner', States: { Inner: { ...processor, End: true } } },
  ...extra,
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe('loading a definition', () => {
  it('lists every Task without a handler, in Map iterators and Parallel branches too, without touching the network', () => {
    const connect = vi.spyOn(net.Socket.prototype, 'connect');
    const definition = {
      StartAt: 'Bound',
      States: {
        Bound: { ...task(), Next: 'Copy' },
        Copy: { ...mapOf(task({ Resource: placeholder('CopyVolumeFunctionArn') })), Next: 'Both' },
        Both: {
          Type: 'Parallel',
          Branches: [
            {
              StartAt: 'StopHosts',
              States: { StopHosts: { ...task({ Resource: placeholder('StopHostsFunctionArn') }), End: true } },
            },
            {
              StartAt: 'Describe',
              States: {
                Describe: { ...task({ Resource: 'arn:aws:states:::aws-sdk:ec2:describeInstances' }), End: true },
              },
            },
          ],
          End: true,
        },
      },
    };

    let thrown: unknown;
    try {
      load(definition);
    } catch (error) {
      thrown = error;
    }

    expect(thrown).toBeInstanceOf(UnboundTaskError);
    const tasks = thrown instanceof UnboundTaskError ? thrown.tasks : [];
    expect(tasks.map((t) => [t.stateName, t.placeholder])).toEqual([
      ['Inner', 'CopyVolumeFunctionArn'],
      ['StopHosts', 'StopHostsFunctionArn'],
      ['Describe', undefined],
    ]);
    expect(String(thrown)).toContain('Describe');
    expect(connect).not.toHaveBeenCalled();
  });

  it('binds a Task without a placeholder through stateHandlers', async () => {
    const definition = around(task({ Resource: 'arn:aws:states:::aws-sdk:ec2:stopInstances' }));
    const machine = LocalStateMachine.load({ definition, handlers: {}, stateHandlers: { S: async () => 'stopped' } });
    expect(await machine.run({}).result).toBe('stopped');
  });

  it('binds waitForTaskToken Tasks by Parameters.FunctionName', () => {
    expect(() => LocalStateMachine.load({ definition: fixture('approval.asl.json'), handlers: {} })).toThrow(
      /WaitForApproval" \(placeholder RequestApprovalFunctionArn\)/,
    );
  });

  const rejected: [string, object, new (...args: never[]) => Error][] = [
    [
      'QueryLanguage JSONata at the top',
      around({ Type: 'Pass' }, { QueryLanguage: 'JSONata' }),
      JsonataNotSupportedError,
    ],
    ['QueryLanguage JSONata on a state', around({ Type: 'Pass', QueryLanguage: 'JSONata' }), JsonataNotSupportedError],
    ['a JSONata Output field', around({ Type: 'Pass', Output: '{% $states.input %}' }), JsonataNotSupportedError],
    [
      'a Distributed Map without an ExecutionType',
      around(
        mapOf(
          { Type: 'Pass' },
          {
            ItemProcessor: {
              ProcessorConfig: { Mode: 'DISTRIBUTED' },
              StartAt: 'P',
              States: { P: { Type: 'Pass', End: true } },
            },
          },
        ),
      ),
      InvalidDefinitionError,
    ],
    [
      'an ItemReader',
      around(mapOf({ Type: 'Pass' }, { ItemReader: { Resource: 'arn:aws:states:::s3:getObject', Parameters: {} } })),
      DistributedMapNotSupportedError,
    ],
    ['Assign on a state', around({ Type: 'Pass', Assign: { x: 1 } }), AssignNotSupportedError],
    [
      'Assign in a Catch',
      around(task({ Catch: [{ ErrorEquals: ['States.ALL'], Assign: { failed: true }, Next: 'S' }] })),
      AssignNotSupportedError,
    ],
    ['a $variable reference', around({ Type: 'Pass', Parameters: { 'x.$': '$runId' } }), AssignNotSupportedError],
    ['ResultPath "$"', around(task({ ResultPath: '$' })), RootResultPathError],
    [
      'ResultPath "$" in a Catch',
      around(task({ Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$', Next: 'S' }] })),
      RootResultPathError,
    ],
    ['a Pass Result of 0', around({ Type: 'Pass', Result: 0 }), FalsyPassResultError],
    ['a Pass Result of false', around({ Type: 'Pass', Result: false }), FalsyPassResultError],
    ['a Pass Result of ""', around({ Type: 'Pass', Result: '' }), FalsyPassResultError],
    [
      'a Task without TimeoutSeconds',
      around({ Type: 'Task', Resource: placeholder('DoFunctionArn') }),
      MissingTaskTimeoutError,
    ],
    [
      'a Task whose TimeoutSecondsPath is not a path',
      around({ Type: 'Task', Resource: placeholder('DoFunctionArn'), TimeoutSecondsPath: 't' }),
      MissingTaskTimeoutError,
    ],
    ['a Task with TimeoutSeconds 0', around(task({ TimeoutSeconds: 0 })), MissingTaskTimeoutError],
    [
      '$$.Execution.Input inside a Map iterator (the library gives the item)',
      around(mapOf(task({ Parameters: { 'request.$': '$$.Execution.Input' } }))),
      UnsupportedContextPathError,
    ],
    [
      '$$.Map.Item.Value inside the iterator instead of the ItemSelector',
      around(mapOf(task({ Parameters: { 'v.$': '$$.Map.Item.Value' } }))),
      UnsupportedContextPathError,
    ],
    [
      '$$.Task.Token in a request-response Task',
      around(task({ Parameters: { 'token.$': '$$.Task.Token' } })),
      UnsupportedContextPathError,
    ],
    [
      '$$.Task.Token inside an intrinsic function',
      around(
        task({
          Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
          Parameters: { FunctionName: placeholder('DoFunctionArn'), 'Payload.$': "States.Format('{}', $$.Task.Token)" },
        }),
      ),
      UnsupportedContextPathError,
    ],
    [
      '$$.State.RetryCount',
      around(task({ Parameters: { 'n.$': '$$.State.RetryCount' } })),
      UnsupportedContextPathError,
    ],
    [
      'two states with the same name across a Map iterator',
      { StartAt: 'Inner', States: { Inner: { ...mapOf({ Type: 'Pass' }), End: true } } },
      DuplicateStateNameError,
    ],
    [
      'a dangling Next (library validator)',
      { StartAt: 'S', States: { S: { Type: 'Pass', Next: 'Nowhere' } } },
      InvalidDefinitionError,
    ],
  ];

  it.each(rejected)('rejects %s with its named error', (_label, definition, errorClass) => {
    expect(() => load(definition)).toThrow(errorClass);
  });

  it('names the state in the error', () => {
    expect(() => load(around({ Type: 'Pass', Result: 0 }))).toThrow(/state "S"/);
  });

  it('accepts $$.Map.Item in the Map ItemSelector and $$.Execution.Input at the top level', () => {
    const definition = around(
      mapOf(task(), { ItemSelector: { 'item.$': '$$.Map.Item.Value', 'request.$': '$$.Execution.Input' } }),
    );
    expect(() => load(definition)).not.toThrow();
  });

  it('allows HeartbeatSeconds but warns that it is ignored locally', () => {
    const machine = load(around(task({ HeartbeatSeconds: 60 })));
    expect(machine.warnings).toEqual([expect.stringContaining('HeartbeatSeconds is ignored locally')]);
  });

  it('caps timers Node cannot express and says so', () => {
    const machine = load(around(task({ TimeoutSeconds: 30 * 24 * 3600 })));
    expect(machine.warnings).toEqual([expect.stringContaining('TimeoutSeconds is capped')]);
  });

  it('rejects overrides that name no applicable state', () => {
    expect(() =>
      LocalStateMachine.load({
        definition: around(task()),
        handlers: { DoFunctionArn: noop },
        waitOverrides: { S: 1 },
      }),
    ).toThrow(InvalidRunnerOptionsError);
    expect(() =>
      LocalStateMachine.load({ definition: around(task()), handlers: {}, stateHandlers: { Typo: noop } }),
    ).toThrow(InvalidRunnerOptionsError);
  });

  it('reports an unreadable file as InvalidDefinitionError', () => {
    expect(() => LocalStateMachine.load({ definition: fixture('missing.asl.json'), handlers: {} })).toThrow(
      InvalidDefinitionError,
    );
  });

  it('does not modify the definition object it is given', () => {
    const definition = around(task({ Resource: placeholder('DoFunctionArn') }));
    const before = JSON.stringify(definition);
    load(definition);
    expect(JSON.stringify(definition)).toBe(before);
  });
});
