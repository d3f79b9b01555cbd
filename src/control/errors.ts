import { DcsyncError, errorMessage } from '../core/errors.ts';

/**
 * Errors of the control plane. The server side has one class, HttpError, whose message is safe to send to
 * the caller; anything else a handler throws becomes a 500 with a generic message. The client side turns
 * every failure into one of four classes: the server answered with an error (ControlHttpError), the endpoint
 * could not be reached (EndpointUnreachableError, retriable), its certificate was not trusted
 * (ServerCertificateError, not retriable: a configuration problem), or no endpoint of a list answered
 * (EndpointsUnreachableError, naming each).
 */

/** Machine-readable codes in `{error: {code, message}}`. Stable: clients switch on them. */
export type ErrorCode =
  | 'bad-request'
  | 'unauthorized'
  | 'forbidden'
  | 'not-found'
  | 'method-not-allowed'
  | 'conflict'
  | 'payload-too-large'
  | 'unsupported-media-type'
  | 'too-many-requests'
  | 'internal'
  | 'not-implemented'
  /** A call to the other datacenter failed (the message names its endpoints and why). */
  | 'bad-gateway'
  | 'unavailable';

/** The body of every error response. */
export interface ErrorBody {
  readonly error: { readonly code: string; readonly message: string };
}

/**
 * An error a handler (or the server itself) throws to answer with `status` and `{error: {code, message}}`.
 * The message is sent to the caller as is: never put secrets, paths of secret files or stack traces in it.
 */
export class HttpError extends DcsyncError {
  /** Extra response headers, e.g. WWW-Authenticate or Retry-After. */
  readonly headers: Readonly<Record<string, string>>;
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    opts: { headers?: Readonly<Record<string, string>>; cause?: unknown } = {},
  ) {
    super(message, { retriable: status === 429 || status === 503, cause: opts.cause });
    this.headers = opts.headers ?? {};
  }
}

/** The server cannot listen (address in use, no permission). */
export class ListenError extends DcsyncError {
  constructor(readonly host: string, readonly port: number, cause: unknown) {
    super(`cannot listen on ${host}:${port}: ${errorMessage(cause)}`, { cause });
  }
}

export const badRequest = (message: string): HttpError => new HttpError(400, 'bad-request', message);

/** The server answered with an error status. `code` and `message` are the server's. */
export class ControlHttpError extends DcsyncError {
  constructor(
    readonly endpoint: string,
    readonly status: number,
    readonly code: string,
    readonly serverMessage: string,
    readonly retryAfterMs?: number,
  ) {
    super(`${endpoint}: ${status} ${code}: ${serverMessage}`, { retriable: status === 429 || status === 502 || status === 503 || status === 504 });
  }
}

/** The answer did not follow the control protocol (not JSON, too large, wrong error shape). */
export class ControlProtocolError extends DcsyncError {
  constructor(readonly endpoint: string, message: string, cause?: unknown) {
    super(`${endpoint}: ${message}`, { cause });
  }
}

/**
 * The endpoint did not answer: refused, reset, timed out, name not found. Retriable. `requestSent` says
 * whether the connection was established before the failure, so the server may have processed the request
 * (a non-idempotent request must not be repeated at another endpoint then).
 */
export class EndpointUnreachableError extends DcsyncError {
  constructor(
    readonly endpoint: string,
    readonly reason: string,
    readonly requestSent: boolean,
    cause?: unknown,
  ) {
    super(`${endpoint}: ${reason}`, { retriable: true, cause });
  }
}

/** The server's certificate was refused by this client (untrusted CA, wrong host name, expired, wrong purpose). */
export class ServerCertificateError extends DcsyncError {
  constructor(
    readonly endpoint: string,
    /** OpenSSL/Node verification code, e.g. CERT_HAS_EXPIRED or ERR_TLS_CERT_ALTNAME_INVALID. */
    readonly verificationCode: string,
    cause?: unknown,
  ) {
    super(`${endpoint}: the server's certificate is not accepted (${verificationCode}: ${errorMessage(cause)})`, { cause });
  }
}

export interface EndpointFailure {
  readonly endpoint: string;
  readonly error: Error;
}

/** Every endpoint of a list failed; the message names each with its reason. */
export class EndpointsUnreachableError extends DcsyncError {
  constructor(readonly failures: readonly EndpointFailure[]) {
    super(
      failures.length === 0
        ? 'no endpoint to try'
        : `none of ${failures.length} endpoint(s) answered: ${failures.map((f) => describeFailure(f)).join('; ')}`,
      { retriable: failures.some((f) => f.error instanceof DcsyncError && f.error.retriable), cause: failures.at(-1)?.error },
    );
  }
}

function describeFailure(f: EndpointFailure): string {
  const e = f.error;
  if (e instanceof EndpointUnreachableError) return `${f.endpoint} (${e.reason})`;
  if (e instanceof ServerCertificateError) return `${f.endpoint} (certificate not accepted: ${e.verificationCode})`;
  if (e instanceof ControlHttpError) return `${f.endpoint} (${e.status} ${e.code}: ${e.serverMessage})`;
  return `${f.endpoint} (${errorMessage(e)})`;
}
