import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InvalidOptionError } from '../core/errors.ts';
import { API_PREFIX, createRouter, formatPath, parseQuery, route, type PathParams } from './router.ts';

const ok = async (): Promise<{ status: number }> => ({ status: 204 });

describe('route()', () => {
  test('types params from the path', async () => {
    const r = route({
      method: 'GET',
      path: '/sync/:id/tasks/:task',
      access: 'operator',
      handler: async (req) => {
        const id: string = req.params.id;
        const task: string = req.params.task;
        // @ts-expect-error: no such parameter
        void req.params.other;
        return { status: 200, body: { id, task } };
      },
    });
    assert.deepEqual(r.segments, [
      { kind: 'literal', value: 'sync' },
      { kind: 'param', name: 'id' },
      { kind: 'literal', value: 'tasks' },
      { kind: 'param', name: 'task' },
    ]);
    const p: PathParams<'/a/:x'> = { x: '1' };
    assert.equal(p.x, '1');
  });

  test('types the body through its validator', async () => {
    const r = route({
      method: 'POST',
      path: '/sync',
      access: 'operator',
      body: (v: unknown): { name: string } => ({ name: String((v as { name?: unknown }).name) }),
      handler: async (req) => ({ status: 200, body: req.body.name.toUpperCase() }),
    });
    assert.equal(typeof r.body, 'function');
  });

  test('refuses malformed patterns', () => {
    for (const path of ['', '/', 'sync', '/a//b', '/a/:', '/a/:1x', '/a b', '/a/:id/:id', '/a?x']) {
      assert.throws(() => route({ method: 'GET', path, access: 'public', handler: ok }), InvalidOptionError, path);
    }
  });
});

describe('createRouter()', () => {
  const routes = [
    route({ method: 'GET', path: '/tasks/:id', access: 'operator', handler: ok }),
    route({ method: 'GET', path: '/tasks/failed', access: 'operator', handler: ok }),
    route({ method: 'POST', path: '/tasks/:id', access: 'operator', handler: ok }),
    route({ method: 'GET', path: '/health', access: 'public', handler: ok }),
  ];
  const router = createRouter(routes);

  test('literal segments win over parameters, whatever the declaration order', () => {
    const m = router.match('GET', `${API_PREFIX}/tasks/failed`);
    assert.equal(m.kind, 'found');
    assert.equal(m.kind === 'found' && m.route.path, '/tasks/failed');
    const p = router.match('GET', `${API_PREFIX}/tasks/t-1`);
    assert.equal(p.kind === 'found' && p.route.path, '/tasks/:id');
    assert.deepEqual(p.kind === 'found' && { ...p.params }, { id: 't-1' });
  });

  test('decodes parameters and refuses bad percent-encoding', () => {
    const m = router.match('GET', `${API_PREFIX}/tasks/a%2Fb%20c`);
    assert.deepEqual(m.kind === 'found' && { ...m.params }, { id: 'a/b c' });
    assert.equal(router.match('GET', `${API_PREFIX}/tasks/%E0%A4%A`).kind, 'bad-path');
  });

  test('params objects have no prototype', () => {
    const m = router.match('GET', `${API_PREFIX}/tasks/__proto__`);
    assert.ok(m.kind === 'found');
    assert.equal(Object.getPrototypeOf(m.params), null);
    assert.equal(m.params['id'], '__proto__');
  });

  test('405 with the allowed methods, 404 otherwise', () => {
    assert.deepEqual(router.match('DELETE', `${API_PREFIX}/tasks/x`), { kind: 'method-not-allowed', allow: ['GET', 'POST'] });
    assert.deepEqual(router.match('HEAD', `${API_PREFIX}/health`), { kind: 'method-not-allowed', allow: ['GET'] });
    for (const p of [`${API_PREFIX}/nope`, `${API_PREFIX}/health/`, `${API_PREFIX}/tasks/`, `${API_PREFIX}//health`, '/_api/v2/health', '/health', API_PREFIX]) {
      assert.deepEqual(router.match('GET', p), { kind: 'not-found' }, p);
    }
  });

  test('two routes with the same method and shape conflict', () => {
    assert.throws(() => createRouter([...routes, route({ method: 'GET', path: '/tasks/:other', access: 'public', handler: ok })]), /conflicts with 'GET \/tasks\/:id'/);
  });
});

test('parseQuery: first value wins, null prototype', () => {
  const q = parseQuery('a=1&b=x%20y&a=2&__proto__=p');
  assert.deepEqual(Object.entries(q), [
    ['a', '1'],
    ['b', 'x y'],
    ['__proto__', 'p'],
  ]);
  assert.equal(Object.getPrototypeOf(q), null);
});

test('formatPath encodes parameters and the query', () => {
  assert.equal(formatPath('/sync/:id/tasks/:task', { id: 'a/b', task: 't 1' }), '/sync/a%2Fb/tasks/t%201');
  assert.equal(formatPath('/status', {}, { verbose: true, skip: undefined, n: 2 }), '/status?verbose=true&n=2');
  assert.throws(() => formatPath('/sync/:id', { id: '' }), RangeError);
});
