/**
 * The pure parts of authentication: reading the Authorization header, classifying a verified client
 * certificate, throttling failed password attempts per source address, and a constant-time password
 * verifier for fixed credentials. The server (server.ts) puts them together per route class.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import { InvalidOptionError } from '../core/errors.ts';
import { CLIENT_ORGANIZATIONAL_UNIT, DCSYNC_ORGANIZATION } from '../tls/index.ts';

/**
 * Checks an operator's user name and password; the master checks them against PostgreSQL. It must do the
 * same work whether the user exists or not (compare against a dummy hash for unknown users). The server
 * runs it for every well-formed basic-auth attempt that is not throttled and pads every failure to the
 * same minimum time, so a caller cannot tell an unknown user from a wrong password.
 */
export type BasicAuthVerifier = (username: string, password: string, ctx: { readonly remoteAddress: string }) => Promise<boolean>;

export type ParsedAuthorization =
  | { readonly scheme: 'none' }
  | { readonly scheme: 'basic'; readonly username: string; readonly password: string }
  | { readonly scheme: 'bearer'; readonly token: string }
  | { readonly scheme: 'invalid'; readonly presented: 'basic' | 'bearer' | 'other' };

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const TOKEN68 = /^[A-Za-z0-9._~+/-]+=*$/;
const MAX_CREDENTIAL_CHARS = 8192;

