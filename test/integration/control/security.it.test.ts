/**
 * The control server's security requirements, against a real server on a loopback port with certificates
 * generated at set-up (no keys are committed). Every refusal is its own test, and each asserts that no handler
 * ran ("nothing processed").
 *
 * How refusals look from the client: Node's TLS verifies a presented client certificate when the handshake
 * completes, so with TLS 1.3 a refused certificate shows up at the client as a reset connection (ECONNRESET)
 * rather than an alert; these tests then check the server's log for the reason.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { KeyObject, type webcrypto } from 'node:crypto';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import https from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { createLogger } from '../../../src/core/logger.ts';
import { delay } from '../../../src/core/time.ts';
import { freePort } from '../../../tools/local/ports.ts';
import {
  ControlClient,
  ControlHttpError,
  ControlServer,
  EndpointUnreachableError,
  EndpointsUnreachableError,
  ServerCertificateError,
  route,
  staticPasswordVerifier,
  type BasicAuthVerifier,
  type ControlServerOptions,
  type RouteRequest,
} from '../../../src/control/index.ts';
import {
  createJwtSecret,
  formatKeyfile,
  issueClientKeyfile,
  issueServerKeyfile,
  parseJwtSecret,
  signJwt,
  type Keyfile,
} from '../../../src/tls/index.ts';
import { nodeCrypto, x509 } from '../../../src/tls/x509.ts';
import { createTestCa, createTestPki, writeTestPki, type TestCa, type TestPki, type TestPkiFiles } from '../../helpers/tls-fixtures.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const DATACENTER = 'dc-a';
const OPERATOR = 'admin';
const PASSWORD = 'correct-horse-battery-staple';
const WRONG_PASSWORD = 'wrong-password-Tr0ub4dor';

// ---------------------------------------------------------------------------------------------- fixtures

const logs: string[] = [];
const logger = createLogger({ level: 'debug', sink: (line) => logs.push(line) });
/** Every secret the tests use; none may appear in a log line. */
const secrets: string[] = [PASSWORD, WRONG_PASSWORD];

let pki: TestPki;
let files: TestPkiFiles;
let stranger: TestCa;
let jwtSecretText: string;
let jwtSecretPath: string;
let workerToken: string;

/** Handler invocations per route name. */
const handled: Record<string, number> = {};
const totalHandled = (): number => Object.values(handled).reduce((a, b) => a + b, 0);
/** User names the operator verifier was called with. */
const verifierCalls: string[] = [];

function hit(name: string) {
  return async (req: RouteRequest<unknown, unknown>) => {
    handled[name] = (handled[name] ?? 0) + 1;
    return { status: 200, body: { route: name, auth: req.auth, params: req.params, keys: typeof req.body === 'object' && req.body !== null ? Object.keys(req.body) : [] } };
  };
}

const testRoutes = [
  route({ method: 'GET', path: '/test/operator', access: 'operator', handler: hit('operator') }),
  route({ method: 'POST', path: '/test/operator', access: 'operator', handler: hit('operator-post') }),
  route({ method: 'GET', path: '/test/worker', access: 'worker', handler: hit('worker') }),
  route({ method: 'GET', path: '/test/peer', access: 'peer', handler: hit('peer') }),
  route({ method: 'POST', path: '/test/peer', access: 'peer', handler: hit('peer-post') }),
  route({ method: 'GET', path: '/test/items/:id', access: 'public', handler: hit('items') }),
  route({
    method: 'GET',
    path: '/test/fail',
    access: 'public',
    handler: async () => {
      handled['fail'] = (handled['fail'] ?? 0) + 1;
      throw new Error('handler exploded');
    },
  }),
];

function recordingVerifier(inner: BasicAuthVerifier): BasicAuthVerifier {
  return async (user, password, ctx) => {
    verifierCalls.push(user);
    return inner(user, password, ctx);
  };
}

let dir: string;
let keyfileCounter = 0;
async function keyfilePath(kf: Keyfile): Promise<string> {
  const path = join(dir, `keyfile-${++keyfileCounter}.pem`);
  await writeFile(path, formatKeyfile(kf), { mode: 0o600 });
  return path;
}

const servers: ControlServer[] = [];
async function startServer(overrides: Partial<ControlServerOptions> = {}): Promise<{ server: ControlServer; port: number; endpoint: string }> {
  const server = new ControlServer({
    component: 'master',
    datacenter: DATACENTER,
    host: '127.0.0.1',
    port: 0,
    keyfile: files.serverKeyfile,
    clientAuthCa: files.clientCaCert,
    jwtSecret: jwtSecretPath,
    verifyOperator: recordingVerifier(staticPasswordVerifier(new Map([[OPERATOR, PASSWORD]]))),
    routes: testRoutes,
    version: '1.2.3-test',
    throttle: { initialDelay: 300, maxDelay: 1200 },
    authFailureFloor: 50,
    logger,
    ...overrides,
  });
  servers.push(server);
  const { port } = await server.start();
  return { server, port, endpoint: `https://127.0.0.1:${port}` };
}

