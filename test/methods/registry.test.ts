import { describe, expect, it } from 'vitest';
import { InvalidFailbackRequestError, MissingTargetError, UnknownMethodError } from '../../core/failback/errors.js';
import { FailbackRequest, parseFailbackRequest } from '../../core/failback/request.js';
import { automatedMethod } from '../../core/methods/automated.js';
import { failbackMethods, findMethod, knownMethodNames } from '../../core/methods/registry.js';

const automated = { method: 'automated', hosts: ['i-0abc'], target: { platform: 'aws', region: 'eu-west-1' } };

describe('the method registry', () => {
  it("keys every method by its request variant's method literal, names unique", () => {
    for (const method of failbackMethods) expect(method.request.shape.method.value).toBe(method.name);
    expect(new Set(knownMethodNames).size).toBe(failbackMethods.length);
  });

  it('finds a method by name and nothing for a name no method has', () => {
    expect(findMethod('automated')).toBe(automatedMethod);
    expect(findMethod('teleport')).toBeUndefined();
    expect(findMethod(undefined)).toBeUndefined();
  });

  it('gives each method a distinct state machine output and construct id', () => {
    expect(new Set(failbackMethods.map((method) => method.stateMachineArnOutput)).size).toBe(failbackMethods.length);
    expect(new Set(failbackMethods.map((method) => method.constructId)).size).toBe(failbackMethods.length);
    // Deployed stacks and operators' scripts read this output: it must not change.
    expect(automatedMethod.stateMachineArnOutput).toBe('AutomatedFailbackStateMachineArn');
  });
});

describe('parseFailbackRequest', () => {
  it('builds the request union from the registry, one variant per method', () => {
    expect(FailbackRequest.options).toHaveLength(failbackMethods.length);
    expect(parseFailbackRequest(automated)).toEqual(automatedMethod.request.parse(automated));
  });

  it('refuses an unknown method with UnknownMethodError naming the known methods', () => {
    const refused = () => parseFailbackRequest({ ...automated, method: 'teleport' });
    expect(refused).toThrow(UnknownMethodError);
    expect(refused).toThrow('method "teleport" is unknown; homebound runs "automated"');
  });

  it('refuses a request without a method as an unknown one, saying it is missing', () => {
    const { method: _, ...withoutMethod } = automated;
    expect(() => parseFailbackRequest(withoutMethod)).toThrow('method "(missing)" is unknown');
  });

  it('refuses a known method without a target with MissingTargetError', () => {
    const { target: _, ...withoutTarget } = automated;
    expect(() => parseFailbackRequest(withoutTarget)).toThrow(MissingTargetError);
  });

  it("checks the fields of the method's variant, naming the wrong one", () => {
    const refused = () => parseFailbackRequest({ ...automated, target: { platform: 'vsphere', region: 'x' } });
    expect(refused).toThrow(InvalidFailbackRequestError);
    expect(refused).toThrow(/failback request field target\.platform/);
    expect(() => parseFailbackRequest({ ...automated, thresholdMb: 1 })).toThrow(/thresholdMb/);
  });
});
