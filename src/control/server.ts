/**
 * The HTTPS control-plane server that sync masters (8629) and workers (8729) build on.
 *
 * TLS only (1.2 minimum, AEAD suites), and authorization per route class (router.ts RouteAccess).
 *
 * Client certificates. The server asks every client for a certificate (requestCert) and trusts only the
 * client-auth CA for them, but does not require one, because operators (basic auth) and workers (JWT) come
 * without. Node cannot be told "a certificate is optional, but one that is presented must verify": its OpenSSL
 * verify callback always accepts and leaves the verdict for after the handshake (with rejectUnauthorized it
 * then destroys the socket; it only makes OpenSSL refuse inside the handshake when no certificate comes at
 * all). So the server runs with rejectUnauthorized: false and does the same thing itself at the same moment:
 * the first 'secureConnection' listener destroys every connection that presented a certificate that does not
 * verify against the client-auth CA (another CA, self-signed, expired, not yet valid, wrong purpose), before
 * the HTTP layer has read a byte. Connections without a certificate go on, and each route class then decides:
 * `peer` routes need a verified certificate with O=dcsync, OU=client (so a server keyfile issued by the same CA,
 * or the CA certificate itself, is refused with 403); `operator` and `worker` routes need their own credentials.
 */
import { once } from 'node:events';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { errorMessage, IllegalStateError } from '../core/errors.ts';
import { Lifecycle } from '../core/lifecycle.ts';
import type { Logger } from '../core/logger.ts';
import { delay } from '../core/time.ts';
import { JwtError, verifyJwt, type CertificateInfo } from '../tls/index.ts';
import { AuthThrottle, classifyClientCertificate, normalizeAddress, parseAuthorization, sameToken, type ClientCertificateFacts, type ParsedAuthorization } from './auth.ts';
import { checkJsonContentType, parseJsonBody, readBodyBytes } from './body.ts';
import { HttpError, ListenError, badRequest, type ErrorBody } from './errors.ts';
import { certificateWarnings, loadServerMaterial, type CertificateWarning, type ServerMaterial } from './material.ts';
import { compileControlServerOptions, type CompiledControlServerOptions, type ControlServerOptions } from './options.ts';
import { API_PREFIX, createRouter, parseQuery, route, type AuthContext, type Route, type RouteAccess, type RouteResponse, type Router } from './router.ts';
import { serverSecureContextOptions } from './tls-policy.ts';

/**
 * - `initialized`: constructed, not listening.
 * - `starting`: loading certificates and binding the port.
 * - `running`: serving.
 * - `stopping`: no new connections; requests in flight get stopGrace to finish.
 * - `stopped`: closed. A server is not restarted; make a new one.
 * - `failed`: start() failed (bad certificate, port in use); nothing is listening.
 */
export type ControlServerState = 'initialized' | 'starting' | 'running' | 'stopping' | 'stopped' | 'failed';

const TRANSITIONS: Readonly<Record<ControlServerState, readonly ControlServerState[]>> = {
  initialized: ['starting'],
  starting: ['running', 'failed'],
  running: ['stopping'],
  stopping: ['stopped'],
  stopped: [],
  failed: [],
};

export interface ControlServerAddress {
  readonly host: string;
  readonly port: number;
}

type PasswordOutcome =
  | { readonly kind: 'ok' }
  | { readonly kind: 'refused'; readonly blockMs: number }
  | { readonly kind: 'blocked'; readonly ms: number }
  | { readonly kind: 'unavailable'; readonly error: unknown };

const ANONYMOUS: AuthContext = { kind: 'anonymous', subject: '', via: 'none' };
/** What a monitoring route answers (404) on a daemon started without a monitoring token. */
export const MONITORING_OFF = 'metrics are off on this daemon: start it with --monitoring.token-file (or DCSYNC_MONITORING_TOKEN) and scrape with "Authorization: Bearer <token>"';
const REALM = 'dcsync';
const RESPONSE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'application/json; charset=utf-8',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'strict-transport-security': 'max-age=31536000',
};

