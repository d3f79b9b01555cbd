import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AuthThrottle, basicAuthorization, classifyClientCertificate, normalizeAddress, parseAuthorization, staticPasswordVerifier, type ClientCertificateFacts } from './auth.ts';

describe('parseAuthorization', () => {
  test('basic', () => {
    assert.deepEqual(parseAuthorization(basicAuthorization('admin', 'p:a:ss wörd')), { scheme: 'basic', username: 'admin', password: 'p:a:ss wörd' });
    assert.deepEqual(parseAuthorization('basic ' + Buffer.from('u:').toString('base64')), { scheme: 'basic', username: 'u', password: '' });
  });
  test('bearer', () => {
    assert.deepEqual(parseAuthorization('Bearer a.b.c'), { scheme: 'bearer', token: 'a.b.c' });
    assert.deepEqual(parseAuthorization('Bearer a.b.'), { scheme: 'bearer', token: 'a.b.' });
  });
  test('absent and malformed', () => {
    assert.deepEqual(parseAuthorization(undefined), { scheme: 'none' });
    assert.deepEqual(parseAuthorization(''), { scheme: 'none' });
    for (const h of ['Basic', 'Basic !!!', 'Basic ' + Buffer.from('nocolon').toString('base64'), 'Basic ' + Buffer.from(':pw').toString('base64'), 'Basic abc']) {
      assert.deepEqual(parseAuthorization(h), { scheme: 'invalid', presented: 'basic' }, h);
    }
    assert.deepEqual(parseAuthorization('Bearer a b'), { scheme: 'invalid', presented: 'bearer' });
    assert.deepEqual(parseAuthorization('Bearer ' + 'a'.repeat(9000)), { scheme: 'invalid', presented: 'bearer' });
    assert.deepEqual(parseAuthorization('Digest x'), { scheme: 'invalid', presented: 'other' });
  });
  test('basicAuthorization refuses a user name with a colon', () => {
    assert.throws(() => basicAuthorization('a:b', 'x'), /auth.user/);
  });
});

describe('classifyClientCertificate', () => {
  const client = {
    subject: { CN: 'dcsync-client', O: 'dcsync', OU: 'client' },
    ca: false,
    extKeyUsage: ['1.3.6.1.5.5.7.3.2'],
    fingerprint256: 'AB:CD',
  };
  const facts = (over: Partial<typeof client>, authorized = true): ClientCertificateFacts => ({ authorized, certificate: { ...client, ...over } });

  test('a verified dcsync client certificate', () => {
    assert.deepEqual(classifyClientCertificate(facts({})), { ok: true, commonName: 'dcsync-client', fingerprint256: 'AB:CD' });
  });
  test('absent or unverified', () => {
    assert.deepEqual(classifyClientCertificate({ authorized: false }), { ok: false, reason: 'absent' });
    assert.deepEqual(classifyClientCertificate(facts({}, false)), { ok: false, reason: 'unverified' });
  });
  test('server certificates, CAs and foreign subjects are not client certificates', () => {
    const bad: Array<Partial<typeof client>> = [
      { subject: { CN: 'master-1', O: 'dcsync', OU: 'server' } },
      { subject: { CN: 'x', O: 'dcsync', OU: ['client', 'server'] } as unknown as typeof client.subject },
      { subject: { CN: 'x', O: 'acme', OU: 'client' } },
      { subject: { CN: '', O: 'dcsync', OU: 'client' } },
      { ca: true },
      { extKeyUsage: ['1.3.6.1.5.5.7.3.1'] },
      { extKeyUsage: [] },
    ];
    for (const b of bad) assert.deepEqual(classifyClientCertificate(facts(b)), { ok: false, reason: 'not-a-client-certificate' }, JSON.stringify(b));
  });
});

