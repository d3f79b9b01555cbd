import { InvalidOptionError } from '../core/errors.ts';

const DAY_MS = 86_400_000;
const YEAR_MS = 365 * DAY_MS;

/** Default lifetimes, as ArangoSync: CAs 15 years, TLS (server) keyfiles 2 years, client keyfiles 1 year. */
export const DEFAULT_CA_VALIDITY_MS = 15 * YEAR_MS;
export const DEFAULT_TLS_KEYFILE_VALIDITY_MS = 2 * YEAR_MS;
export const DEFAULT_CLIENT_KEYFILE_VALIDITY_MS = 1 * YEAR_MS;

/**
 * notBefore is set this far before "now", so that a certificate issued on one machine is already valid on a
 * peer whose clock is a little behind (the two datacenters do not share a clock).
 */
export const CLOCK_SKEW_ALLOWANCE_MS = 5 * 60_000;

/** How long a certificate is valid: either a lifetime from now, or an explicit window (tests, renewals). */
export interface ValidityOptions {
  /** Lifetime counted from `now`. */
  readonly validForMs?: number;
  /** Explicit window; overrides the defaults derived from `now` (used to issue expired or future certificates). */
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  /** Defaults to the current time. */
  readonly now?: Date;
}

export interface ValidityWindow {
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export function resolveValidity(opts: ValidityOptions, defaultValidForMs: number): ValidityWindow {
  const now = opts.now ?? new Date();
  const validForMs = opts.validForMs ?? defaultValidForMs;
  if (!Number.isFinite(validForMs) || validForMs <= 0) throw new InvalidOptionError('validfor', 'must be a positive duration');
  // Certificate times have second precision; cut milliseconds so what we report is what the certificate says.
  const second = (d: Date): Date => new Date(Math.floor(d.getTime() / 1000) * 1000);
  const notBefore = second(opts.notBefore ?? new Date(now.getTime() - CLOCK_SKEW_ALLOWANCE_MS));
  const notAfter = second(opts.notAfter ?? new Date(now.getTime() + validForMs));
  if (notAfter.getTime() <= notBefore.getTime()) throw new InvalidOptionError('validfor', 'must end after the certificate starts');
  return { notBefore, notAfter };
}