function errorBody(code: string, message: string): ErrorBody {
  return { error: { code, message } };
}

function peerFacts(socket: TLSSocket): ClientCertificateFacts {
  const x = socket.getPeerX509Certificate();
  if (!x) return { authorized: socket.authorized };
  const pc = socket.getPeerCertificate();
  return {
    authorized: socket.authorized,
    certificate: {
      subject: { ...pc.subject } as Record<string, string | readonly string[] | undefined>,
      ca: x.ca,
      extKeyUsage: x.keyUsage ?? [],
      fingerprint256: x.fingerprint256,
    },
  };
}

function remoteOf(socket: { remoteAddress?: string | undefined }): string {
  return normalizeAddress(socket.remoteAddress ?? 'unknown');
}

/** Why the TLS layer refused a presented certificate: an OpenSSL code such as CERT_HAS_EXPIRED. */
function authorizationReason(socket: TLSSocket): string {
  const e: unknown = socket.authorizationError;
  return e instanceof Error ? e.message : String(e ?? 'unknown');
}

export class ControlServer {
  readonly #opts: CompiledControlServerOptions;
  readonly #log: Logger;
  readonly #router: Router;
  readonly #throttle: AuthThrottle;
  readonly #lifecycle: Lifecycle<ControlServerState>;
  #server: https.Server | undefined;
  #material: ServerMaterial | undefined;
  #address: ControlServerAddress | undefined;
  #inFlight = 0;

  constructor(options: ControlServerOptions) {
    this.#opts = compileControlServerOptions(options);
    this.#log = this.#opts.logger.child({ component: 'control.server', role: this.#opts.component });
    this.#lifecycle = new Lifecycle<ControlServerState>('initialized', TRANSITIONS, this.#log);
    this.#throttle = new AuthThrottle(this.#opts.throttle);
    this.#router = createRouter([...this.#builtinRoutes(), ...this.#opts.routes]);
  }

  get state(): ControlServerState {
    return this.#lifecycle.state;
  }

  /** The routes served, built-ins included. */
  get routes(): readonly Route[] {
    return this.#router.routes;
  }

