import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { DcsyncError } from '../core/errors.ts';
import { SECRET_FILE_MODE, writeNewFile } from './files.ts';

/**
 * JSON Web Tokens between the masters and workers of one datacenter: HS256 only (HMAC-SHA256 with the
 * datacenter's JWT secret), audience = the datacenter id, always with an expiry. Any other algorithm,
 * "none" included, is refused before the signature is looked at.
 */

/** Why a token was refused; callers map every reason to 401 and may log it. */
export type JwtFailure = 'malformed' | 'algorithm' | 'signature' | 'expired' | 'not-yet-valid' | 'issued-in-future' | 'audience' | 'issuer' | 'claims';

export class JwtError extends DcsyncError {
  constructor(readonly reason: JwtFailure, message: string) {
    super(`invalid token: ${message}`);
  }
}

/** Registered claims (RFC 7519 §4.1); times are seconds since the epoch. Other claims pass through. */
export interface JwtClaims {
  readonly iss?: string;
  readonly sub?: string;
  readonly aud: string | readonly string[];
  readonly exp: number;
  readonly nbf?: number;
  readonly iat?: number;
  readonly jti?: string;
  readonly [claim: string]: unknown;
}

/** The HMAC key: the secret file's text without surrounding white space, as bytes (as ArangoDB/ArangoSync use it). */
export type JwtSecret = Buffer;

export const JWT_ALGORITHM = 'HS256';
/** Secrets shorter than this are refused: HS256 wants at least as many key bytes as its output. */
export const MIN_JWT_SECRET_BYTES = 32;
/** Bytes of randomness in a generated secret (written as 64 hex characters). */
export const JWT_SECRET_BYTES = 32;
const MAX_TOKEN_LENGTH = 8192;
const DEFAULT_CLOCK_TOLERANCE_MS = 30_000;

export interface SignJwtOptions {
  /** The datacenter id the token is for. */
  readonly audience: string;
  readonly expiresInMs: number;
  readonly subject?: string;
  readonly issuer?: string;
  /** Not valid before this time; default: no nbf claim. */
  readonly notBefore?: Date;
  readonly now?: Date;
  /** Extra claims; they cannot override the registered ones set from the options. */
  readonly claims?: Readonly<Record<string, unknown>>;
}

export interface VerifyJwtOptions {
  /** The datacenter id this process belongs to; the token's aud must name it. */
  readonly audience: string;
  /** When set, iss must equal it. */
  readonly issuer?: string;
  readonly now?: Date;
  /** Allowed clock difference for exp, nbf and iat; default 30 s. */
  readonly clockToleranceMs?: number;
}

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

/** Strict base64url: only the alphabet, no padding, and canonical (re-encodes to the same text). */
function decodeSegment(seg: string, what: string): Buffer {
  if (!/^[A-Za-z0-9_-]*$/.test(seg) || seg.length % 4 === 1) throw new JwtError('malformed', `${what} is not base64url`);
  const buf = Buffer.from(seg, 'base64url');
  if (buf.toString('base64url') !== seg) throw new JwtError('malformed', `${what} is not canonical base64url`);
  return buf;
}

