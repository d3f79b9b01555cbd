/**
 * Node's TLS with dcsync certificates, in process: an HTTPS server with the TLS keyfile that requires client
 * certificates from the client-auth CA. What must connect connects; everything else fails in the handshake.
 *
 * Note: a Node server with rejectUnauthorized checks the client certificate when the handshake completes and
 * then destroys the socket without a TLS alert, so a refused client sees ECONNRESET and the server's
 * tlsClientError carries no verification code. These tests therefore assert that the request never reached
 * the handler and that the same set-up with a good client certificate succeeds.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { SecureVersion } from 'node:tls';
import { before, describe, test } from 'node:test';
import { createTestCa, createTestPki, type TestCa, type TestPki } from '../../test/helpers/tls-fixtures.ts';
import { issueClientKeyfile, issueServerKeyfile, type IssuedKeyfile } from './issue.ts';
import { keyfileTlsOptions } from './keyfile.ts';

const HOUR = 3_600_000;

interface Attempt {
  ok: boolean;
  status?: number;
  clientError?: NodeJS.ErrnoException;
  serverError?: NodeJS.ErrnoException;
  handled: boolean;
}

/** Starts a server, makes one request, stops the server. */
async function attempt(opts: {
  server: IssuedKeyfile;
  clientCaPem: string;
  client?: IssuedKeyfile;
  trustPem: string;
  servername?: string;
  host?: string;
  maxVersion?: SecureVersion;
}): Promise<Attempt> {
  let handled = false;
  let serverError: NodeJS.ErrnoException | undefined;
  const server = https.createServer(
    { ...keyfileTlsOptions(opts.server), ca: opts.clientCaPem, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' },
    (req, res) => {
      handled = true;
      const peer = (req.socket as import('node:tls').TLSSocket).getPeerCertificate();
      res.end(peer.subject?.CN ?? '');
    },
  );
  server.on('tlsClientError', (err) => (serverError = err));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  try {
    const result = await new Promise<{ status?: number; body?: string; error?: NodeJS.ErrnoException }>((resolve) => {
      const req = https.request(
        {
          host: opts.host ?? '127.0.0.1',
          port,
          path: '/',
          ca: opts.trustPem,
          servername: opts.servername ?? 'localhost',
          ...(opts.client ? keyfileTlsOptions(opts.client) : {}),
          ...(opts.maxVersion ? { maxVersion: opts.maxVersion } : {}),
          agent: false,
        },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode, body }));
          res.on('error', (error) => resolve({ error }));
        },
      );
      req.on('error', (error) => resolve({ error }));
      req.end();
    });
    // Give the server's tlsClientError a moment to arrive after the client saw the alert.
    await new Promise((r) => setImmediate(r));
    return { ok: result.status === 200, status: result.status, clientError: result.error, serverError, handled };
  } finally {
    server.closeAllConnections();
    server.close();
  }
}

let pki: TestPki;
let strangerCa: TestCa;

before(async () => {
  pki = await createTestPki();
  strangerCa = await createTestCa('client-auth', 'some other CA');
});

