import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidOptionError } from '../core/errors.ts';
import { compileControlServerOptions, type ControlServerOptions } from './options.ts';
import { route } from './router.ts';

const base: ControlServerOptions = { component: 'master', datacenter: 'dc-a', port: 8629, keyfile: '/etc/dcsync/tls.keyfile' };
const ok = async (): Promise<{ status: number }> => ({ status: 204 });

test('defaults and durations', () => {
  const c = compileControlServerOptions({ ...base, requestTimeout: '1m', throttle: { initialDelay: '1s', maxDelay: '2m' } });
  assert.equal(c.host, '0.0.0.0');
  assert.equal(c.maxBodyBytes, 1024 * 1024);
  assert.equal(c.maxJsonDepth, 32);
  assert.equal(c.requestTimeoutMs, 60_000);
  assert.equal(c.headersTimeoutMs, 10_000);
  assert.equal(c.certificateWarningMs, 30 * 86_400_000);
  assert.equal(c.authFailureFloorMs, 250);
  assert.deepEqual([c.throttle.initialDelayMs, c.throttle.maxDelayMs], [1000, 120_000]);
  assert.equal(c.operatorCertificates, false);
});

test('errors name the key', () => {
  const bad: Array<[Partial<ControlServerOptions>, string]> = [
    [{ port: 70000 }, 'port'],
    [{ port: 1.5 }, 'port'],
    [{ datacenter: ' ' }, 'datacenter'],
    [{ keyfile: '' }, 'keyfile'],
    [{ requestTimeout: 'soon' }, 'requestTimeout'],
    [{ maxBodyBytes: 0 }, 'maxBodyBytes'],
    [{ throttle: { initialDelay: '10s', maxDelay: '1s' } }, 'throttle.maxDelay'],
    [{ headersTimeout: '1m', requestTimeout: '10s' }, 'headersTimeout'],
    [{ operatorCertificates: true }, 'operatorCertificates'],
  ];
  for (const [over, key] of bad) {
    assert.throws(() => compileControlServerOptions({ ...base, ...over }), (e: unknown) => e instanceof InvalidOptionError && e.key === key, key);
  }
});

test('each route class needs what it checks credentials with', () => {
  const worker = route({ method: 'GET', path: '/tasks', access: 'worker', handler: ok });
  const peer = route({ method: 'POST', path: '/outgoing', access: 'peer', handler: ok });
  const operator = route({ method: 'GET', path: '/status', access: 'operator', handler: ok });
  assert.throws(() => compileControlServerOptions({ ...base, routes: [worker] }), /'jwtSecret' is required by the worker route 'GET \/tasks'/);
  assert.throws(() => compileControlServerOptions({ ...base, routes: [peer] }), /'clientAuthCa' is required by the peer route/);
  assert.throws(() => compileControlServerOptions({ ...base, routes: [operator] }), /'verifyOperator' is required/);
  const c = compileControlServerOptions({ ...base, routes: [worker, peer, operator], jwtSecret: '/s', clientAuthCa: '/ca', verifyOperator: async () => false });
  assert.equal(c.routes.length, 3);
  assert.doesNotThrow(() => compileControlServerOptions({ ...base, routes: [operator], clientAuthCa: '/ca', operatorCertificates: true }));
});
