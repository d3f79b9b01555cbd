/**
 * `text[]` parameters in PostgreSQL's binary array format, as array_recv reads them: i32 dimensions (1), i32 flags
 * (1 when there are NULLs), u32 element type (text), i32 length, i32 lower bound (1), then per element i32 byte length
 * (-1 for NULL) and the UTF-8 bytes. node-postgres sends a Buffer parameter in binary format, so the values go into
 * the statement as the bytes they came in: no strings, no escaping, and array_recv instead of array_in's parser.
 */
import { withRoom } from '../../core/grow.ts';

declare const binaryTextArray: unique symbol;

/** A Buffer holding a `text[]` in binary array format. */
export type BinaryTextArray = Buffer & { readonly [binaryTextArray]: true };

const HEADER = 20;
const TEXT_OID = 25;

export class TextArrayBuilder {
  #buf: Buffer;
  #len = HEADER;
  #count = 0;
  #nulls = false;

  constructor(capacity = 4096) {
    this.#buf = Buffer.allocUnsafe(Math.max(capacity, 64));
  }

  /** Appends `src[start, end)`; a start of -1 appends NULL. */
  add(src: Buffer, start: number, end: number): void {
    if (start < 0) {
      this.#ensure(4);
      this.#buf.writeInt32BE(-1, this.#len);
      this.#len += 4;
      this.#nulls = true;
    } else {
      const n = end - start;
      this.#ensure(4 + n);
      const buf = this.#buf;
      const p = this.#len;
      buf[p] = n >>> 24;
      buf[p + 1] = (n >>> 16) & 0xff;
      buf[p + 2] = (n >>> 8) & 0xff;
      buf[p + 3] = n & 0xff;
      // Most values are a few bytes: a loop beats Buffer#copy's per-call overhead there.
      if (n < 64) for (let i = 0; i < n; i++) buf[p + 4 + i] = src[start + i]!;
      else src.copy(buf, p + 4, start, end);
      this.#len = p + 4 + n;
    }
    this.#count++;
  }

  finish(): BinaryTextArray {
    const buf = this.#buf;
    buf.writeInt32BE(1, 0);
    buf.writeInt32BE(this.#nulls ? 1 : 0, 4);
    buf.writeUInt32BE(TEXT_OID, 8);
    buf.writeInt32BE(this.#count, 12);
    buf.writeInt32BE(1, 16);
    return buf.subarray(0, this.#len) as BinaryTextArray;
  }

  #ensure(more: number): void {
    this.#buf = withRoom(this.#buf, this.#len, more);
  }
}

/** The elements of a binary text[] (tests and diagnostics). */
export function readBinaryTextArray(buf: Buffer): (string | null)[] {
  if (buf.readInt32BE(0) !== 1 || buf.readUInt32BE(8) !== TEXT_OID || buf.readInt32BE(16) !== 1) throw new RangeError('not a one-dimensional text[]');
  const count = buf.readInt32BE(12);
  const out: (string | null)[] = [];
  let p = HEADER;
  for (let i = 0; i < count; i++) {
    const n = buf.readInt32BE(p);
    p += 4;
    if (n < 0) out.push(null);
    else {
      out.push(buf.toString('utf8', p, p + n));
      p += n;
    }
  }
  if (p !== buf.length) throw new RangeError(`${buf.length - p} bytes after the last element`);
  return out;
}