describe('TLS handshake with dcsync certificates', () => {
  for (const maxVersion of ['TLSv1.2', 'TLSv1.3'] as const) {
    describe(`client up to ${maxVersion}`, () => {
      const base = (): { server: IssuedKeyfile; clientCaPem: string; trustPem: string; maxVersion: SecureVersion } => ({
        server: pki.server,
        clientCaPem: pki.clientCa.certPem,
        trustPem: pki.tlsCa.certPem,
        maxVersion,
      });

      test('the client keyfile and the TLS CA connect, by name and by IP', async () => {
        const byName = await attempt({ ...base(), client: pki.client });
        assert.equal(byName.status, 200, String(byName.clientError));
        assert.ok(byName.handled);
        const byIp = await attempt({ ...base(), client: pki.client, servername: '' });
        assert.equal(byIp.status, 200, String(byIp.clientError));
      });

      test('no client certificate is refused', async () => {
        const r = await attempt({ ...base() });
        assert.equal(r.ok, false);
        assert.equal(r.handled, false);
        assert.ok(r.clientError);
      });

      test('a client certificate from another CA is refused by the server', async () => {
        const foreign = await issueClientKeyfile(strangerCa.signer);
        const r = await attempt({ ...base(), client: foreign });
        assert.equal(r.ok, false);
        assert.equal(r.handled, false);
        assert.ok(r.serverError, 'the server saw a failed handshake');
        assert.ok(r.clientError);
      });

      test('a TLS (server) keyfile is not a client credential: the client-auth CA did not issue it', async () => {
        const r = await attempt({ ...base(), client: pki.server });
        assert.equal(r.ok, false);
        assert.equal(r.handled, false);
        assert.ok(r.serverError);
      });

      test('an expired client certificate is refused', async () => {
        const expired = await issueClientKeyfile(pki.clientCa.signer, { notBefore: new Date(Date.now() - 48 * HOUR), notAfter: new Date(Date.now() - 24 * HOUR) });
        const r = await attempt({ ...base(), client: expired });
        assert.equal(r.ok, false);
        assert.equal(r.handled, false);
        assert.ok(r.serverError);
      });
    });
  }

  test('the client refuses a server whose certificate does not name the host', async () => {
    const r = await attempt({ server: pki.server, clientCaPem: pki.clientCa.certPem, trustPem: pki.tlsCa.certPem, client: pki.client, servername: 'master-9.dc-a.example' });
    assert.equal(r.ok, false);
    assert.equal(r.clientError?.code, 'ERR_TLS_CERT_ALTNAME_INVALID');
    const other = await issueServerKeyfile(pki.tlsCa.signer, { hosts: ['master-1.dc-a.example'] });
    const byIp = await attempt({ server: other, clientCaPem: pki.clientCa.certPem, trustPem: pki.tlsCa.certPem, client: pki.client, servername: '' });
    assert.equal(byIp.clientError?.code, 'ERR_TLS_CERT_ALTNAME_INVALID');
  });

  test('the client refuses a server certificate from a CA it does not trust (the client-auth CA)', async () => {
    const r = await attempt({ server: pki.server, clientCaPem: pki.clientCa.certPem, trustPem: pki.clientCa.certPem, client: pki.client });
    assert.equal(r.ok, false);
    // The server sends its chain up to the (self-signed) TLS CA, which this client does not trust.
    assert.ok(['SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY'].includes(r.clientError?.code ?? ''), r.clientError?.code);
  });

  test('the client refuses expired and not-yet-valid server certificates', async () => {
    const hosts = ['localhost', '127.0.0.1'];
    const expired = await issueServerKeyfile(pki.tlsCa.signer, { hosts, notBefore: new Date(Date.now() - 48 * HOUR), notAfter: new Date(Date.now() - 24 * HOUR) });
    const future = await issueServerKeyfile(pki.tlsCa.signer, { hosts, notBefore: new Date(Date.now() + 24 * HOUR), notAfter: new Date(Date.now() + 48 * HOUR) });
    const e = await attempt({ server: expired, clientCaPem: pki.clientCa.certPem, trustPem: pki.tlsCa.certPem, client: pki.client });
    assert.equal(e.clientError?.code, 'CERT_HAS_EXPIRED');
    const f = await attempt({ server: future, clientCaPem: pki.clientCa.certPem, trustPem: pki.tlsCa.certPem, client: pki.client });
    assert.equal(f.clientError?.code, 'CERT_NOT_YET_VALID');
    assert.equal(e.handled || f.handled, false);
  });

  test('the client refuses a client-auth keyfile presented as a server certificate (no serverAuth)', async () => {
    // Signed by a CA the client trusts, so only the purpose check can refuse it.
    const clientFromTlsCa = await issueClientKeyfile(pki.tlsCa.signer, { name: 'localhost' });
    const r = await attempt({ server: clientFromTlsCa, clientCaPem: pki.clientCa.certPem, trustPem: pki.tlsCa.certPem, client: pki.client });
    assert.equal(r.ok, false);
    assert.equal(r.clientError?.code, 'INVALID_PURPOSE');
  });
});