  /**
   * Loads the keyfile (refusing an expired one), the client-auth CA and the JWT secret, then listens.
   * Logs a warning for every certificate that expires within certificateWarningBefore.
   */
  async start(): Promise<ControlServerAddress> {
    this.#lifecycle.to('starting');
    try {
      const material = await loadServerMaterial(this.#opts, this.#opts.now());
      const server = this.#createServer(material);
      server.listen({ host: this.#opts.host, port: this.#opts.port });
      try {
        await once(server, 'listening');
      } catch (err) {
        throw new ListenError(this.#opts.host, this.#opts.port, err);
      }
      const addr = server.address();
      this.#address = typeof addr === 'object' && addr !== null ? { host: addr.address, port: addr.port } : { host: this.#opts.host, port: this.#opts.port };
      this.#server = server;
      this.#material = material;
      this.#lifecycle.to('running');
      this.#log.info('listening', { host: this.#address.host, port: this.#address.port, ...this.#certificateMeta(material) });
      this.#logWarnings();
      return this.#address;
    } catch (err) {
      this.#lifecycle.to('failed');
      this.#log.error('start failed', { err });
      throw err;
    }
  }

  /** Where the server listens (after start). */
  address(): ControlServerAddress {
    if (!this.#address) throw new IllegalStateError(`the control server is ${this.state}, not listening`);
    return this.#address;
  }

  /** The certificate being served. */
  certificate(): CertificateInfo {
    if (!this.#material) throw new IllegalStateError(`the control server is ${this.state}`);
    return this.#material.keyfile.certificate;
  }

  /** Certificates that are expired, not yet valid, or expire within certificateWarningBefore, as of now. */
  certificateWarnings(): CertificateWarning[] {
    if (!this.#material) return [];
    return certificateWarnings(this.#material, this.#opts.now(), this.#opts.certificateWarningMs);
  }

  /**
   * Re-reads the keyfile, the client-auth CA and the JWT secret and switches new connections to them
   * (setSecureContext); open connections keep theirs. When anything is wrong (unreadable, expired) it throws
   * and the server keeps serving with what it had.
   */
  async reload(): Promise<CertificateInfo> {
    if (!this.#lifecycle.is('running') || !this.#server) throw new IllegalStateError(`cannot reload a control server that is ${this.state}`);
    let material: ServerMaterial;
    try {
      material = await loadServerMaterial(this.#opts, this.#opts.now());
    } catch (err) {
      this.#log.error('reload failed, keeping the current certificates', { err });
      throw err;
    }
    this.#server.setSecureContext(serverSecureContextOptions(material.keyfile, material.clientCa?.pem));
    this.#material = material;
    this.#log.info('certificates reloaded', this.#certificateMeta(material));
    this.#logWarnings();
    return material.keyfile.certificate;
  }

  /** Stops accepting connections, lets requests in flight finish for stopGrace, then closes every connection. */
  async stop(): Promise<void> {
    if (this.#lifecycle.is('stopped', 'failed', 'initialized')) return;
    if (!this.#lifecycle.is('running') || !this.#server) throw new IllegalStateError(`cannot stop a control server that is ${this.state}`);
    this.#lifecycle.to('stopping');
    const server = this.#server;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    const timer = new AbortController();
    const graceOver = delay(this.#opts.stopGraceMs, timer.signal).then(
      () => true,
      () => false,
    );
    const timedOut = await Promise.race([closed.then(() => false), graceOver]);
    timer.abort();
    if (timedOut) {
      this.#log.warn('stop grace over, closing connections', { inFlight: this.#inFlight });
      server.closeAllConnections();
      await closed;
    }
    this.#lifecycle.to('stopped');
  }

  #certificateMeta(m: ServerMaterial): Record<string, unknown> {
    const c = m.keyfile.certificate;
    return { subject: c.subject, notAfter: c.notAfter.toISOString(), fingerprint256: c.fingerprint256, clientAuthCa: m.clientCa !== undefined };
  }

  #logWarnings(): void {
    for (const w of this.certificateWarnings()) {
      this.#log.warn('certificate warning', { kind: w.kind, file: w.file, path: w.path, subject: w.subject, notAfter: w.notAfter.toISOString(), message: w.message });
    }
  }

  #builtinRoutes(): Route[] {
    const { component, version } = this.#opts;
    return [
      route({ method: 'GET', path: '/health', access: 'public', summary: 'liveness', handler: async () => ({ status: 200, body: { status: 'ok', component } }) }),
      route({
        method: 'GET',
        path: '/version',
        access: 'public',
        summary: 'version of the server and its API',
        handler: async () => ({ status: 200, body: { version, api: API_PREFIX, component } }),
      }),
    ];
  }

  #createServer(material: ServerMaterial): https.Server {
    const o = this.#opts;
    const server = https.createServer({
      ...serverSecureContextOptions(material.keyfile, material.clientCa?.pem),
      requestCert: material.clientCa !== undefined,
      // See the file comment: presented certificates are checked in the first secureConnection listener.
      rejectUnauthorized: false,
      handshakeTimeout: o.handshakeTimeoutMs,
      maxHeaderSize: 16 * 1024,
      noDelay: true,
      requestTimeout: o.requestTimeoutMs,
      headersTimeout: o.headersTimeoutMs,
      keepAliveTimeout: o.keepAliveTimeoutMs,
      connectionsCheckingInterval: Math.min(1000, Math.max(100, o.headersTimeoutMs)),
    });
    server.maxHeadersCount = 64;
    server.prependListener('secureConnection', (socket: TLSSocket) => {
      if (!this.#acceptConnection(socket)) socket.destroy();
    });
    server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
      this.#log.debug('tls handshake failed', { remoteAddress: remoteOf(socket), code: err.code ?? 'unknown' });
    });
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => this.#onClientError(err, socket));
    const onRequest = (req: IncomingMessage, res: ServerResponse): void => void this.#handle(req, res);
    server.on('request', onRequest);
    // With a 'checkContinue' listener Node does not answer "100 Continue" by itself: it is sent only once
    // the request is authorized and its headers are acceptable (see #readBody).
    server.on('checkContinue', onRequest);
    return server;
  }

  /** False for a connection that presented a client certificate the client-auth CA does not vouch for. */
  #acceptConnection(socket: TLSSocket): boolean {
    if (socket.authorized) return true;
    const cert = socket.getPeerX509Certificate();
    if (!cert) return true;
    const pc = socket.getPeerCertificate();
    this.#log.warn('client certificate refused', { remoteAddress: remoteOf(socket), reason: authorizationReason(socket), subject: String(pc.subject?.CN ?? ''), issuer: String(pc.issuer?.CN ?? '') });
    return false;
  }

  #onClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const status = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
    const body = JSON.stringify(errorBody('bad-request', status === 408 ? 'the request took too long' : 'malformed HTTP request'));
    this.#log.debug('malformed request', { code: err.code ?? 'unknown', status });
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const socket = req.socket as TLSSocket;
    if (!this.#acceptConnection(socket)) {
      socket.destroy();
      return;
    }
    const remoteAddress = remoteOf(socket);
    const method = req.method ?? '';
    const rawUrl = req.url ?? '';
    const q = rawUrl.indexOf('?');
    const pathname = q < 0 ? rawUrl : rawUrl.slice(0, q);
    const abort = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) abort.abort();
    });
    this.#inFlight++;
    let auth: AuthContext = ANONYMOUS;
    let response: RouteResponse;
    let code: string | undefined;
    try {
      if (!rawUrl.startsWith('/')) throw badRequest('the request target must be a path');
      const match = this.#router.match(method, pathname);
      if (match.kind === 'not-found') throw new HttpError(404, 'not-found', 'no such route');
      if (match.kind === 'bad-path') throw badRequest(match.reason);
      if (match.kind === 'method-not-allowed') throw new HttpError(405, 'method-not-allowed', `method ${method} is not allowed here`, { headers: { allow: match.allow.join(', ') } });
      const r = match.route;
      auth = await this.#authenticate(r.access, req, remoteAddress, started);
      const body = await this.#readBody(req, res, r);
      response = await r.handler({ params: match.params, query: parseQuery(q < 0 ? '' : rawUrl.slice(q + 1)), body, auth, remoteAddress, signal: abort.signal });
      if (!Number.isInteger(response.status) || response.status < 200 || response.status > 599) throw new Error(`handler answered with status ${String(response.status)}`);
    } catch (err) {
      if (err instanceof HttpError) {
        response = { status: err.status, body: errorBody(err.code, err.message), headers: err.headers };
        code = err.code;
      } else {
        // The caller learns nothing about the failure; the log gets the message (never a stack trace on the wire).
        this.#log.error('request failed', { method, path: pathname, err });
        response = { status: 500, body: errorBody('internal', 'internal error') };
        code = 'internal';
      }
    } finally {
      this.#inFlight--;
    }
    this.#send(req, res, response);
    const meta = { method, path: pathname, status: response.status, remoteAddress, auth: auth.kind, subject: auth.subject, ms: Math.round(performance.now() - started) };
    if (code !== undefined && response.status !== 404) this.#log.info('request refused', { ...meta, code });
    else this.#log.debug('request', meta);
  }

  #send(req: IncomingMessage, res: ServerResponse, r: RouteResponse): void {
    if (res.headersSent || res.destroyed) return;
    let payload = '';
    let status = r.status;
    let headers = r.headers ?? {};
    let contentType = RESPONSE_HEADERS['content-type']!;
    if (r.raw !== undefined && status !== 204) {
      payload = r.raw.body;
      contentType = r.raw.contentType;
    } else if (status !== 204 && r.body !== undefined) {
      try {
        payload = JSON.stringify(r.body);
      } catch (err) {
        this.#log.error('response not serializable', { err });
        status = 500;
        headers = {};
        payload = JSON.stringify(errorBody('internal', 'internal error'));
      }
    }
    const out: Record<string, string | number> = {};
    for (const [k, v] of Object.entries(headers)) out[k.toLowerCase()] = v;
    Object.assign(out, RESPONSE_HEADERS, { 'content-type': contentType, 'content-length': Buffer.byteLength(payload) });
    // A body we did not read (refused before or while reading it) is not worth reading to keep the connection.
    if (!req.complete) out['connection'] = 'close';
    res.writeHead(status, out);
    res.end(payload);
  }

  async #authenticate(access: RouteAccess, req: IncomingMessage, remoteAddress: string, started: number): Promise<AuthContext> {
    switch (access) {
      case 'public':
        return ANONYMOUS;
      case 'peer': {
        const v = classifyClientCertificate(peerFacts(req.socket as TLSSocket));
        if (v.ok) return { kind: 'peer', subject: v.commonName, via: 'certificate', fingerprint256: v.fingerprint256 };
        if (v.reason === 'absent') throw new HttpError(401, 'unauthorized', 'this route needs a client certificate issued by the client-auth CA');
        this.#log.warn('client certificate not accepted for this route', { remoteAddress, reason: v.reason });
        throw new HttpError(403, 'forbidden', 'the client certificate is not a dcsync client certificate (O=dcsync, OU=client)');
      }
      case 'worker':
        return this.#authenticateWorker(req, remoteAddress);
      case 'operator':
        return this.#authenticateOperator(req, remoteAddress, started);
      case 'monitoring':
        return this.#authenticateMonitoring(req, remoteAddress);
    }
  }

