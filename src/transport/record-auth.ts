/**
 * Record authentication. Each sync run has a secret key, made by the destination's master when the sync is configured
 * and handed to the source's master over the peer connection; masters give it to their workers with the tasks. The
 * source signs every record (header `dcsync-mac`: HMAC-SHA256 over the partition, the record's key, its `dcsync-*`
 * headers and its value); a destination that holds the key applies nothing that does not verify. Anyone able to
 * write to the topics (at A, at B, or on the way) can then neither inject changes, positions or SQL, nor move a
 * record to another partition; MirrorMaker 2 copies records unchanged, so the code holds at B.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { InvalidOptionError } from '../core/errors.ts';
import { headerText, type RawHeaders } from './record-format/index.ts';

export const MAC_HEADER = 'dcsync-mac';

/** A sync run's record key: 32 random bytes. */
export type RecordKey = Buffer & { readonly __recordKey: unique symbol };

export function newRecordKeyText(): string {
  return randomBytes(32).toString('base64url');
}

/** The key from its text form (base64url of 32 bytes), as masters store and send it. */
export function parseRecordKey(text: string, where = 'record key'): RecordKey {
  const key = /^[A-Za-z0-9_-]{43}$/.test(text) ? Buffer.from(text, 'base64url') : Buffer.alloc(0);
  if (key.length !== 32) throw new InvalidOptionError(where, 'must be 32 bytes in base64url (43 characters)');
  return key as RecordKey;
}

export interface SignedParts {
  partition: number;
  key: Buffer | null;
  headers: RawHeaders | undefined;
  value: Buffer | null;
}

/** The code of a record: every `dcsync-*` header but the code itself, in name order, then the key and the value. */
export function recordMac(k: RecordKey, r: SignedParts): Buffer {
  const h = createHmac('sha256', k);
  const head = Buffer.alloc(4);
  head.writeUInt32BE(r.partition);
  h.update(head);
  const names = Object.keys(r.headers ?? {})
    .filter((n) => n.startsWith('dcsync-') && n !== MAC_HEADER)
    .sort();
  for (const n of names) h.update(lengthPrefixed(Buffer.from(n))).update(lengthPrefixed(Buffer.from(headerText(r.headers, n) ?? '')));
  h.update(r.key === null ? Buffer.from([0]) : Buffer.concat([Buffer.from([1]), lengthPrefixed(r.key)]));
  h.update(r.value ?? Buffer.alloc(0));
  return h.digest();
}

function lengthPrefixed(b: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  return Buffer.concat([len, b]);
}

/** The header to add to a record so that it verifies. */
export function macHeader(k: RecordKey, r: SignedParts): string {
  return recordMac(k, r).toString('base64url');
}

/** Why a record does not verify under `k`, or undefined when it does. */
export function macProblem(k: RecordKey, r: SignedParts): string | undefined {
  const text = headerText(r.headers, MAC_HEADER);
  if (text === undefined) return `it carries no authentication code (header '${MAC_HEADER}'), and this sync's records are signed`;
  const given = Buffer.from(text, 'base64url');
  const expected = recordMac(k, r);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return "its authentication code does not match: it was not written by this sync's source, or was changed on the way";
  return undefined;
}