describe('AuthThrottle', () => {
  test('blocks exponentially per address, capped, cleared by a success', () => {
    let now = 0;
    const t = new AuthThrottle({ initialDelayMs: 100, maxDelayMs: 350, forgetAfterMs: 10_000, maxTracked: 100 }, () => now);
    assert.equal(t.blockedForMs('10.0.0.1'), 0);
    assert.equal(t.recordFailure('10.0.0.1'), 100);
    assert.equal(t.blockedForMs('10.0.0.1'), 100);
    assert.equal(t.blockedForMs('::ffff:10.0.0.1'), 100, 'IPv4-mapped addresses are the same client');
    assert.equal(t.blockedForMs('10.0.0.2'), 0);
    now = 100;
    assert.equal(t.blockedForMs('10.0.0.1'), 0);
    assert.equal(t.recordFailure('10.0.0.1'), 200);
    assert.equal(t.recordFailure('10.0.0.1'), 350);
    assert.equal(t.recordFailure('10.0.0.1'), 350);
    assert.equal(t.failures('10.0.0.1'), 4);
    t.recordSuccess('10.0.0.1');
    assert.equal(t.blockedForMs('10.0.0.1'), 0);
    assert.equal(t.recordFailure('10.0.0.1'), 100);
  });
  test('forgets old failures and bounds its memory', () => {
    let now = 0;
    const t = new AuthThrottle({ initialDelayMs: 100, maxDelayMs: 1000, forgetAfterMs: 1000, maxTracked: 3 }, () => now);
    t.recordFailure('a');
    t.recordFailure('a');
    now = 2000;
    assert.equal(t.recordFailure('a'), 100, 'counted from one again');
    for (const x of ['b', 'c', 'd', 'e']) t.recordFailure(x);
    assert.equal(t.failures('a'), 0, 'the oldest address was dropped');
    assert.equal(t.failures('e'), 1);
  });
  test('refuses inverted limits', () => {
    assert.throws(() => new AuthThrottle({ initialDelayMs: 10, maxDelayMs: 5, forgetAfterMs: 1, maxTracked: 1 }));
  });
});

test('AuthThrottle.exclusive runs attempts of one address one after the other, others in parallel', async () => {
  const t = new AuthThrottle();
  const order: string[] = [];
  const step = (name: string, ms: number) => async (): Promise<string> => {
    order.push(`${name}+`);
    await new Promise((r) => setTimeout(r, ms));
    order.push(`${name}-`);
    return name;
  };
  const results = await Promise.all([t.exclusive('10.0.0.1', step('a1', 20)), t.exclusive('::ffff:10.0.0.1', step('a2', 1)), t.exclusive('10.0.0.2', step('b', 5))]);
  assert.deepEqual(results, ['a1', 'a2', 'b']);
  assert.ok(order.indexOf('a1-') < order.indexOf('a2+'), order.join(' '));
  assert.ok(order.indexOf('b+') < order.indexOf('a1-'), order.join(' '));
  const slow = t.exclusive('10.0.0.3', step('c', 10), 1);
  assert.equal(await t.exclusive('10.0.0.3', step('d', 1), 1), 'busy');
  await slow;
  await assert.rejects(t.exclusive('10.0.0.4', async () => { throw new Error('x'); }), /x/);
  assert.equal(await t.exclusive('10.0.0.4', async () => 'after'), 'after');
});

test('normalizeAddress', () => {
  assert.equal(normalizeAddress('::FFFF:127.0.0.1'), '127.0.0.1');
  assert.equal(normalizeAddress('::1'), '::1');
  assert.equal(normalizeAddress('FE80::1'), 'fe80::1');
});

test('staticPasswordVerifier', async () => {
  const v = staticPasswordVerifier(new Map([['admin', 'secret']]));
  const ctx = { remoteAddress: '127.0.0.1' };
  assert.equal(await v('admin', 'secret', ctx), true);
  assert.equal(await v('admin', 'Secret', ctx), false);
  assert.equal(await v('admin', '', ctx), false);
  assert.equal(await v('nobody', 'secret', ctx), false);
});
