/**
 * The HTTPS JSON client of the control plane, for the CLI and for masters and workers calling each other.
 * It trusts only the given CA (never the system store, never "insecure"), presents a client keyfile when given,
 * sends basic auth or a bearer token, and bounds every request with a timeout. With several endpoints (the
 * masters of a datacenter) it tries them in order, starting with the one that answered last, and reports every
 * endpoint that did not answer by name.
 */
import https from 'node:https';
import type { IncomingMessage } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { DcsyncError, InvalidOptionError, errorMessage } from '../core/errors.ts';
import { AbortedError, parseDuration } from '../core/time.ts';
import type { Keyfile } from '../tls/index.ts';
import { parseEndpoint } from '../config/validate.ts';
import { basicAuthorization } from './auth.ts';
import { parseJsonBody } from './body.ts';
import { ControlHttpError, ControlProtocolError, EndpointUnreachableError, EndpointsUnreachableError, ServerCertificateError, type EndpointFailure } from './errors.ts';
import type { Duration } from './options.ts';
import { API_PREFIX, type HttpMethod } from './router.ts';
import { clientTlsOptions } from './tls-policy.ts';

export type ClientAuth =
  | { readonly kind: 'basic'; readonly username: string; readonly password: string }
  /** A fixed token, or a function called for every request (to refresh tokens before they expire). */
  | { readonly kind: 'bearer'; readonly token: string | (() => string) };

export interface ControlClientOptions {
  /** 'https://host:port', or several (every master of a datacenter). */
  readonly endpoints: string | readonly string[];
  /** PEM of the CA that issued the servers' certificates (the TLS CA). The system's CAs are not trusted. */
  readonly ca: string;
  /** A client keyfile to present (a client-auth keyfile for peer routes). */
  readonly keyfile?: Keyfile;
  readonly auth?: ClientAuth;
  /** For each request, connect and answer included; default '10s'. */
  readonly timeout?: Duration;
  /** Larger answers are refused; default 16 MiB. */
  readonly maxResponseBytes?: number;
}