function decodeJsonObject(seg: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(decodeSegment(seg, what).toString('utf8'));
  } catch (err) {
    if (err instanceof JwtError) throw err;
    throw new JwtError('malformed', `${what} is not JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new JwtError('malformed', `${what} is not a JSON object`);
  return value as Record<string, unknown>;
}

function hmac(secret: JwtSecret, signingInput: string): Buffer {
  return createHmac('sha256', secret).update(signingInput, 'ascii').digest();
}

function checkSecret(secret: JwtSecret): void {
  if (secret.length < MIN_JWT_SECRET_BYTES) throw new DcsyncError(`the JWT secret must be at least ${MIN_JWT_SECRET_BYTES} bytes long`);
}

/** Signs an HS256 token with aud, exp and iat (and nbf, sub, iss when given). */
export function signJwt(secret: JwtSecret, opts: SignJwtOptions): string {
  checkSecret(secret);
  if (!(opts.expiresInMs > 0)) throw new RangeError('expiresInMs must be positive');
  const nowS = Math.floor((opts.now ?? new Date()).getTime() / 1000);
  const claims: Record<string, unknown> = {
    ...opts.claims,
    aud: opts.audience,
    iat: nowS,
    exp: nowS + Math.ceil(opts.expiresInMs / 1000),
  };
  if (opts.notBefore) claims['nbf'] = Math.floor(opts.notBefore.getTime() / 1000);
  if (opts.subject !== undefined) claims['sub'] = opts.subject;
  if (opts.issuer !== undefined) claims['iss'] = opts.issuer;
  const signingInput = `${b64url(JSON.stringify({ alg: JWT_ALGORITHM, typ: 'JWT' }))}.${b64url(JSON.stringify(claims))}`;
  return `${signingInput}.${hmac(secret, signingInput).toString('base64url')}`;
}

function numericDate(claims: Record<string, unknown>, name: string, required: boolean): number | undefined {
  const v = claims[name];
  if (v === undefined && !required) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new JwtError('claims', `'${name}' must be a number of seconds${required ? ' and is required' : ''}`);
  return v;
}

/**
 * Verifies a token and returns its claims. Checks, in this order: shape and size, header (alg exactly
 * HS256, typ JWT if present, no crit), signature (constant time), exp (required), nbf, iat, aud, iss.
 * Throws JwtError with the reason.
 */
export function verifyJwt(token: string, secret: JwtSecret, opts: VerifyJwtOptions): JwtClaims {
  checkSecret(secret);
  if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH) throw new JwtError('malformed', 'too long');
  const parts = token.split('.');
  if (parts.length !== 3) throw new JwtError('malformed', 'a JWS compact token has three parts');
  const [h, p, s] = parts as [string, string, string];
  const header = decodeJsonObject(h, 'header');
  if (header['alg'] !== JWT_ALGORITHM) throw new JwtError('algorithm', `algorithm ${JSON.stringify(header['alg'] ?? null)} is not accepted (only ${JWT_ALGORITHM})`);
  if (header['typ'] !== undefined && String(header['typ']).toUpperCase() !== 'JWT') throw new JwtError('malformed', `type ${JSON.stringify(header['typ'])} is not JWT`);
  if (header['crit'] !== undefined) throw new JwtError('malformed', 'critical header parameters are not supported');
  const signature = decodeSegment(s, 'signature');
  const expected = hmac(secret, `${h}.${p}`);
  if (signature.length !== expected.length || !timingSafeEqual(signature, expected)) throw new JwtError('signature', 'bad signature');

  const claims = decodeJsonObject(p, 'payload');
  const nowS = (opts.now ?? new Date()).getTime() / 1000;
  const tolS = (opts.clockToleranceMs ?? DEFAULT_CLOCK_TOLERANCE_MS) / 1000;
  const exp = numericDate(claims, 'exp', true)!;
  if (nowS >= exp + tolS) throw new JwtError('expired', `expired at ${new Date(exp * 1000).toISOString()}`);
  const nbf = numericDate(claims, 'nbf', false);
  if (nbf !== undefined && nowS + tolS < nbf) throw new JwtError('not-yet-valid', `not valid before ${new Date(nbf * 1000).toISOString()}`);
  const iat = numericDate(claims, 'iat', false);
  if (iat !== undefined && nowS + tolS < iat) throw new JwtError('issued-in-future', `issued in the future (${new Date(iat * 1000).toISOString()})`);

  const aud = claims['aud'];
  const audiences = typeof aud === 'string' ? [aud] : Array.isArray(aud) && aud.every((a) => typeof a === 'string') ? (aud as string[]) : undefined;
  if (!audiences) throw new JwtError('audience', "'aud' is missing");
  if (!audiences.includes(opts.audience)) throw new JwtError('audience', `not meant for datacenter '${opts.audience}'`);
  if (opts.issuer !== undefined && claims['iss'] !== opts.issuer) throw new JwtError('issuer', `issuer is not '${opts.issuer}'`);
  for (const name of ['iss', 'sub', 'jti'] as const) {
    if (claims[name] !== undefined && typeof claims[name] !== 'string') throw new JwtError('claims', `'${name}' must be a string`);
  }
  return claims as unknown as JwtClaims;
}

/** A new secret: 32 random bytes as 64 lower-case hex characters. */
export function createJwtSecret(): string {
  return randomBytes(JWT_SECRET_BYTES).toString('hex');
}

/** The HMAC key from a secret file's text (see JwtSecret). */
export function parseJwtSecret(text: string, path?: string): JwtSecret {
  const secret = Buffer.from(text.trim(), 'utf8');
  if (secret.length < MIN_JWT_SECRET_BYTES) {
    throw new DcsyncError(`${path ?? 'the JWT secret'}: must hold at least ${MIN_JWT_SECRET_BYTES} characters (create one with 'dcsync create jwt-secret')`);
  }
  return secret;
}

export async function readJwtSecret(path: string): Promise<JwtSecret> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new DcsyncError(`${path}: cannot be read: ${(err as Error).message}`, { cause: err });
  }
  return parseJwtSecret(text, path);
}

/** Writes a secret file (mode 0600, one line); an existing file is replaced only with `force`. */
export async function writeJwtSecret(path: string, secret: string, opts: { force?: boolean } = {}): Promise<void> {
  await writeNewFile(path, secret + '\n', { mode: SECRET_FILE_MODE, force: opts.force ?? false });
}
