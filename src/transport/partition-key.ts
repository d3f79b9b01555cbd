/**
 * Which partition of the changes topic a row's changes go to: FNV-1a (32 bit) of the table and the key values,
 * stable across processes and versions (unlike a client library's default partitioner), so every change of a row,
 * whichever source task wrote it, lands in the same partition and keeps its order. The hashed text is
 * `schema.name` for tables whose identity is the whole row (REPLICA IDENTITY FULL: an update changes the identity,
 * so their changes stay in one partition), else `schema.name` NUL and the key values as a JSON array (`["42","x"]`,
 * `null` for NULL). A table without any replica identity only ever sends inserts (its rows never change where
 * dcsync could see it), so its rows are spread: hashed by all their values, as if every column were the key.
 *
 * The source hashes key values straight from pgoutput's bytes; `KeyHash` produces the same number as hashing
 * `changeKey` of the decoded change (partition-key.test.ts checks both ways agree).
 */
import type { RowChange, TableId, Value } from '../model/change.ts';

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

export function fnv1a(text: string): number {
  return fnv1aMore(FNV_OFFSET, text) >>> 0;
}

/** Continues an FNV-1a hash over the UTF-16 code units of `text`. */
function fnv1aMore(h: number, text: string): number {
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), FNV_PRIME);
  return h;
}

/** The hashed text of a change (see above); `insertOnly` for the inserts of a table without replica identity. */
export function changeKey(c: RowChange, insertOnly = false): string {
  const t = `${c.table.schema}.${c.table.name}`;
  if (c.fullIdentity && !insertOnly) return t;
  const key = c.op === 'delete' ? c.oldKey : keyValues(c);
  return t + '\u0000' + JSON.stringify(key);
}

function keyValues(c: Exclude<RowChange, { op: 'delete' }>): Value[] {
  return c.keyColumns.map((k) => c.values[c.columns.indexOf(k)] ?? null);
}

export function partitionOf(c: RowChange, partitions: number, insertOnly = false): number {
  return partitions === 1 ? 0 : fnv1a(changeKey(c, insertOnly)) % partitions;
}

/** JSON.stringify's escapes for the ASCII control characters, `"` and `\`; 0 where a byte stands for itself. */
const ESCAPES: readonly string[] = (() => {
  const out = new Array<string>(128).fill('');
  for (let b = 0; b < 0x20; b++) out[b] = JSON.stringify(String.fromCharCode(b)).slice(1, -1);
  out[0x22] = '\\"';
  out[0x5c] = '\\\\';
  return out;
})();

/**
 * Hashes one change's key as its bytes come: `begin`, then `value`/`null` per key column in key order, then `end`.
 * One instance is reused; nothing is allocated unless a value has non-ASCII bytes.
 */
export class KeyHash {
  #h = 0;
  #first = true;

  /** The hash of a whole-row identity table: only its name. */
  static ofTable(t: TableId): number {
    return fnv1a(`${t.schema}.${t.name}`);
  }

  /** The running hash after `schema.name` NUL, to start each key of the table from. */
  static prefixOf(t: TableId): number {
    return fnv1aMore(FNV_OFFSET, `${t.schema}.${t.name}\u0000`);
  }

  begin(prefix: number): void {
    this.#h = fnv1aMore(prefix, '[');
    this.#first = true;
  }

  null(): void {
    this.#h = fnv1aMore(this.#sep(), 'null');
  }

  /** A text value: the UTF-8 bytes [start, end) of `buf`. */
  value(buf: Buffer, start: number, end: number): void {
    const open = Math.imul(this.#sep() ^ 0x22, FNV_PRIME);
    let h = open;
    for (let i = start; i < end; i++) {
      const b = buf[i]!;
      if (b >= 0x80) {
        // Not ASCII: hash the UTF-16 code units of the decoded text, as JSON.stringify leaves them.
        h = fnv1aMore(open, JSON.stringify(buf.toString('utf8', start, end)).slice(1, -1));
        break;
      }
      const esc = ESCAPES[b]!;
      h = esc === '' ? Math.imul(h ^ b, FNV_PRIME) : fnv1aMore(h, esc);
    }
    this.#h = Math.imul(h ^ 0x22, FNV_PRIME);
  }

  end(): number {
    return Math.imul(this.#h ^ 0x5d, FNV_PRIME) >>> 0;
  }

  #sep(): number {
    if (this.#first) {
      this.#first = false;
      return this.#h;
    }
    return Math.imul(this.#h ^ 0x2c, FNV_PRIME);
  }
}