/** Reads an Authorization header (RFC 7617 basic, RFC 6750 bearer). Malformed values are 'invalid', never thrown. */
export function parseAuthorization(header: string | undefined): ParsedAuthorization {
  if (header === undefined || header === '') return { scheme: 'none' };
  const sp = header.indexOf(' ');
  const scheme = (sp < 0 ? header : header.slice(0, sp)).toLowerCase();
  const value = sp < 0 ? '' : header.slice(sp + 1).trim();
  if (scheme === 'basic') {
    if (value.length > MAX_CREDENTIAL_CHARS || value.length % 4 !== 0 || !BASE64.test(value)) return { scheme: 'invalid', presented: 'basic' };
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) return { scheme: 'invalid', presented: 'basic' };
    return { scheme: 'basic', username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  if (scheme === 'bearer') {
    if (value.length > MAX_CREDENTIAL_CHARS || !TOKEN68.test(value)) return { scheme: 'invalid', presented: 'bearer' };
    return { scheme: 'bearer', token: value };
  }
  return { scheme: 'invalid', presented: 'other' };
}

/** The header value for basic auth (client side). */
export function basicAuthorization(username: string, password: string): string {
  if (username === '' || username.includes(':')) throw new InvalidOptionError('auth.user', "must be non-empty and must not contain ':'");
  return `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
}

/** What the TLS layer tells about a client certificate (from tls.TLSSocket.getPeerCertificate()). */
export interface ClientCertificateFacts {
  /** The chain verified against the client-auth CA (tls.TLSSocket.authorized). */
  readonly authorized: boolean;
  /** Absent when the client sent no certificate. */
  readonly certificate?: {
    readonly subject: Readonly<Record<string, string | readonly string[] | undefined>>;
    readonly ca: boolean;
    /** Extended key usage OIDs; empty when the certificate has none. */
    readonly extKeyUsage: readonly string[];
    readonly fingerprint256: string;
  };
}

export type ClientCertificateVerdict =
  | { readonly ok: true; readonly commonName: string; readonly fingerprint256: string }
  | { readonly ok: false; readonly reason: 'absent' | 'unverified' | 'not-a-client-certificate' };

const CLIENT_AUTH_OID = '1.3.6.1.5.5.7.3.2';

function values(v: string | readonly string[] | undefined): readonly string[] {
  return v === undefined ? [] : typeof v === 'string' ? [v] : v;
}

/**
 * Whether a client certificate is a dcsync client credential: verified against the client-auth CA, not a CA,
 * O=dcsync, OU=client, and clientAuth among its extended key usages. A server keyfile (OU=server) issued by
 * the same CA, or the CA's own certificate, is refused here even though its chain verifies.
 */
export function classifyClientCertificate(facts: ClientCertificateFacts): ClientCertificateVerdict {
  const c = facts.certificate;
  if (!c) return { ok: false, reason: 'absent' };
  if (!facts.authorized) return { ok: false, reason: 'unverified' };
  const o = values(c.subject['O']);
  const ou = values(c.subject['OU']);
  const cn = values(c.subject['CN']);
  const isClient =
    !c.ca &&
    o.length === 1 &&
    o[0] === DCSYNC_ORGANIZATION &&
    ou.length === 1 &&
    ou[0] === CLIENT_ORGANIZATIONAL_UNIT &&
    cn.length === 1 &&
    cn[0] !== '' &&
    c.extKeyUsage.includes(CLIENT_AUTH_OID);
  if (!isClient) return { ok: false, reason: 'not-a-client-certificate' };
  return { ok: true, commonName: cn[0]!, fingerprint256: c.fingerprint256 };
}

export interface ThrottleOptions {
  /** Block after the first failure from an address; doubles with every further failure. */
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  /** An address's failure count is forgotten this long after its last failure. */
  readonly forgetAfterMs: number;
  /** At most this many addresses are tracked; the least recently failing ones are dropped first. */
  readonly maxTracked: number;
}

export const DEFAULT_THROTTLE: ThrottleOptions = {
  initialDelayMs: 500,
  maxDelayMs: 60_000,
  forgetAfterMs: 15 * 60_000,
  maxTracked: 10_000,
};

interface ThrottleEntry {
  failures: number;
  blockedUntil: number;
  lastFailure: number;
}

/**
 * Exponential back-off for failed password attempts per source address: after the n-th failure in a row
 * the address may not try again for min(initialDelayMs · 2^(n-1), maxDelayMs). A success clears it.
 * While blocked, attempts are answered 429 without running the verifier, and attempts of one address run one
 * after the other (exclusive()), so parallel guessing does not help.
 */
export class AuthThrottle {
  readonly #entries = new Map<string, ThrottleEntry>();
  readonly #queues = new Map<string, { tail: Promise<void>; size: number }>();
  constructor(
    private readonly opts: ThrottleOptions = DEFAULT_THROTTLE,
    private readonly now: () => number = Date.now,
  ) {
    if (!(opts.maxDelayMs >= opts.initialDelayMs) || opts.initialDelayMs < 0) throw new InvalidOptionError('throttle', 'needs 0 ≤ initialDelayMs ≤ maxDelayMs');
  }

  /** Milliseconds the address must still wait; 0 when it may try. */
  blockedForMs(address: string): number {
    const e = this.#entries.get(normalizeAddress(address));
    if (!e) return 0;
    return Math.max(0, e.blockedUntil - this.now());
  }

  /** Records a failure and returns how long the address is now blocked. */
  recordFailure(address: string): number {
    const key = normalizeAddress(address);
    const now = this.now();
    const prev = this.#entries.get(key);
    const failures = prev && now - prev.lastFailure < this.opts.forgetAfterMs ? prev.failures + 1 : 1;
    const delayMs = Math.min(this.opts.initialDelayMs * 2 ** Math.min(failures - 1, 52), this.opts.maxDelayMs);
    this.#entries.delete(key);
    this.#entries.set(key, { failures, blockedUntil: now + delayMs, lastFailure: now });
    this.#prune(now);
    return delayMs;
  }

  recordSuccess(address: string): void {
    this.#entries.delete(normalizeAddress(address));
  }

  /**
   * Runs `attempt` after every earlier attempt of the same address has settled, so that each one sees the
   * failures recorded before it: parallel guesses cannot all pass the "blocked?" check while the first is still
   * being verified. At most `maxQueued` attempts of an address wait; beyond that this answers 'busy' at once.
   */
  async exclusive<T>(address: string, attempt: () => Promise<T>, maxQueued = 32): Promise<T | 'busy'> {
    const key = normalizeAddress(address);
    const q = this.#queues.get(key) ?? { tail: Promise.resolve(), size: 0 };
    if (q.size >= maxQueued) return 'busy';
    const before = q.tail;
    let release!: () => void;
    q.tail = new Promise<void>((r) => (release = r));
    q.size++;
    this.#queues.set(key, q);
    try {
      await before;
      return await attempt();
    } finally {
      release();
      if (--q.size === 0) this.#queues.delete(key);
    }
  }

  /** Failures in a row recorded for the address (for logs and tests). */
  failures(address: string): number {
    return this.#entries.get(normalizeAddress(address))?.failures ?? 0;
  }

  #prune(now: number): void {
    // Entries are kept in order of their last failure: drop the expired ones from the front, then any excess.
    for (const [key, e] of this.#entries) {
      if (now - e.lastFailure < this.opts.forgetAfterMs && this.#entries.size <= this.opts.maxTracked) break;
      this.#entries.delete(key);
    }
  }
}

/** '::ffff:10.0.0.1' and '10.0.0.1' are the same client. */
export function normalizeAddress(address: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (m && isIP(m[1]!) === 4) return m[1]!;
  return address.toLowerCase();
}

/**
 * A verifier for a fixed set of users (tests, or a single `--auth.user`/`--auth.password` pair). Passwords
 * are compared as HMAC digests under a per-process random key with timingSafeEqual; an unknown user is
 * compared against a random digest, so both failures take the same work.
 */
export function staticPasswordVerifier(users: ReadonlyMap<string, string>): BasicAuthVerifier {
  const key = randomBytes(32);
  const digest = (s: string): Buffer => createHmac('sha256', key).update(s, 'utf8').digest();
  const stored = new Map([...users].map(([u, p]) => [u, digest(p)] as const));
  const dummy = randomBytes(32);
  return async (username, password) => {
    const expected = stored.get(username);
    const ok = timingSafeEqual(digest(password), expected ?? dummy);
    return ok && expected !== undefined;
  };
}

const TOKEN_KEY = randomBytes(32);

/**
 * Compares a presented bearer token with the expected one in constant time: both become HMAC digests of one length
 * first, so neither the position of the first difference nor a difference in length shows in the timing.
 */
export function sameToken(presented: string, expected: string): boolean {
  const digest = (s: string): Buffer => createHmac('sha256', TOKEN_KEY).update(s, 'utf8').digest();
  return timingSafeEqual(digest(presented), digest(expected));
}