let main: { server: ControlServer; port: number; endpoint: string };

const clients: ControlClient[] = [];
function client(opts: Partial<ConstructorParameters<typeof ControlClient>[0]> = {}): ControlClient {
  const c = new ControlClient({ endpoints: main.endpoint, ca: pki.tlsCa.certPem, timeout: '5s', ...opts });
  clients.push(c);
  return c;
}
const operator = (): ControlClient => client({ auth: { kind: 'basic', username: OPERATOR, password: PASSWORD } });

interface RawResult {
  status?: number;
  headers?: IncomingHttpHeaders;
  text?: string;
  error?: NodeJS.ErrnoException;
}

/** One request with full control over headers and body; resolves with the answer or the error. */
function raw(opts: {
  port?: number;
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  chunks?: readonly (string | Buffer)[];
  keyfile?: Keyfile;
  ca?: string;
}): Promise<RawResult> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (r: RawResult): void => {
      if (!done) {
        done = true;
        resolve(r);
      }
    };
    const req = https.request(
      {
        host: '127.0.0.1',
        port: opts.port ?? main.port,
        method: opts.method ?? 'GET',
        path: opts.path,
        headers: opts.headers ?? {},
        ca: opts.ca ?? pki.tlsCa.certPem,
        agent: false,
        ...(opts.keyfile ? { cert: [opts.keyfile.certPem, ...opts.keyfile.chainPem].join(''), key: opts.keyfile.keyPem } : {}),
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => finish({ status: res.statusCode!, headers: res.headers, text }));
        res.on('error', (error) => finish({ status: res.statusCode!, headers: res.headers, text, error }));
      },
    );
    req.on('error', (error: NodeJS.ErrnoException) => finish({ error }));
    if (opts.chunks) {
      for (const c of opts.chunks) req.write(c);
      req.end();
    } else req.end(opts.body);
  });
}

const basic = (user: string, password: string): string => {
  const value = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  secrets.push(value.slice(6));
  return value;
};

function errorOf(r: RawResult): { code: string; message: string } {
  const body = JSON.parse(r.text ?? '') as { error: { code: string; message: string } };
  assert.equal(typeof body.error.code, 'string');
  assert.equal(typeof body.error.message, 'string');
  return body.error;
}

/** Runs `fn` and asserts that no handler ran meanwhile. */
async function nothingProcessed<T>(fn: () => Promise<T>): Promise<T> {
  const before = totalHandled();
  const result = await fn();
  // Give a stray request a moment to reach a handler, had it got through.
  await delay(20);
  assert.equal(totalHandled(), before, 'a handler ran for a refused request');
  return result;
}

async function rejectionOf(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  assert.fail('expected the request to fail');
}

function logsSince(mark: number): Array<Record<string, unknown>> {
  return logs.slice(mark).map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** A self-signed leaf that looks like a dcsync client certificate (O=dcsync, OU=client, clientAuth). */
async function selfSignedClient(): Promise<Keyfile> {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
  const keys = (await nodeCrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: '01',
      name: [{ CN: ['dcsync-client'] }, { O: ['dcsync'] }, { OU: ['client'] }],
      notBefore: new Date(Date.now() - HOUR),
      notAfter: new Date(Date.now() + DAY),
      keys,
      signingAlgorithm: alg,
      extensions: [new x509.BasicConstraintsExtension(false), new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth])],
    },
    nodeCrypto,
  );
  return { certPem: cert.toString('pem'), chainPem: [], keyPem: KeyObject.from(keys.privateKey).export({ type: 'pkcs8', format: 'pem' }).toString() };
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dcsync-control-'));
  pki = await createTestPki();
  files = await writeTestPki(pki, dir);
  stranger = await createTestCa('client-auth', 'some other CA');
  jwtSecretText = createJwtSecret();
  jwtSecretPath = join(dir, 'jwt-secret');
  await writeFile(jwtSecretPath, jwtSecretText + '\n', { mode: 0o600 });
  workerToken = signJwt(parseJwtSecret(jwtSecretText), { audience: DATACENTER, expiresInMs: HOUR, subject: 'worker-1' });
  secrets.push(jwtSecretText, workerToken, pki.server.keyPem.split('\n')[1]!, pki.client.keyPem.split('\n')[1]!);
  main = await startServer();
});

