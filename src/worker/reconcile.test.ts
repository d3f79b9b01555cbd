import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TaskAssignment } from '../control/v1/cluster.ts';
import { reconcile } from './reconcile.ts';

const a = (taskId: string, epoch: number, state: TaskAssignment['state'] = 'assigned'): TaskAssignment => ({ taskId, syncId: 'main', kind: 'source', database: taskId, epoch, state });

describe('reconcile', () => {
  it('starts every assignment when nothing runs', () => {
    const p = reconcile([], [a('t2', 1), a('t1', 3, 'running')]);
    assert.deepEqual(p.start.map((x) => x.taskId), ['t1', 't2']);
    assert.deepEqual(p.stop, []);
  });

  it('does nothing when what runs is what is assigned', () => {
    const p = reconcile([{ taskId: 't1', epoch: 2 }], [a('t1', 2, 'running')]);
    assert.deepEqual(p, { start: [], stop: [] });
  });

  it('stops tasks that are no longer assigned', () => {
    const p = reconcile([{ taskId: 't1', epoch: 2 }, { taskId: 't2', epoch: 1 }], [a('t2', 1)]);
    assert.deepEqual(p.stop, ['t1']);
    assert.deepEqual(p.start, []);
  });

  it('restarts a task whose epoch changed (stop the old run, start the new one)', () => {
    const p = reconcile([{ taskId: 't1', epoch: 2 }], [a('t1', 3)]);
    assert.deepEqual(p.stop, ['t1']);
    assert.deepEqual(p.start.map((x) => [x.taskId, x.epoch]), [['t1', 3]]);
  });

  it('an empty answer stops everything', () => {
    const p = reconcile([{ taskId: 't1', epoch: 1 }, { taskId: 't0', epoch: 1 }], []);
    assert.deepEqual(p.stop, ['t0', 't1']);
  });

  it('does not run assignments in a state other than assigned or running', () => {
    const p = reconcile([{ taskId: 't1', epoch: 1 }], [a('t1', 1, 'failed'), a('t2', 1, 'cancelled'), a('t3', 1, 'pending')]);
    assert.deepEqual(p.start, []);
    assert.deepEqual(p.stop, ['t1']);
  });
});
