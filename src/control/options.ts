/**
 * Control server options: a loose input type (optional fields, durations as 500 or '10s') compiled once into
 * a strict type, with errors that name the key.
 */
import { InvalidOptionError } from '../core/errors.ts';
import { silentLogger, type Logger } from '../core/logger.ts';
import { parseDuration } from '../core/time.ts';
import { DEFAULT_THROTTLE, type BasicAuthVerifier, type ThrottleOptions } from './auth.ts';
import { DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_JSON_DEPTH } from './body.ts';
import type { Route } from './router.ts';

/** Default ports, as ArangoSync's. */
export const MASTER_PORT = 8629;
export const WORKER_PORT = 8729;

export type Duration = number | string;

export interface ControlServerOptions {
  /** 'master' or 'worker'; in logs and in /version. */
  readonly component: string;
  /** This datacenter's id: the audience of worker tokens. */
  readonly datacenter: string;
  /** Address to listen on; default '0.0.0.0'. */
  readonly host?: string;
  /** 8629 for masters, 8729 for workers, 0 to let the OS choose (tests). */
  readonly port: number;
  /** Path of the TLS keyfile (certificate, chain, key), re-read by reload(). */
  readonly keyfile: string;
  /** Path of the client-auth CA certificate(s). Needed for peer routes and operator certificates; re-read by reload(). */
  readonly clientAuthCa?: string;
  /** Path of the datacenter's JWT secret. Needed for worker routes; re-read by reload(). */
  readonly jwtSecret?: string;
  /** Checks operator passwords. Needed for operator routes unless operatorCertificates is on. */
  readonly verifyOperator?: BasicAuthVerifier;
  /** The bearer token of the monitoring routes (/metrics); without it they answer 404 saying how to turn them on. */
  readonly monitoringToken?: string;
  /** Also accept a client-auth certificate (OU=client) on operator routes, as ArangoSync's --auth.keyfile. Default false. */
  readonly operatorCertificates?: boolean;
  readonly routes?: readonly Route[];
  /** Reported by /version. */
  readonly version?: string;
  readonly maxBodyBytes?: number;
  readonly maxJsonDepth?: number;
  /** TLS handshake must finish within this; default '10s'. */
  readonly handshakeTimeout?: Duration;
  /** Request headers must arrive within this; default '10s'. */
  readonly headersTimeout?: Duration;
  /** The whole request must arrive within this; default '30s'. */
  readonly requestTimeout?: Duration;
  /** Idle keep-alive connections are closed after this; default '5s'. */
  readonly keepAliveTimeout?: Duration;
  /** Failed basic-auth attempts per source address; see AuthThrottle. */
  readonly throttle?: { readonly initialDelay?: Duration; readonly maxDelay?: Duration; readonly forgetAfter?: Duration; readonly maxTracked?: number };
  /** Every failed basic-auth attempt is answered no sooner than this after it arrived; default '250ms'. */
  readonly authFailureFloor?: Duration;
  /** Warn when the keyfile or client-auth CA expires within this; default '30d'. */
  readonly certificateWarningBefore?: Duration;
  /** How long stop() waits for requests in flight before closing their connections; default '5s'. */
  readonly stopGrace?: Duration;
  readonly logger?: Logger;
  /** The clock for certificate validity and token checks (tests). */
  readonly now?: () => Date;
}

export interface CompiledControlServerOptions {
  readonly component: string;
  readonly datacenter: string;
  readonly host: string;
  readonly port: number;
  readonly keyfile: string;
  readonly clientAuthCa: string | undefined;
  readonly jwtSecret: string | undefined;
  readonly verifyOperator: BasicAuthVerifier | undefined;
  readonly monitoringToken: string | undefined;
  readonly operatorCertificates: boolean;
  readonly routes: readonly Route[];
  readonly version: string;
  readonly maxBodyBytes: number;
  readonly maxJsonDepth: number;
  readonly handshakeTimeoutMs: number;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly throttle: ThrottleOptions;
  readonly authFailureFloorMs: number;
  readonly certificateWarningMs: number;
  readonly stopGraceMs: number;
  readonly logger: Logger;
  readonly now: () => Date;
}

function duration(key: string, value: Duration | undefined, fallback: Duration): number {
  let ms: number;
  try {
    ms = parseDuration(value ?? fallback);
  } catch {
    throw new InvalidOptionError(key, "must be a duration such as '500ms', '10s' or '30d'");
  }
  if (!Number.isFinite(ms) || ms < 0) throw new InvalidOptionError(key, 'must be a duration of zero or more');
  return ms;
}