after(async () => {
  for (const c of clients) c.close();
  for (const s of servers) await s.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------- tests

describe('control server: what is allowed', () => {
  test('public routes need no credentials; TLS 1.3 is negotiated', async () => {
    const c = client();
    assert.deepEqual(await c.get('/health'), { status: 'ok', component: 'master' });
    assert.deepEqual(await c.get('/version'), { version: '1.2.3-test', api: '/_api/v1', component: 'master' });
    const socket = tls.connect({ host: '127.0.0.1', port: main.port, ca: pki.tlsCa.certPem, servername: 'localhost' });
    await once(socket, 'secureConnect');
    assert.equal(socket.getProtocol(), 'TLSv1.3');
    socket.destroy();
  });

  test('each route class accepts its own credential, and path parameters are decoded', async () => {
    const before = { ...handled };
    const op = (await operator().get('/test/operator')) as { auth: unknown };
    assert.deepEqual(op.auth, { kind: 'operator', subject: OPERATOR, via: 'password' });
    const w = (await client({ auth: { kind: 'bearer', token: workerToken } }).get('/test/worker')) as { auth: unknown };
    assert.deepEqual(w.auth, { kind: 'worker', subject: 'worker-1', via: 'token' });
    const p = (await client({ keyfile: pki.client }).get('/test/peer')) as { auth: { fingerprint256?: string } };
    assert.match(String(p.auth.fingerprint256), /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    assert.deepEqual(p.auth, { kind: 'peer', subject: 'dcsync-client', via: 'certificate', fingerprint256: p.auth.fingerprint256 });
    const item = (await client().get('/test/items/a%2Fb%20c')) as { params: unknown };
    assert.deepEqual({ ...(item.params as object) }, { id: 'a/b c' });
    assert.equal(handled['operator'], (before['operator'] ?? 0) + 1);
    assert.equal(handled['peer'], (before['peer'] ?? 0) + 1);
  });

  test('a JSON body within the limits reaches the handler', async () => {
    const r = (await operator().post('/test/operator', { name: 'sync-1', nested: { a: [1, 2, { b: null }] } })) as { keys: string[] };
    assert.deepEqual(r.keys, ['name', 'nested']);
  });

  test('unknown routes are 404, wrong methods 405, both in the error shape', async () => {
    const r404 = await nothingProcessed(() => raw({ path: '/_api/v1/nope' }));
    assert.equal(r404.status, 404);
    assert.equal(errorOf(r404).code, 'not-found');
    const r405 = await nothingProcessed(() => raw({ method: 'DELETE', path: '/_api/v1/test/peer' }));
    assert.equal(r405.status, 405);
    assert.equal(r405.headers?.['allow'], 'GET, POST');
    assert.equal(errorOf(r405).code, 'method-not-allowed');
    const outside = await nothingProcessed(() => raw({ path: '/' }));
    assert.equal(outside.status, 404);
  });

  test('a failing handler answers 500 without its message or a stack trace', async () => {
    const r = await raw({ path: '/_api/v1/test/fail' });
    assert.equal(r.status, 500);
    assert.deepEqual(JSON.parse(r.text!), { error: { code: 'internal', message: 'internal error' } });
    assert.doesNotMatch(r.text!, /exploded|\bat \S+ \(|\.ts:\d+/);
  });
});

describe('server certificate checks (the client refuses)', () => {
  test('a server certificate from a CA the client does not trust', async () => {
    const err = await nothingProcessed(() => rejectionOf(client({ ca: stranger.certPem }).requestAt(main.endpoint, 'GET', '/health')));
    assert.ok(err instanceof ServerCertificateError, String(err));
    assert.equal(err.verificationCode, 'SELF_SIGNED_CERT_IN_CHAIN');
    // The client-auth CA is not a server CA either.
    const err2 = await rejectionOf(client({ ca: pki.clientCa.certPem }).requestAt(main.endpoint, 'GET', '/health'));
    assert.ok(err2 instanceof ServerCertificateError);
  });

  test('a host name that is not in the server certificate', async () => {
    const other = await issueServerKeyfile(pki.tlsCa.signer, { hosts: ['master-1.dc-a.example'] });
    const s = await startServer({ keyfile: await keyfilePath(other) });
    const err = await nothingProcessed(() => rejectionOf(client({ endpoints: s.endpoint }).requestAt(s.endpoint, 'GET', '/health')));
    assert.ok(err instanceof ServerCertificateError, String(err));
    assert.equal(err.verificationCode, 'ERR_TLS_CERT_ALTNAME_INVALID');
  });

  test('an expired server certificate', async () => {
    const expired = await issueServerKeyfile(pki.tlsCa.signer, { hosts: ['127.0.0.1'], notBefore: new Date(Date.now() - 3 * DAY), notAfter: new Date(Date.now() - DAY) });
    // start() refuses an expired keyfile, so this server runs with a clock from when it was still valid.
    const s = await startServer({ keyfile: await keyfilePath(expired), now: () => new Date(Date.now() - 2 * DAY) });
    const err = await nothingProcessed(() => rejectionOf(client({ endpoints: s.endpoint }).requestAt(s.endpoint, 'GET', '/health')));
    assert.ok(err instanceof ServerCertificateError, String(err));
    assert.equal(err.verificationCode, 'CERT_HAS_EXPIRED');
  });

  test('a server certificate that is not valid yet', async () => {
    const future = await issueServerKeyfile(pki.tlsCa.signer, { hosts: ['127.0.0.1'], notBefore: new Date(Date.now() + DAY), notAfter: new Date(Date.now() + 3 * DAY) });
    const s = await startServer({ keyfile: await keyfilePath(future) });
    assert.deepEqual(
      s.server.certificateWarnings().map((w) => w.kind),
      ['not-yet-valid'],
    );
    const err = await nothingProcessed(() => rejectionOf(client({ endpoints: s.endpoint }).requestAt(s.endpoint, 'GET', '/health')));
    assert.ok(err instanceof ServerCertificateError, String(err));
    assert.equal(err.verificationCode, 'CERT_NOT_YET_VALID');
  });
});

describe('client certificates (the server refuses)', () => {
  /** A presented certificate that does not verify ends the connection before HTTP; the log says why. */
  async function refusedAtHandshake(keyfile: Keyfile, reason: RegExp, t?: { diagnostic(m: string): void }): Promise<void> {
    const mark = logs.length;
    for (const path of ['/test/peer', '/health']) {
      const err = await nothingProcessed(() => rejectionOf(client({ keyfile }).requestAt(main.endpoint, 'GET', path)));
      assert.ok(err instanceof EndpointUnreachableError, String(err));
      t?.diagnostic(`client: ${err.reason}`);
    }
    const refused = logsSince(mark).filter((l) => l['msg'] === 'client certificate refused');
    assert.equal(refused.length, 2, 'the server logged each refusal');
    assert.match(String(refused[0]!['reason']), reason);
    t?.diagnostic(`server: ${String(refused[0]!['reason'])}`);
  }

  test('an expired client certificate', async (t) => {
    const expired = await issueClientKeyfile(pki.clientCa.signer, { notBefore: new Date(Date.now() - 3 * DAY), notAfter: new Date(Date.now() - DAY) });
    await refusedAtHandshake(expired, /CERT_HAS_EXPIRED/, t);
  });

  test('a client certificate that is not valid yet', async (t) => {
    const future = await issueClientKeyfile(pki.clientCa.signer, { notBefore: new Date(Date.now() + DAY), notAfter: new Date(Date.now() + 3 * DAY) });
    await refusedAtHandshake(future, /CERT_NOT_YET_VALID/, t);
  });

  test('a client certificate from another CA', async (t) => {
    await refusedAtHandshake(await issueClientKeyfile(stranger.signer), /SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT/, t);
  });

  test('a self-signed client certificate', async (t) => {
    await refusedAtHandshake(await selfSignedClient(), /DEPTH_ZERO_SELF_SIGNED_CERT/, t);
  });

  test('no client certificate on a peer route (while operators and workers need none)', async () => {
    const r = await nothingProcessed(() => raw({ path: '/_api/v1/test/peer' }));
    assert.equal(r.status, 401);
    assert.equal(errorOf(r).code, 'unauthorized');
    const post = await nothingProcessed(() => raw({ method: 'POST', path: '/_api/v1/test/peer', headers: { 'content-type': 'application/json' }, body: '{"a":1}' }));
    assert.equal(post.status, 401);
    // The same connection set-up without a certificate serves operator and worker routes.
    await operator().get('/test/operator');
    await client({ auth: { kind: 'bearer', token: workerToken } }).get('/test/worker');
  });
});

describe('credentials used for the wrong role', () => {
  test('a TLS server keyfile (TLS CA) presented as a client certificate is refused at the handshake', async () => {
    await nothingProcessed(async () => {
      const err = await rejectionOf(client({ keyfile: pki.server }).requestAt(main.endpoint, 'GET', '/test/peer'));
      assert.ok(err instanceof EndpointUnreachableError, String(err));
    });
  });

  test('a server certificate issued by the client-auth CA (OU=server) is refused for peer routes', async () => {
    const serverFromClientCa = await issueServerKeyfile(pki.clientCa.signer, { hosts: ['master-1.dc-b.example'] });
    const err = await nothingProcessed(() => rejectionOf(client({ keyfile: serverFromClientCa }).get('/test/peer')));
    assert.ok(err instanceof ControlHttpError, String(err));
    assert.equal(err.status, 403);
    assert.equal(err.code, 'forbidden');
  });

  test("the client-auth CA's own certificate is not a client certificate", async () => {
    const err = await nothingProcessed(() => rejectionOf(client({ keyfile: { certPem: pki.clientCa.certPem, chainPem: [], keyPem: pki.clientCa.keyPem } }).requestAt(main.endpoint, 'GET', '/test/peer')));
    assert.ok(err instanceof EndpointUnreachableError, String(err));
  });

  test("a worker's JWT cannot call operator or peer routes", async () => {
    const w = client({ auth: { kind: 'bearer', token: workerToken } });
    for (const path of ['/test/operator', '/test/peer']) {
      const err = await nothingProcessed(() => rejectionOf(w.get(path)));
      assert.ok(err instanceof ControlHttpError, String(err));
      assert.equal(err.status, 401);
    }
  });

  test('operator basic auth cannot call peer or worker routes', async () => {
    for (const path of ['/test/peer', '/test/worker']) {
      const err = await nothingProcessed(() => rejectionOf(operator().get(path)));
      assert.ok(err instanceof ControlHttpError, String(err));
      assert.equal(err.status, 401);
    }
  });

  test('a peer certificate cannot call worker or operator routes', async () => {
    for (const path of ['/test/worker', '/test/operator']) {
      const err = await nothingProcessed(() => rejectionOf(client({ keyfile: pki.client }).get(path)));
      assert.ok(err instanceof ControlHttpError, String(err));
      assert.equal(err.status, 401);
    }
  });
});

describe('worker tokens', () => {
  async function refusedToken(token: string): Promise<void> {
    secrets.push(token);
    const mark = logs.length;
    const r = await nothingProcessed(() => raw({ path: '/_api/v1/test/worker', headers: { authorization: `Bearer ${token}` } }));
    assert.equal(r.status, 401);
    assert.equal(errorOf(r).code, 'unauthorized');
    assert.match(String(r.headers?.['www-authenticate']), /^Bearer realm="dcsync", error="invalid_token"/);
    assert.ok(logsSince(mark).some((l) => l['msg'] === 'bearer token refused'));
  }

  test('a token with a bad signature', async () => {
    await refusedToken(signJwt(parseJwtSecret(createJwtSecret()), { audience: DATACENTER, expiresInMs: HOUR, subject: 'worker-1' }));
  });

  test('a token with alg none', async () => {
    const enc = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    await refusedToken(`${enc({ alg: 'none', typ: 'JWT' })}.${enc({ aud: DATACENTER, sub: 'worker-1', iat: now, exp: now + 3600 })}.`);
  });

  test('an expired token', async () => {
    await refusedToken(signJwt(parseJwtSecret(jwtSecretText), { audience: DATACENTER, expiresInMs: 60_000, subject: 'worker-1', now: new Date(Date.now() - HOUR) }));
  });

  test('a token for the other datacenter', async () => {
    await refusedToken(signJwt(parseJwtSecret(jwtSecretText), { audience: 'dc-b', expiresInMs: HOUR, subject: 'worker-1' }));
  });
});

describe('operator passwords', () => {
  test('a wrong password is refused, then the address is throttled (even with the right password)', async () => {
    const auth = (password: string): Record<string, string> => ({ authorization: basic(OPERATOR, password) });
    const calls = verifierCalls.length;
    const t0 = performance.now();
    const wrong = await nothingProcessed(() => raw({ path: '/_api/v1/test/operator', headers: auth(WRONG_PASSWORD) }));
    assert.equal(wrong.status, 401);
    assert.deepEqual(errorOf(wrong), { code: 'unauthorized', message: 'authentication failed' });
    assert.match(String(wrong.headers?.['www-authenticate']), /^Basic realm="dcsync"/);
    assert.ok(performance.now() - t0 >= 45, 'failures are padded to authFailureFloor');
    assert.equal(verifierCalls.length, calls + 1);

    const blocked = await nothingProcessed(() => raw({ path: '/_api/v1/test/operator', headers: auth(PASSWORD) }));
    assert.equal(blocked.status, 429);
    assert.equal(errorOf(blocked).code, 'too-many-requests');
    assert.ok(Number(blocked.headers?.['retry-after']) >= 1);
    assert.equal(verifierCalls.length, calls + 1, 'a throttled attempt does not reach the verifier');

    await delay(350); // first block: 300 ms
    const wrong2 = await nothingProcessed(() => raw({ path: '/_api/v1/test/operator', headers: auth(WRONG_PASSWORD) }));
    assert.equal(wrong2.status, 401);
    await delay(350); // the second failure doubled the block to 600 ms
    const stillBlocked = await nothingProcessed(() => raw({ path: '/_api/v1/test/operator', headers: auth(PASSWORD) }));
    assert.equal(stillBlocked.status, 429);

    await delay(300);
    const ok = await raw({ path: '/_api/v1/test/operator', headers: auth(PASSWORD) });
    assert.equal(ok.status, 200, ok.text);
    // A success clears the address: the next failure blocks for the initial delay again.
    const wrong3 = await raw({ path: '/_api/v1/test/operator', headers: auth(WRONG_PASSWORD) });
    assert.equal(wrong3.status, 401);
    await delay(350);
    assert.equal((await raw({ path: '/_api/v1/test/operator', headers: auth(PASSWORD) })).status, 200);
  });

  test('issue 15 defect 10: parallel guesses from one address get one verification, the rest wait and are throttled', async () => {
    // A verifier as slow as a PostgreSQL login: without serialization every parallel guess passes the
    // "blocked?" check before the first failure is recorded.
    const calls: string[] = [];
    const inner = staticPasswordVerifier(new Map([[OPERATOR, PASSWORD]]));
    const s = await startServer({
      throttle: { initialDelay: 2_000, maxDelay: 4_000 },
      authFailureFloor: 0,
      verifyOperator: async (user, password, ctx) => {
        calls.push(password);
        await delay(150);
        return inner(user, password, ctx);
      },
    });
    const guesses = Array.from({ length: 12 }, (_, i) => `guess-${i}`);
    const answers = await nothingProcessed(() =>
      Promise.all(guesses.map((g) => raw({ port: s.port, path: '/_api/v1/test/operator', headers: { authorization: basic(OPERATOR, g) } }))),
    );
    assert.equal(calls.length, 1, `one guess verified, not ${calls.length}`);
    assert.equal(answers.filter((a) => a.status === 401).length, 1);
    assert.equal(answers.filter((a) => a.status === 429).length, guesses.length - 1);
  });

  test('parallel requests with the right password all pass', async () => {
    const s = await startServer({ throttle: { initialDelay: 2_000, maxDelay: 4_000 }, authFailureFloor: 0 });
    const answers = await Promise.all(Array.from({ length: 8 }, () => raw({ port: s.port, path: '/_api/v1/test/operator', headers: { authorization: basic(OPERATOR, PASSWORD) } })));
    assert.deepEqual(answers.map((a) => a.status), Array(8).fill(200));
  });

  test('an unknown user and a wrong password look the same: same answer, verifier run both times, same time', async (t) => {
    // The verifier here is deliberately slower for a known user (as a real password hash would be), and the
    // server's failure floor must hide it. No throttling on this server, so every attempt is verified.
    const calls: string[] = [];
    const inner = staticPasswordVerifier(new Map([[OPERATOR, PASSWORD]]));
    const s = await startServer({
      throttle: { initialDelay: 0, maxDelay: 0 },
      authFailureFloor: 200,
      verifyOperator: async (user, password, ctx) => {
        calls.push(user);
        if (user === OPERATOR) await delay(80);
        return inner(user, password, ctx);
      },
    });
    const attempt = async (user: string, password: string): Promise<{ ms: number; r: RawResult }> => {
      const t = performance.now();
      const r = await raw({ port: s.port, path: '/_api/v1/test/operator', headers: { authorization: basic(user, password) } });
      return { ms: performance.now() - t, r };
    };
    const unknown: number[] = [];
    const wrong: number[] = [];
    await nothingProcessed(async () => {
      for (let i = 0; i < 7; i++) {
        const a = await attempt('nobody-' + i, WRONG_PASSWORD);
        const b = await attempt(OPERATOR, WRONG_PASSWORD);
        assert.equal(a.r.status, 401);
        assert.equal(b.r.status, 401);
        assert.equal(a.r.text, b.r.text);
        unknown.push(a.ms);
        wrong.push(b.ms);
      }
    });
    assert.equal(calls.filter((u) => u === OPERATOR).length, 7, 'the verifier ran for every wrong password');
    assert.equal(calls.filter((u) => u.startsWith('nobody-')).length, 7, 'the verifier ran for every unknown user');
    const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
    const [mu, mw] = [median(unknown), median(wrong)];
    t.diagnostic(`median ${mu.toFixed(1)} ms (unknown user), ${mw.toFixed(1)} ms (wrong password)`);
    assert.ok(mu >= 195 && mw >= 195, `both padded to the floor (${mu.toFixed(1)} / ${mw.toFixed(1)} ms)`);
    assert.ok(Math.abs(mu - mw) < 40, `medians ${mu.toFixed(1)} ms (unknown user) and ${mw.toFixed(1)} ms (wrong password) differ by less than the verifier's 80 ms`);
  });
});

describe('request bodies', () => {
  const post = (body: string | Buffer | undefined, headers: Record<string, string> = { 'content-type': 'application/json' }, chunks?: readonly string[]): Promise<RawResult> =>
    nothingProcessed(() =>
      raw({ method: 'POST', path: '/_api/v1/test/operator', headers: { authorization: basic(OPERATOR, PASSWORD), ...headers }, ...(body !== undefined ? { body } : {}), ...(chunks ? { chunks } : {}) }),
    );

  test('a body over the limit is 413 (declared length and chunked)', async () => {
    const big = Buffer.alloc(1024 * 1024 + 1, 0x20);
    const declared = await post(big);
    assert.equal(declared.status, 413, String(declared.error));
    assert.equal(errorOf(declared).code, 'payload-too-large');
    const chunk = ' '.repeat(64 * 1024);
    const chunked = await post(undefined, { 'content-type': 'application/json' }, Array.from({ length: 20 }, () => chunk));
    assert.equal(chunked.status, 413, String(chunked.error));
  });

  test('a big body from an unauthenticated caller is refused before it is read', async () => {
    const r = await nothingProcessed(() => raw({ method: 'POST', path: '/_api/v1/test/operator', headers: { 'content-type': 'application/json' }, body: Buffer.alloc(2 * 1024 * 1024, 0x20) }));
    assert.equal(r.status, 401);
  });

  test('malformed JSON is 400 and the answer does not quote it', async () => {
    const r = await post(`{"password": "${PASSWORD}", `);
    assert.equal(r.status, 400);
    assert.equal(errorOf(r).code, 'bad-request');
    assert.doesNotMatch(r.text!, new RegExp(PASSWORD));
  });

  test('nesting deeper than the limit is 400', async () => {
    const r = await post('['.repeat(40) + ']'.repeat(40));
    assert.equal(r.status, 400);
    assert.match(errorOf(r).message, /nested deeper than 32/);
    const objects = await post('{"a":'.repeat(40) + '1' + '}'.repeat(40));
    assert.equal(objects.status, 400);
  });

  test('__proto__, constructor and prototype keys are 400', async () => {
    for (const body of ['{"a": {"__proto__": {"polluted": true}}}', '{"constructor": {"x": 1}}', '[{"prototype": 1}]']) {
      const r = await post(body);
      assert.equal(r.status, 400, body);
      assert.match(errorOf(r).message, /key '(__proto__|constructor|prototype)' is not allowed/);
    }
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
  });

  test('a content type other than application/json is 415', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=latin1']) {
      const r = await post('{"a":1}', { 'content-type': type });
      assert.equal(r.status, 415, type);
      assert.equal(errorOf(r).code, 'unsupported-media-type');
    }
    const none = await post('{"a":1}', {});
    assert.equal(none.status, 415);
  });
});

describe('transport', () => {
  for (const version of ['TLSv1', 'TLSv1.1'] as const) {
    test(`a client offering only ${version} is refused`, async () => {
      const mark = logs.length;
      await nothingProcessed(async () => {
        const socket = tls.connect({
          host: '127.0.0.1',
          port: main.port,
          ca: pki.tlsCa.certPem,
          servername: 'localhost',
          minVersion: version,
          maxVersion: version,
          // OpenSSL 3 disables TLS 1.0/1.1 at its default security level; lower it so the offer is really made.
          ciphers: 'DEFAULT@SECLEVEL=0',
        });
        const [err] = (await once(socket, 'error').catch((e: unknown) => [e])) as [NodeJS.ErrnoException];
        assert.equal(err.code, 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION', 'the server answered with a protocol_version alert');
      });
      await delay(20);
      assert.ok(logsSince(mark).some((l) => l['msg'] === 'tls handshake failed' && l['code'] === 'ERR_SSL_UNSUPPORTED_PROTOCOL'));
    });
  }

  test('a TLS 1.2 client offering only weak cipher suites is refused', async (t) => {
    for (const ciphers of ['AES128-SHA', 'ECDHE-ECDSA-AES128-SHA', 'AES256-GCM-SHA384']) {
      const socket = tls.connect({ host: '127.0.0.1', port: main.port, ca: pki.tlsCa.certPem, servername: 'localhost', maxVersion: 'TLSv1.2', ciphers });
      const [err] = (await once(socket, 'error').catch((e: unknown) => [e])) as [NodeJS.ErrnoException];
      t.diagnostic(`${ciphers}: ${err.code}`);
      assert.match(String(err.code), /HANDSHAKE_FAILURE|NO_SHARED_CIPHER|ERR_SSL/, `${ciphers}: ${err.code}`);
    }
  });

  test('a plain HTTP request gets nothing back: no HTTP answer, the connection is closed', async () => {
    const received = await nothingProcessed(async () => {
      const socket = net.connect(main.port, '127.0.0.1');
      await once(socket, 'connect');
      socket.write(`GET /_api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${basic(OPERATOR, PASSWORD)}\r\n\r\n`);
      const chunks: Buffer[] = [];
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.on('error', () => {});
      await once(socket, 'close');
      return Buffer.concat(chunks);
    });
    assert.doesNotMatch(received.toString('latin1'), /HTTP\//);
    assert.equal(received.length, 0, `expected nothing, got ${received.toString('hex')}`);
  });
});

describe('certificates: expiry and reload', () => {
  test('start() refuses an expired keyfile with a clear message', async () => {
    const expired = await issueServerKeyfile(pki.tlsCa.signer, { hosts: ['127.0.0.1'], notBefore: new Date(Date.now() - 3 * DAY), notAfter: new Date(Date.now() - DAY) });
    const path = await keyfilePath(expired);
    const s = new ControlServer({ component: 'worker', datacenter: DATACENTER, host: '127.0.0.1', port: 0, keyfile: path, logger });
    const err = await rejectionOf(s.start());
    assert.match(err.message, new RegExp(`^${path}: the certificate \\(CN=127\\.0\\.0\\.1, O=dcsync, OU=server\\) expired on .*dcsync create tls keyfile`));
    assert.equal(s.state, 'failed');
  });

  test('a keyfile that expires within 30 days is reported and logged', async () => {
    const soon = await issueServerKeyfile(pki.tlsCa.signer, { hosts: ['127.0.0.1'], validForMs: 10 * DAY });
    const mark = logs.length;
    const s = await startServer({ keyfile: await keyfilePath(soon) });
    const warnings = s.server.certificateWarnings();
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]!.kind, 'expires-soon');
    assert.equal(warnings[0]!.file, 'keyfile');
    assert.match(warnings[0]!.message, /expires on .* \(in (9|10) day\(s\)\)/);
    assert.ok(logsSince(mark).some((l) => l['msg'] === 'certificate warning' && l['level'] === 'warn' && l['kind'] === 'expires-soon'));
    assert.deepEqual(main.server.certificateWarnings(), []);
  });

  test('reload() switches to the new keyfile; an expired one is refused and the old one kept', async () => {
    const path = await keyfilePath(pki.server);
    const s = await startServer({ keyfile: path });
    const fingerprint = async (): Promise<string> => {
      const socket = tls.connect({ host: '127.0.0.1', port: s.port, ca: pki.tlsCa.certPem, servername: 'localhost' });
      await once(socket, 'secureConnect');
      const fp = socket.getPeerCertificate().fingerprint256;
      socket.destroy();
      return fp;
    };
    assert.equal(await fingerprint(), pki.server.certificate.fingerprint256);
    const renewed = await issueServerKeyfile(pki.tlsCa.signer, { hosts: ['localhost', '127.0.0.1'] });
    await writeFile(path, formatKeyfile(renewed), { mode: 0o600 });
    const info = await s.server.reload();
    assert.equal(info.fingerprint256, renewed.certificate.fingerprint256);
    assert.equal(await fingerprint(), renewed.certificate.fingerprint256);
    assert.deepEqual(await client({ endpoints: s.endpoint }).get('/health'), { status: 'ok', component: 'master' });

    const expired = await issueServerKeyfile(pki.tlsCa.signer, { hosts: ['127.0.0.1'], notBefore: new Date(Date.now() - 3 * DAY), notAfter: new Date(Date.now() - DAY) });
    await writeFile(path, formatKeyfile(expired), { mode: 0o600 });
    const err = await rejectionOf(s.server.reload());
    assert.match(err.message, /expired on/);
    assert.equal(await fingerprint(), renewed.certificate.fingerprint256);
    assert.equal(s.server.state, 'running');
  });
});

describe('client: several endpoints', () => {
  test('tryEndpoints moves past unreachable endpoints and names every one when none answers', async () => {
    const dead1 = `https://127.0.0.1:${await freePort()}`;
    const dead2 = `https://127.0.0.1:${await freePort()}`;
    const c = client({ endpoints: [dead1, dead2, main.endpoint] });
    assert.deepEqual(await c.get('/health'), { status: 'ok', component: 'master' });
    const none = client({ endpoints: [dead1, dead2], timeout: '2s' });
    const err = await rejectionOf(none.get('/health'));
    assert.ok(err instanceof EndpointsUnreachableError, String(err));
    assert.equal(err.failures.length, 2);
    assert.ok(err.message.includes(`${dead1} (connection refused)`), err.message);
    assert.ok(err.message.includes(`${dead2} (connection refused)`), err.message);
    assert.equal(err.retriable, true);
  });

  test('a 401 is not an endpoint failure: it is thrown at once, without trying the others', async () => {
    const second = await startServer();
    const c = client({ endpoints: [main.endpoint, second.endpoint], auth: { kind: 'bearer', token: workerToken } });
    const err = await rejectionOf(c.get('/test/operator'));
    assert.ok(err instanceof ControlHttpError, String(err));
    assert.equal(err.endpoint, main.endpoint);
  });
});

describe('logs', () => {
  test('no secret appears in any log line, and the refusals were logged', () => {
    const text = logs.join('\n');
    for (const s of secrets) assert.ok(!text.includes(s), `a log line contains a secret (${s.slice(0, 6)}…)`);
    assert.doesNotMatch(text, /authorization"?\s*:\s*"(Basic|Bearer)/i);
    assert.doesNotMatch(text, /BEGIN (EC )?PRIVATE KEY/);
    const msgs = new Set(logs.map((l) => (JSON.parse(l) as { msg: string }).msg));
    for (const m of ['password refused', 'password attempt throttled', 'bearer token refused', 'client certificate refused', 'request refused', 'tls handshake failed']) {
      assert.ok(msgs.has(m), `expected a '${m}' log line`);
    }
  });
});
