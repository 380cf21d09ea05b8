import { describe, expect, it } from 'vitest';
import { unreachedFailAt } from '../../cli/drill/fail-at.js';
import { automatedMethod } from '../../core/methods/automated.js';
import { definitionPath } from '../../core/methods/method.js';
import { readDefinition } from '../../core/orchestration/asl-walk.js';

const definition = readDefinition(definitionPath(automatedMethod));
const missed = (failAt: string[], approval: 'auto-approve' | 'reject' | 'ask') =>
  unreachedFailAt(definition, failAt, approval).map((state) => state.state);

describe('unreachedFailAt (the --fail-at states a rehearsal will not reach)', () => {
  it('names a rollback-path state when nothing fails into the rollback', () => {
    expect(missed(['Rollback'], 'auto-approve')).toEqual(['Rollback']);
    expect(missed(['CleanUpAfterRollback', 'ReportRolledBack'], 'auto-approve')).toEqual([
      'CleanUpAfterRollback',
      'ReportRolledBack',
    ]);
  });

  it('reaches the rollback path through another --fail-at, --reject, or a person who may reject', () => {
    expect(missed(['Cutover', 'Rollback'], 'auto-approve')).toEqual([]);
    expect(missed(['CleanUpAfterRollback', 'ReportRolledBack'], 'reject')).toEqual([]);
    expect(missed(['Cutover', 'CleanUpAfterRollback'], 'auto-approve')).toEqual([]);
    expect(missed(['Rollback'], 'ask')).toEqual([]);
  });

  it('names a state after an earlier failure, and a state after the approval when the cutover is rejected', () => {
    expect(missed(['StopGateway', 'Cutover'], 'auto-approve')).toEqual(['Cutover']);
    expect(missed(['Cutover'], 'reject')).toEqual(['Cutover']);
    expect(missed(['CatchUpAfterApproval', 'StopTakeoverHosts'], 'ask')).toEqual(['StopTakeoverHosts']);
    expect(missed(['ValidateRequest', 'Rollback'], 'auto-approve')).toEqual(['Rollback']);
    expect(missed(['RetireTakeoverHosts', 'Rollback'], 'auto-approve')).toEqual(['Rollback']);
    expect(missed(['Rollback', 'CleanUpAfterRollback'], 'reject')).toEqual(['CleanUpAfterRollback']);
  });

  it('reaches a state inside the pass Map and fails the Map into the rollback', () => {
    expect(missed(['StreamVolumePass', 'Rollback'], 'auto-approve')).toEqual([]);
  });
});