function positiveInteger(key: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v <= 0) throw new InvalidOptionError(key, 'must be a positive integer');
  return v;
}

function nonEmpty(key: string, value: string | undefined): string {
  if (typeof value !== 'string' || value.trim() === '') throw new InvalidOptionError(key, 'must not be empty');
  return value;
}

/** Checks the options and fills in defaults; also checks that every route's access class can be served. */
export function compileControlServerOptions(raw: ControlServerOptions): CompiledControlServerOptions {
  const port = raw.port;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidOptionError('port', 'must be an integer from 0 to 65535');
  const throttle: ThrottleOptions = {
    initialDelayMs: duration('throttle.initialDelay', raw.throttle?.initialDelay, DEFAULT_THROTTLE.initialDelayMs),
    maxDelayMs: duration('throttle.maxDelay', raw.throttle?.maxDelay, DEFAULT_THROTTLE.maxDelayMs),
    forgetAfterMs: duration('throttle.forgetAfter', raw.throttle?.forgetAfter, DEFAULT_THROTTLE.forgetAfterMs),
    maxTracked: positiveInteger('throttle.maxTracked', raw.throttle?.maxTracked, DEFAULT_THROTTLE.maxTracked),
  };
  if (throttle.maxDelayMs < throttle.initialDelayMs) throw new InvalidOptionError('throttle.maxDelay', 'must be at least throttle.initialDelay');
  const compiled: CompiledControlServerOptions = {
    component: nonEmpty('component', raw.component),
    datacenter: nonEmpty('datacenter', raw.datacenter),
    host: raw.host ?? '0.0.0.0',
    port,
    keyfile: nonEmpty('keyfile', raw.keyfile),
    clientAuthCa: raw.clientAuthCa === undefined ? undefined : nonEmpty('clientAuthCa', raw.clientAuthCa),
    jwtSecret: raw.jwtSecret === undefined ? undefined : nonEmpty('jwtSecret', raw.jwtSecret),
    verifyOperator: raw.verifyOperator,
    monitoringToken: raw.monitoringToken === undefined ? undefined : nonEmpty('monitoringToken', raw.monitoringToken),
    operatorCertificates: raw.operatorCertificates ?? false,
    routes: raw.routes ?? [],
    version: raw.version ?? '0.0.0-dev',
    maxBodyBytes: positiveInteger('maxBodyBytes', raw.maxBodyBytes, DEFAULT_MAX_BODY_BYTES),
    maxJsonDepth: positiveInteger('maxJsonDepth', raw.maxJsonDepth, DEFAULT_MAX_JSON_DEPTH),
    handshakeTimeoutMs: duration('handshakeTimeout', raw.handshakeTimeout, '10s'),
    headersTimeoutMs: duration('headersTimeout', raw.headersTimeout, '10s'),
    requestTimeoutMs: duration('requestTimeout', raw.requestTimeout, '30s'),
    keepAliveTimeoutMs: duration('keepAliveTimeout', raw.keepAliveTimeout, '5s'),
    throttle,
    authFailureFloorMs: duration('authFailureFloor', raw.authFailureFloor, '250ms'),
    certificateWarningMs: duration('certificateWarningBefore', raw.certificateWarningBefore, '30d'),
    stopGraceMs: duration('stopGrace', raw.stopGrace, '5s'),
    logger: raw.logger ?? silentLogger,
    now: raw.now ?? (() => new Date()),
  };
  if (compiled.requestTimeoutMs > 0 && compiled.headersTimeoutMs > compiled.requestTimeoutMs) {
    throw new InvalidOptionError('headersTimeout', 'must not be longer than requestTimeout');
  }
  if (compiled.operatorCertificates && compiled.clientAuthCa === undefined) {
    throw new InvalidOptionError('operatorCertificates', 'needs clientAuthCa (the CA that issues operator certificates)');
  }
  for (const r of compiled.routes) {
    const where = `${r.method} ${r.path}`;
    if (r.access === 'worker' && compiled.jwtSecret === undefined) throw new InvalidOptionError('jwtSecret', `is required by the worker route '${where}'`);
    if (r.access === 'peer' && compiled.clientAuthCa === undefined) throw new InvalidOptionError('clientAuthCa', `is required by the peer route '${where}'`);
    if (r.access === 'operator' && compiled.verifyOperator === undefined && !compiled.operatorCertificates) {
      throw new InvalidOptionError('verifyOperator', `is required by the operator route '${where}' (or enable operatorCertificates)`);
    }
  }
  return compiled;
}
