/**
 * Rows in COPY's text format (`COPY … FROM STDIN`), written from UTF-8 value bytes: columns separated by a tab, rows
 * ended by a newline, NULL as `\N`, and backslash, newline, carriage return and tab escaped. Each value is read by
 * its column's input function, as the `::type` cast of a text parameter is.
 */
import { withRoom } from '../../core/grow.ts';

const TAB = 0x09;
const NL = 0x0a;
const CR = 0x0d;
const BACKSLASH = 0x5c;

export class CopyTextBuilder {
  #buf: Buffer;
  #len = 0;
  #rows = 0;
  #inRow = false;

  constructor(capacity = 64 * 1024) {
    this.#buf = Buffer.allocUnsafe(Math.max(capacity, 64));
  }

  get rows(): number {
    return this.#rows;
  }

  /** Appends the next value of the current row: `src[start, end)`, or NULL when start is -1. */
  value(src: Buffer, start: number, end: number): void {
    this.#ensure(1 + (start < 0 ? 2 : 2 * (end - start)));
    const buf = this.#buf;
    let p = this.#len;
    if (this.#inRow) buf[p++] = TAB;
    this.#inRow = true;
    if (start < 0) {
      buf[p++] = BACKSLASH;
      buf[p++] = 0x4e; /* N */
    } else {
      for (let i = start; i < end; i++) {
        const b = src[i]!;
        if (b === BACKSLASH || b === NL || b === CR || b === TAB) {
          buf[p++] = BACKSLASH;
          buf[p++] = b === BACKSLASH ? BACKSLASH : b === NL ? 0x6e /* n */ : b === CR ? 0x72 /* r */ : 0x74; /* t */
        } else buf[p++] = b;
      }
    }
    this.#len = p;
  }

  endRow(): void {
    this.#ensure(1);
    this.#buf[this.#len++] = NL;
    this.#inRow = false;
    this.#rows++;
  }

  finish(): Buffer {
    return this.#buf.subarray(0, this.#len);
  }

  #ensure(more: number): void {
    this.#buf = withRoom(this.#buf, this.#len, more);
  }
}

/** The rows of COPY text as values (tests and diagnostics; no column count check). */
export function readCopyText(text: Buffer): (string | null)[][] {
  const rows: (string | null)[][] = [];
  const s = text.toString('utf8');
  if (s.length === 0) return rows;
  if (!s.endsWith('\n')) throw new RangeError('COPY text must end with a newline');
  for (const line of s.slice(0, -1).split('\n')) {
    rows.push(
      line.split('\t').map((v) =>
        v === '\\N' ? null : v.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : c === 't' ? '\t' : c)),
      ),
    );
  }
  return rows;
}
