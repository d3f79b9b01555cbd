/**
 * One error root for all of dcsync. `retriable` says whether repeating the same operation may succeed;
 * it defaults to false: a replication system fails closed, only classified I/O errors are retried.
 */
export class DcsyncError extends Error {
  readonly retriable: boolean;
  constructor(message: string, opts: { retriable?: boolean; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.retriable = opts.retriable ?? false;
  }
}

/** A method was called in a lifecycle state that does not allow it. */
export class IllegalStateError extends DcsyncError {}

/** A configuration value is missing or wrong; the message names the key. */
export class InvalidOptionError extends DcsyncError {
  constructor(readonly key: string, message: string) {
    super(`'${key}' ${message}`);
  }
}

/** Bytes on the wire did not follow the protocol. Never retriable: the same bytes fail again. */
export class ProtocolError extends DcsyncError {}

/** A connection closed while we still needed it. */
export class ConnectionLostError extends DcsyncError {
  constructor(message: string, cause?: unknown) {
    super(message, { retriable: true, cause });
  }
}

/** What cannot be replicated safely: stops the task (or table) with a message that says what to do. */
export class ReplicationError extends DcsyncError {}

export class RetriesExhaustedError extends DcsyncError {
  constructor(readonly attempts: number, cause: unknown) {
    super(`gave up after ${attempts} attempts: ${errorMessage(cause)}`, { cause });
  }
}

export class ShutdownTimeoutError extends DcsyncError {}

/** Two failures at once, e.g. the loop failed and then closing it failed too. */
export class CombinedError extends DcsyncError {
  constructor(message: string, readonly errors: readonly unknown[]) {
    super(`${message}: ${errors.map(errorMessage).join('; ')}`, { cause: errors[0] });
  }
}

export function isRetriable(err: unknown): boolean {
  return err instanceof DcsyncError && err.retriable;
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
