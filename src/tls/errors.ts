import { DcsyncError } from '../core/errors.ts';

/** A certificate, key or keyfile is unusable: malformed, mismatched, expired, or not a CA. Never retriable. */
export class TlsMaterialError extends DcsyncError {
  constructor(message: string, readonly path?: string, cause?: unknown) {
    super(path === undefined ? message : `${path}: ${message}`, { cause });
  }
}

/** A file we were asked to create already exists and overwriting it was not allowed (no --force). */
export class FileExistsError extends DcsyncError {
  constructor(readonly path: string) {
    super(`${path} already exists (use --force to overwrite it)`);
  }
}