export interface RequestOptions<T> {
  readonly query?: Readonly<Record<string, string | number | boolean | undefined>>;
  /** Sent as application/json. */
  readonly body?: unknown;
  readonly signal?: AbortSignal;
  readonly timeout?: Duration;
  /**
   * Whether the request may be repeated at another endpoint after it may have reached one (the connection
   * was up when it failed). Default: true for GET, PUT and DELETE, false for POST and PATCH.
   */
  readonly idempotent?: boolean;
  /** Validates and types the answer; default: the parsed JSON as is. */
  readonly parse?: (value: unknown) => T;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024;
const MAX_RESPONSE_DEPTH = 64;

/** Node/OpenSSL codes that mean "this server's certificate is not acceptable" (not retriable). */
const CERTIFICATE_CODES = new Set([
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'INVALID_CA',
  'INVALID_PURPOSE',
  'PATH_LENGTH_EXCEEDED',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

const REASONS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection closed',
  ETIMEDOUT: 'timed out',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host not found (temporary)',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EADDRNOTAVAIL: 'address not available',
};

export interface TryEndpointsOptions {
  /** See RequestOptions.idempotent; default true. */
  readonly idempotent?: boolean;
  readonly signal?: AbortSignal;
}

/**
 * Whether a failure is the endpoint's (so the next one may answer): unreachable, certificate not accepted,
 * or 502/503/504. A non-idempotent request that may have reached the server is not repeated elsewhere.
 */
export function isEndpointFailure(err: unknown, idempotent = true): boolean {
  if (err instanceof EndpointUnreachableError) return idempotent || !err.requestSent;
  if (err instanceof ServerCertificateError) return true;
  if (err instanceof ControlHttpError) return err.status === 502 || err.status === 503 || err.status === 504;
  return false;
}

/**
 * Calls `fn` with each endpoint in order until one answers. Failures of the endpoint (isEndpointFailure)
 * move on to the next; any other error (401, 400, a validation error) is thrown at once. When none answers,
 * throws EndpointsUnreachableError naming every endpoint with its reason.
 */
export async function tryEndpoints<T>(endpoints: readonly string[], fn: (endpoint: string) => Promise<T>, opts: TryEndpointsOptions = {}): Promise<T> {
  if (endpoints.length === 0) throw new InvalidOptionError('endpoints', 'must name at least one endpoint');
  const failures: EndpointFailure[] = [];
  for (const endpoint of endpoints) {
    if (opts.signal?.aborted) throw new AbortedError();
    try {
      return await fn(endpoint);
    } catch (err) {
      if (!isEndpointFailure(err, opts.idempotent ?? true)) throw err;
      failures.push({ endpoint, error: err as Error });
    }
  }
  throw new EndpointsUnreachableError(failures);
}

class TimeoutSignal extends Error {}

export class ControlClient {
  readonly #endpoints: readonly string[];
  readonly #agent: https.Agent;
  readonly #auth: ClientAuth | undefined;
  readonly #timeoutMs: number;
  readonly #maxResponseBytes: number;
  #preferred = 0;

  constructor(opts: ControlClientOptions) {
    const list = typeof opts.endpoints === 'string' ? [opts.endpoints] : opts.endpoints;
    if (list.length === 0) throw new InvalidOptionError('endpoints', 'must name at least one endpoint');
    this.#endpoints = list.map(parseEndpoint);
    if (typeof opts.ca !== 'string' || !opts.ca.includes('-----BEGIN CERTIFICATE-----')) {
      throw new InvalidOptionError('ca', 'must be the PEM text of the CA that issued the servers’ certificates');
    }
    if (opts.auth?.kind === 'basic') basicAuthorization(opts.auth.username, opts.auth.password);
    this.#auth = opts.auth;
    this.#timeoutMs = timeoutOption('timeout', opts.timeout, DEFAULT_TIMEOUT_MS);
    this.#maxResponseBytes = opts.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    this.#agent = new https.Agent({ keepAlive: true, keepAliveMsecs: 1000, maxSockets: 16, scheduling: 'lifo', ...clientTlsOptions(opts.ca, opts.keyfile) });
  }

  get endpoints(): readonly string[] {
    return this.#endpoints;
  }

  get<T = unknown>(path: string, opts: Omit<RequestOptions<T>, 'body'> = {}): Promise<T> {
    return this.request('GET', path, opts);
  }

  post<T = unknown>(path: string, body: unknown, opts: Omit<RequestOptions<T>, 'body'> = {}): Promise<T> {
    return this.request('POST', path, { ...opts, body });
  }

  put<T = unknown>(path: string, body: unknown, opts: Omit<RequestOptions<T>, 'body'> = {}): Promise<T> {
    return this.request('PUT', path, { ...opts, body });
  }

  patch<T = unknown>(path: string, body: unknown, opts: Omit<RequestOptions<T>, 'body'> = {}): Promise<T> {
    return this.request('PATCH', path, { ...opts, body });
  }

  delete<T = unknown>(path: string, opts: RequestOptions<T> = {}): Promise<T> {
    return this.request('DELETE', path, opts);
  }

  /**
   * Sends a request (path relative to API_PREFIX, e.g. '/health' or formatPath(...)) to the endpoints in
   * turn, starting with the one that answered last.
   */
  async request<T = unknown>(method: HttpMethod, path: string, opts: RequestOptions<T> = {}): Promise<T> {
    const n = this.#endpoints.length;
    const order = Array.from({ length: n }, (_, i) => this.#endpoints[(this.#preferred + i) % n]!);
    const idempotent = opts.idempotent ?? (method === 'GET' || method === 'PUT' || method === 'DELETE');
    return tryEndpoints(
      order,
      async (endpoint) => {
        const result = await this.requestAt<T>(endpoint, method, path, opts);
        this.#preferred = this.#endpoints.indexOf(endpoint);
        return result;
      },
      { idempotent, ...(opts.signal ? { signal: opts.signal } : {}) },
    );
  }

  /** Sends a request to one endpoint. */
  async requestAt<T = unknown>(endpoint: string, method: HttpMethod, path: string, opts: RequestOptions<T> = {}): Promise<T> {
    const ep = parseEndpoint(endpoint);
    if (!path.startsWith('/')) throw new InvalidOptionError('path', `'${path}' must start with '/' (relative to ${API_PREFIX})`);
    const idempotent = opts.idempotent ?? (method === 'GET' || method === 'PUT' || method === 'DELETE');
    try {
      return await this.#once<T>(ep, method, path, opts);
    } catch (err) {
      // A kept-alive connection the server closed while idle: the request never reached it; try once more.
      if (err instanceof StaleSocketError && idempotent) return this.#once<T>(ep, method, path, opts);
      throw err instanceof StaleSocketError ? err.error : err;
    }
  }

  /** Closes kept-alive connections. */
  close(): void {
    this.#agent.destroy();
  }

  #authorization(): string | undefined {
    const a = this.#auth;
    if (!a) return undefined;
    if (a.kind === 'basic') return basicAuthorization(a.username, a.password);
    return `Bearer ${typeof a.token === 'function' ? a.token() : a.token}`;
  }

  #once<T>(endpoint: string, method: HttpMethod, path: string, opts: RequestOptions<T>): Promise<T> {
    const url = new URL(endpoint);
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) qs.append(k, String(v));
    const search = qs.toString();
    const fullPath = API_PREFIX + path + (search === '' ? '' : (path.includes('?') ? '&' : '?') + search);
    const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (payload !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    const authorization = this.#authorization();
    if (authorization !== undefined) headers['authorization'] = authorization;
    const timeoutMs = opts.timeout === undefined ? this.#timeoutMs : timeoutOption('timeout', opts.timeout, this.#timeoutMs);
    const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;

    return new Promise<T>((resolve, reject) => {
      if (opts.signal?.aborted) return reject(new AbortedError());
      let connected = false;
      let settled = false;
      const settle = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        fn();
      };
      const req = https.request({ protocol: 'https:', hostname, port: url.port === '' ? 443 : Number(url.port), method, path: fullPath, headers, agent: this.#agent });
      const timer = setTimeout(() => req.destroy(new TimeoutSignal()), timeoutMs);
      const onAbort = (): void => {
        settle(() => reject(new AbortedError()));
        req.destroy();
      };
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      req.on('socket', (socket) => {
        if (req.reusedSocket) connected = true;
        else (socket as TLSSocket).once('secureConnect', () => (connected = true));
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        settle(() => {
          if (err instanceof TimeoutSignal) return reject(new EndpointUnreachableError(endpoint, `timed out after ${timeoutMs}ms`, connected));
          if (req.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE')) {
            return reject(new StaleSocketError(new EndpointUnreachableError(endpoint, REASONS[err.code]!, true, err)));
          }
          reject(classifyError(endpoint, err, connected));
        });
      });
      req.on('response', (res: IncomingMessage) => {
        readResponse(res, this.#maxResponseBytes).then(
          (body) => settle(() => {
            try {
              resolve(interpret<T>(endpoint, res, body, opts.parse));
            } catch (err) {
              reject(err);
            }
          }),
          (err: unknown) => settle(() => reject(err instanceof TimeoutSignal ? new EndpointUnreachableError(endpoint, `timed out after ${timeoutMs}ms`, true) : toResponseError(endpoint, err))),
        );
      });
      req.end(payload);
    });
  }
}

/** A reused keep-alive socket turned out to be closed; requestAt retries idempotent requests once. */
class StaleSocketError extends DcsyncError {
  constructor(readonly error: EndpointUnreachableError) {
    super(error.message, { retriable: true, cause: error });
  }
}

function timeoutOption(key: string, value: Duration | undefined, fallback: number): number {
  let ms: number;
  try {
    ms = value === undefined ? fallback : parseDuration(value);
  } catch {
    throw new InvalidOptionError(key, "must be a duration such as '500ms' or '10s'");
  }
  if (!(ms > 0)) throw new InvalidOptionError(key, 'must be a positive duration');
  return ms;
}

function classifyError(endpoint: string, err: NodeJS.ErrnoException, connected: boolean): DcsyncError {
  const code = err.code ?? '';
  if (CERTIFICATE_CODES.has(code)) return new ServerCertificateError(endpoint, code, err);
  if (code.startsWith('ERR_SSL_')) return new EndpointUnreachableError(endpoint, `TLS handshake failed (${code})`, connected, err);
  const reason = REASONS[code] ?? `${code === '' ? 'error' : code}: ${errorMessage(err)}`;
  return new EndpointUnreachableError(endpoint, reason, connected, err);
}

function toResponseError(endpoint: string, err: unknown): DcsyncError {
  if (err instanceof DcsyncError) return err;
  return new EndpointUnreachableError(endpoint, `the answer was cut off (${errorMessage(err)})`, true, err);
}

class ResponseTooLargeError extends DcsyncError {}

function readResponse(res: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    res.on('data', (chunk: Buffer) => {
      total += chunk.length;
      if (total > maxBytes) {
        res.destroy(new ResponseTooLargeError(`the answer is larger than ${maxBytes} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    res.on('end', () => resolve(Buffer.concat(chunks, total)));
    res.on('error', reject);
    res.on('aborted', () => reject(new Error('aborted')));
  });
}

function interpret<T>(endpoint: string, res: IncomingMessage, body: Buffer, parse: ((value: unknown) => T) | undefined): T {
  const status = res.statusCode ?? 0;
  const isJson = /^application\/json\b/i.test(res.headers['content-type'] ?? '');
  let value: unknown;
  if (body.length > 0 && isJson) {
    try {
      value = parseJsonBody(body, { maxDepth: MAX_RESPONSE_DEPTH });
    } catch (err) {
      throw new ControlProtocolError(endpoint, `the answer (${status}) is not acceptable JSON`, err);
    }
  }
  if (status >= 200 && status < 300) {
    if (body.length > 0 && !isJson) throw new ControlProtocolError(endpoint, `the answer (${status}) is not JSON`);
    return parse ? parse(value) : (value as T);
  }
  const err = isErrorBody(value) ? value.error : { code: `http-${status}`, message: STATUS_CODES[status] ?? 'error' };
  const retryAfter = Number(res.headers['retry-after']);
  throw new ControlHttpError(endpoint, status, err.code, err.message, Number.isFinite(retryAfter) ? retryAfter * 1000 : undefined);
}

function isErrorBody(v: unknown): v is { error: { code: string; message: string } } {
  if (typeof v !== 'object' || v === null) return false;
  const e = (v as { error?: unknown }).error;
  return typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'string' && typeof (e as { message?: unknown }).message === 'string';
}