  /** The monitoring token, compared in constant time; the token itself is never logged. */
  #authenticateMonitoring(req: IncomingMessage, remoteAddress: string): AuthContext {
    const expected = this.#opts.monitoringToken;
    if (expected === undefined) throw new HttpError(404, 'not-found', MONITORING_OFF);
    const a = parseAuthorization(req.headers.authorization);
    const challenge = { 'www-authenticate': `Bearer realm="${REALM}"` };
    if (a.scheme !== 'bearer') throw new HttpError(401, 'unauthorized', 'this route needs the monitoring token: Authorization: Bearer <token>', { headers: challenge });
    if (!sameToken(a.token, expected)) {
      this.#log.warn('monitoring token refused', { remoteAddress });
      throw new HttpError(401, 'unauthorized', 'the monitoring token is not valid', { headers: { 'www-authenticate': `Bearer realm="${REALM}", error="invalid_token"` } });
    }
    return { kind: 'monitoring', subject: 'monitoring', via: 'token' };
  }

  #authenticateWorker(req: IncomingMessage, remoteAddress: string): AuthContext {
    const a = parseAuthorization(req.headers.authorization);
    const challenge = `Bearer realm="${REALM}"`;
    if (a.scheme !== 'bearer') throw new HttpError(401, 'unauthorized', 'this route needs a bearer token', { headers: { 'www-authenticate': challenge } });
    const secret = this.#material?.jwtSecret;
    if (!secret) throw new HttpError(503, 'unavailable', 'tokens cannot be checked now');
    try {
      const claims = verifyJwt(a.token, secret, { audience: this.#opts.datacenter, now: this.#opts.now() });
      return { kind: 'worker', subject: claims.sub ?? 'worker', via: 'token' };
    } catch (err) {
      this.#log.warn('bearer token refused', { remoteAddress, reason: err instanceof JwtError ? err.reason : 'error' });
      throw new HttpError(401, 'unauthorized', 'the bearer token is not valid', { headers: { 'www-authenticate': `${challenge}, error="invalid_token"` } });
    }
  }

  async #authenticateOperator(req: IncomingMessage, remoteAddress: string, started: number): Promise<AuthContext> {
    const a = parseAuthorization(req.headers.authorization);
    const challenge = { 'www-authenticate': `Basic realm="${REALM}", charset="UTF-8"` };
    if (a.scheme === 'none' && this.#opts.operatorCertificates) {
      const v = classifyClientCertificate(peerFacts(req.socket as TLSSocket));
      if (v.ok) return { kind: 'operator', subject: v.commonName, via: 'certificate', fingerprint256: v.fingerprint256 };
    }
    const isBasic = a.scheme === 'basic' || (a.scheme === 'invalid' && a.presented === 'basic');
    if (!isBasic) throw new HttpError(401, 'unauthorized', 'this route needs operator credentials (basic auth)', { headers: challenge });
    const outcome = await this.#throttle.exclusive(remoteAddress, () => this.#checkPassword(a, remoteAddress));
    if (outcome === 'busy' || outcome.kind === 'blocked') {
      const blockedMs = outcome === 'busy' ? 1000 : outcome.ms;
      this.#log.warn('password attempt throttled', { remoteAddress, failures: this.#throttle.failures(remoteAddress) });
      throw new HttpError(429, 'too-many-requests', 'too many failed attempts; try again later', { headers: { 'retry-after': String(Math.ceil(blockedMs / 1000)) } });
    }
    if (outcome.kind === 'unavailable') {
      // Not the caller's fault: no throttling, but the same padding, and nothing about the cause.
      this.#log.error('password check failed', { remoteAddress, err: errorMessage(outcome.error) });
      await this.#pad(started);
      throw new HttpError(503, 'unavailable', 'credentials cannot be checked now; try again later');
    }
    if (outcome.kind === 'ok') return { kind: 'operator', subject: a.scheme === 'basic' ? a.username : '', via: 'password' };
    await this.#pad(started);
    // The user name is not logged: people type passwords into it.
    this.#log.warn('password refused', { remoteAddress, failures: this.#throttle.failures(remoteAddress), blockMs: outcome.blockMs });
    throw new HttpError(401, 'unauthorized', 'authentication failed', { headers: challenge });
  }

  /** One password attempt, run exclusively per address: blocked, or verified and its outcome recorded. */
  async #checkPassword(a: ParsedAuthorization, remoteAddress: string): Promise<PasswordOutcome> {
    const blockedMs = this.#throttle.blockedForMs(remoteAddress);
    if (blockedMs > 0) return { kind: 'blocked', ms: blockedMs };
    const verify = this.#opts.verifyOperator;
    let ok = false;
    if (a.scheme === 'basic' && verify) {
      try {
        ok = await verify(a.username, a.password, { remoteAddress });
      } catch (error) {
        return { kind: 'unavailable', error };
      }
    }
    if (ok) {
      this.#throttle.recordSuccess(remoteAddress);
      return { kind: 'ok' };
    }
    return { kind: 'refused', blockMs: this.#throttle.recordFailure(remoteAddress) };
  }

  /** Waits until authFailureFloor has passed since the request arrived. */
  async #pad(started: number): Promise<void> {
    const wait = started + this.#opts.authFailureFloorMs - performance.now();
    if (wait > 0) await delay(wait);
  }

  async #readBody(req: IncomingMessage, res: ServerResponse, r: Route): Promise<unknown> {
    const te = req.headers['transfer-encoding'];
    const cl = req.headers['content-length'];
    const hasBody = te !== undefined || (cl !== undefined && cl !== '0');
    if (!hasBody) {
      if (r.body) throw badRequest('this route needs a JSON request body');
      return undefined;
    }
    checkJsonContentType(req.headers['content-type']);
    const declaredLength = cl === undefined ? undefined : Number(cl);
    if (req.headers.expect?.toLowerCase() === '100-continue' && !(declaredLength !== undefined && declaredLength > this.#opts.maxBodyBytes)) res.writeContinue();
    const bytes = await readBodyBytes(req, { maxBytes: this.#opts.maxBodyBytes, ...(declaredLength !== undefined ? { declaredLength } : {}) });
    const value = parseJsonBody(bytes, { maxDepth: this.#opts.maxJsonDepth });
    if (!r.body) return value;
    try {
      return r.body(value);
    } catch (err) {
      if (err instanceof HttpError) throw err;
      throw badRequest('the request body is not valid for this route');
    }
  }
}
