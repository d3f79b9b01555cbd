import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { FileExistsError } from './errors.ts';
import { createJwtSecret, JwtError, parseJwtSecret, readJwtSecret, signJwt, verifyJwt, writeJwtSecret, type JwtFailure } from './jwt.ts';

const secret = parseJwtSecret(createJwtSecret());
const now = new Date('2030-01-01T00:00:00Z');
const nowS = now.getTime() / 1000;
const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');

/** Builds a token by hand, signed with `key` (HS256 over header.payload) or with the given signature. */
function forge(header: unknown, payload: unknown, key: Buffer = secret, sig?: string): string {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${sig ?? createHmac('sha256', key).update(input).digest('base64url')}`;
}

function rejects(token: string, reason: JwtFailure, opts: Partial<Parameters<typeof verifyJwt>[2]> = {}): void {
  assert.throws(() => verifyJwt(token, secret, { audience: 'dc-a', now, ...opts }), (err: unknown) => err instanceof JwtError && err.reason === reason, reason);
}

describe('signJwt / verifyJwt', () => {
  test('round trip', () => {
    const token = signJwt(secret, { audience: 'dc-a', expiresInMs: 60_000, subject: 'worker-1', issuer: 'master', now, claims: { role: 'worker' } });
    const claims = verifyJwt(token, secret, { audience: 'dc-a', issuer: 'master', now });
    assert.deepEqual({ ...claims }, { role: 'worker', aud: 'dc-a', iat: nowS, exp: nowS + 60, sub: 'worker-1', iss: 'master' });
    assert.deepEqual(JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()), { alg: 'HS256', typ: 'JWT' });
  });

  test('bad signature: another secret, a changed payload, a truncated signature', () => {
    const other = parseJwtSecret(createJwtSecret());
    rejects(signJwt(other, { audience: 'dc-a', expiresInMs: 60_000, now }), 'signature');
    const [h, , s] = signJwt(secret, { audience: 'dc-a', expiresInMs: 60_000, now }).split('.');
    rejects(`${h}.${b64({ aud: 'dc-a', exp: nowS + 9999, admin: true })}.${s}`, 'signature');
    rejects(`${h}.${b64({ aud: 'dc-a', exp: nowS + 60 })}.${s!.slice(0, 20)}`, 'signature');
  });

  test('alg none, other algorithms and a missing alg are refused', () => {
    const payload = { aud: 'dc-a', exp: nowS + 60 };
    rejects(forge({ alg: 'none', typ: 'JWT' }, payload, secret, ''), 'algorithm');
    rejects(forge({ alg: 'none' }, payload), 'algorithm');
    rejects(forge({ alg: 'None' }, payload), 'algorithm');
    rejects(forge({ alg: 'HS512' }, payload), 'algorithm');
    rejects(forge({ alg: 'RS256' }, payload), 'algorithm');
    rejects(forge({ typ: 'JWT' }, payload), 'algorithm');
    rejects(forge({ alg: 'HS256', crit: ['exp'] }, payload), 'malformed');
    rejects(forge({ alg: 'HS256', typ: 'JOSE+JSON' }, payload), 'malformed');
  });

  test('expired, not yet valid, issued in the future, with a clock tolerance', () => {
    const t = (p: object): string => forge({ alg: 'HS256', typ: 'JWT' }, { aud: 'dc-a', ...p });
    rejects(t({ exp: nowS - 31 }), 'expired');
    rejects(signJwt(secret, { audience: 'dc-a', expiresInMs: 60_000, now: new Date(now.getTime() - 120_000) }), 'expired');
    assert.ok(verifyJwt(t({ exp: nowS - 10 }), secret, { audience: 'dc-a', now }), 'within the 30 s tolerance');
    rejects(t({ exp: nowS - 10 }), 'expired', { clockToleranceMs: 0 });
    rejects(t({ exp: nowS + 60, nbf: nowS + 31 }), 'not-yet-valid');
    rejects(t({ exp: nowS + 60, iat: nowS + 3600 }), 'issued-in-future');
    rejects(t({}), 'claims');
    rejects(t({ exp: '9999999999' }), 'claims');
    rejects(t({ exp: nowS + 60, sub: 42 }), 'claims');
  });

  test('wrong or missing audience; issuer', () => {
    const t = (p: object): string => forge({ alg: 'HS256' }, { exp: nowS + 60, ...p });
    rejects(signJwt(secret, { audience: 'dc-b', expiresInMs: 60_000, now }), 'audience');
    rejects(t({}), 'audience');
    rejects(t({ aud: ['dc-b', 'dc-c'] }), 'audience');
    rejects(t({ aud: [1] }), 'audience');
    assert.ok(verifyJwt(t({ aud: ['dc-b', 'dc-a'] }), secret, { audience: 'dc-a', now }));
    rejects(t({ aud: 'dc-a', iss: 'x' }), 'issuer', { issuer: 'master' });
  });

  test('malformed tokens', () => {
    const good = signJwt(secret, { audience: 'dc-a', expiresInMs: 60_000, now });
    const signed = (payloadSeg: string): string => {
      const input = `${b64({ alg: 'HS256' })}.${payloadSeg}`;
      return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
    };
    const signedButBad = [signed(Buffer.from('not json').toString('base64url')), signed(b64([1, 2])), signed(b64('str'))];
    for (const bad of ['', 'a.b', good + '.x', good + '=', ...signedButBad, `${b64({ alg: 'HS256' })}.e30.${'+'.repeat(43)}`, `${b64([1])}.${b64({})}.x`, 'x'.repeat(9000)]) {
      assert.throws(() => verifyJwt(bad, secret, { audience: 'dc-a', now }), (err: unknown) => err instanceof JwtError && err.reason === 'malformed', bad.slice(0, 60));
    }
  });

  test('secrets shorter than 32 bytes are refused', () => {
    assert.throws(() => parseJwtSecret('short'), /at least 32/);
    assert.throws(() => signJwt(Buffer.alloc(16), { audience: 'a', expiresInMs: 1000 }), /at least 32/);
  });
});

describe('JWT secret files', () => {
  test('64 hex characters, mode 0600, not overwritten without force, read back as the HMAC key', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'dcsync-jwt-test-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const path = join(dir, 'jwt.secret');
    const s = createJwtSecret();
    assert.match(s, /^[0-9a-f]{64}$/);
    assert.notEqual(createJwtSecret(), s);
    await writeJwtSecret(path, s);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.equal(await readFile(path, 'utf8'), s + '\n');
    await assert.rejects(writeJwtSecret(path, createJwtSecret()), FileExistsError);
    assert.deepEqual(await readJwtSecret(path), Buffer.from(s));
    await writeJwtSecret(path, createJwtSecret(), { force: true });
    assert.notDeepEqual(await readJwtSecret(path), Buffer.from(s));
    await writeFile(join(dir, 'weak'), 'abc\n');
    await assert.rejects(readJwtSecret(join(dir, 'weak')), /at least 32/);
  });
});
