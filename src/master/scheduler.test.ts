import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_WORKER_TIMEOUT_MS, planRound, taskId, type PlanInput, type PlanSync, type PlanTask, type PlanWorker } from './scheduler.ts';

const NOW = 1_700_000_000_000;
const OPTS = { workerTimeoutMs: DEFAULT_WORKER_TIMEOUT_MS };
const alive = (id: string, agoMs = 1_000): PlanWorker => ({ id, lastHeartbeatMs: NOW - agoMs });
const dead = (id: string): PlanWorker => ({ id, lastHeartbeatMs: NOW - 20_000 });
const outgoing: PlanSync = { id: 'main', role: 'outgoing', status: 'running', databases: [] };

function task(database: string, over: Partial<PlanTask> = {}): PlanTask {
  return { id: taskId('main', 'source', database), syncId: 'main', kind: 'source', database, workerId: null, epoch: 0, state: 'pending', ...over };
}

function input(over: Partial<PlanInput>): PlanInput {
  return { nowMs: NOW, workers: [], tasks: [], syncs: [outgoing], localDatabases: [], ...over };
}

describe('planRound', () => {
  it('creates one source task per local database of an outgoing sync and spreads them over the live workers', () => {
    const p = planRound(input({ workers: [alive('w1'), alive('w2')], localDatabases: ['a', 'b', 'c', 'postgres'] }), OPTS);
    assert.equal(p.creates.length, 4);
    assert.deepEqual(p.creates.map((c) => c.database).sort(), ['a', 'b', 'c', 'postgres']);
    for (const c of p.creates) {
      assert.equal(c.kind, 'source');
      assert.equal(c.epoch, 1);
      assert.equal(c.state, 'assigned');
      assert.equal(c.id, taskId('main', 'source', c.database));
    }
    const perWorker = new Map<string, number>();
    for (const c of p.creates) perWorker.set(c.workerId!, (perWorker.get(c.workerId!) ?? 0) + 1);
    assert.deepEqual([...perWorker.entries()].sort(), [['w1', 2], ['w2', 2]]);
  });

  it('creates destination tasks from the databases an incoming sync names', () => {
    const sync: PlanSync = { id: 'in', role: 'incoming', status: 'initializing', databases: ['x', 'y', 'x'] };
    const p = planRound(input({ syncs: [sync], workers: [alive('w1')], localDatabases: ['postgres'] }), OPTS);
    assert.deepEqual(p.creates.map((c) => [c.kind, c.database, c.workerId]), [['destination', 'x', 'w1'], ['destination', 'y', 'w1']]);
  });

  it('creates pending tasks (epoch 0) when no worker is alive', () => {
    const p = planRound(input({ workers: [dead('w1')], localDatabases: ['a'] }), OPTS);
    assert.deepEqual(p.creates.map((c) => [c.workerId, c.epoch, c.state]), [[null, 0, 'pending']]);
    assert.deepEqual(p.deadWorkers, ['w1']);
    assert.deepEqual(p.liveWorkers, []);
  });

  it('leaves tasks of live workers alone (no rebalancing)', () => {
    const tasks = [task('a', { workerId: 'w1', epoch: 3, state: 'running' }), task('b', { workerId: 'w1', epoch: 1, state: 'assigned' })];
    const p = planRound(input({ workers: [alive('w1'), alive('w2')], tasks, localDatabases: ['a', 'b'] }), OPTS);
    assert.deepEqual(p.creates, []);
    assert.deepEqual(p.updates, []);
  });

  it('moves the tasks of a worker silent for 15 s to the least loaded live worker, bumping the epoch', () => {
    const tasks = [
      task('a', { workerId: 'w1', epoch: 4, state: 'running' }),
      task('b', { workerId: 'w1', epoch: 2, state: 'running' }),
      task('c', { workerId: 'w2', epoch: 1, state: 'running' }),
    ];
    const p = planRound(input({ workers: [dead('w1'), alive('w2'), alive('w3')], tasks, localDatabases: ['a', 'b', 'c'] }), OPTS);
    assert.deepEqual(p.deadWorkers, ['w1']);
    const moves = p.updates.map((u) => [u.taskId, u.fromWorkerId, u.workerId, u.fromEpoch, u.epoch, u.state, u.reason]);
    // w3 has none, w2 has one: the first orphan goes to w3, then they are even and the smaller id (w2) wins.
    const [first, second] = [...tasks.slice(0, 2)].sort((x, y) => (x.id < y.id ? -1 : 1));
    assert.deepEqual(moves, [
      [first!.id, 'w1', 'w3', first!.epoch, first!.epoch + 1, 'assigned', 'worker-dead'],
      [second!.id, 'w1', 'w2', second!.epoch, second!.epoch + 1, 'assigned', 'worker-dead'],
    ]);
  });

  it('counts a heartbeat exactly workerTimeoutMs old as dead and one just younger as alive', () => {
    const p = planRound(input({ workers: [{ id: 'old', lastHeartbeatMs: NOW - 15_000 }, { id: 'young', lastHeartbeatMs: NOW - 14_999 }] }), OPTS);
    assert.deepEqual(p.liveWorkers, ['young']);
    assert.deepEqual(p.deadWorkers, ['old']);
  });

  it('fences the tasks of a dead worker when nobody can take them (back to pending with a new epoch)', () => {
    const tasks = [task('a', { workerId: 'w1', epoch: 7, state: 'running' })];
    const p = planRound(input({ workers: [dead('w1')], tasks, localDatabases: ['a'] }), OPTS);
    assert.deepEqual(
      p.updates.map((u) => [u.workerId, u.epoch, u.state, u.reason]),
      [[null, 8, 'pending', 'worker-dead']],
    );
    // The next round with the task pending and still nobody alive: nothing to do.
    const again = planRound(input({ workers: [dead('w1')], tasks: [task('a', { epoch: 8 })], localDatabases: ['a'] }), OPTS);
    assert.deepEqual(again.updates, []);
  });

  it('assigns pending tasks when a worker appears', () => {
    const p = planRound(input({ workers: [alive('w9')], tasks: [task('a', { epoch: 8 })], localDatabases: ['a'] }), OPTS);
    assert.deepEqual(p.updates.map((u) => [u.workerId, u.fromEpoch, u.epoch, u.state, u.reason]), [['w9', 8, 9, 'assigned', 'assigned']]);
  });

  it('keeps failed tasks where they are (also when their worker died) until reset', () => {
    const tasks = [task('a', { workerId: 'w1', epoch: 2, state: 'failed' }), task('b', { workerId: 'w2', epoch: 1, state: 'failed' })];
    const p = planRound(input({ workers: [dead('w1'), alive('w2'), alive('w3')], tasks, localDatabases: ['a', 'b', 'c'] }), OPTS);
    assert.deepEqual(p.updates, []);
    // The failed task still counts as load: the new task goes to w3.
    assert.deepEqual(p.creates.map((c) => [c.database, c.workerId]), [['c', 'w3']]);
  });

  it('cancels the task of a dropped database and of an inactive or cancelling sync, bumping the epoch', () => {
    const tasks = [task('gone', { workerId: 'w1', epoch: 3, state: 'running' }), task('a', { workerId: 'w1', epoch: 1, state: 'running' })];
    const p = planRound(input({ workers: [alive('w1')], tasks, localDatabases: ['a'] }), OPTS);
    assert.deepEqual(p.updates.map((u) => [u.taskId, u.workerId, u.epoch, u.state, u.reason]), [[taskId('main', 'source', 'gone'), null, 4, 'cancelled', 'cancelled']]);

    for (const status of ['inactive', 'cancelling'] as const) {
      const q = planRound(input({ syncs: [{ ...outgoing, status }], workers: [alive('w1')], tasks, localDatabases: ['a', 'gone'] }), OPTS);
      assert.deepEqual(q.creates, []);
      assert.deepEqual(q.updates.map((u) => u.state), ['cancelled', 'cancelled'], status);
    }
  });

  it('does not touch the tasks of a failed sync', () => {
    const tasks = [task('a', { workerId: 'w1', epoch: 3, state: 'running' })];
    const p = planRound(input({ syncs: [{ ...outgoing, status: 'failed' }], workers: [dead('w1'), alive('w2')], tasks, localDatabases: ['a', 'b'] }), OPTS);
    assert.deepEqual(p.creates, []);
    assert.deepEqual(p.updates, []);
  });

  it('reactivates a cancelled task when its database comes back', () => {
    const tasks = [task('a', { epoch: 4, state: 'cancelled' })];
    const p = planRound(input({ workers: [alive('w1')], tasks, localDatabases: ['a'] }), OPTS);
    assert.deepEqual(p.updates.map((u) => [u.workerId, u.fromEpoch, u.epoch, u.state, u.reason]), [['w1', 4, 5, 'assigned', 'reactivated']]);
    // Cancelled tasks do not count as load and are not cancelled again.
    const q = planRound(input({ workers: [alive('w1')], tasks, localDatabases: [] }), OPTS);
    assert.deepEqual(q.updates, []);
  });

  it('is deterministic: the same input gives the same plan whatever the input order', () => {
    const workers = [alive('w2'), alive('w1'), dead('w0')];
    const tasks = [task('b', { workerId: 'w0', epoch: 1, state: 'running' }), task('a', { workerId: 'w0', epoch: 1, state: 'running' })];
    const one = planRound(input({ workers, tasks, localDatabases: ['a', 'b', 'c'] }), OPTS);
    const two = planRound(input({ workers: [...workers].reverse(), tasks: [...tasks].reverse(), localDatabases: ['c', 'b', 'a'] }), OPTS);
    assert.deepEqual(one, two);
  });

  it('gives task ids that are stable and safe in a URL path', () => {
    const id = taskId('main', 'source', 'weird/db name?');
    assert.equal(id, taskId('main', 'source', 'weird/db name?'));
    assert.notEqual(id, taskId('main', 'destination', 'weird/db name?'));
    assert.match(id, /^src-[0-9a-f]{16}$/);
  });
});
