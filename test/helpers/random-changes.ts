/**
 * Seeded random row changes for property tests of the apply engine. A small simulated source keeps the
 * current rows of each table and emits only changes a real source could emit (updates and deletes of rows
 * that exist, key changes to unused keys, unchanged TOAST values on updates, duplicate rows in tables without
 * a key, and, as snapshot/stream overlap does, now and then an insert of a key that already exists).
 */
import type { InsertChange, RowChange, TableId, Value } from '../../src/model/change.ts';

/** Uniform in [0, 1). */
export type Rng = () => number;

/** mulberry32: tiny, fast, good enough for tests; the same seed gives the same sequence. */
export function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An integer in [lo, hi]. */
export function randInt(rnd: Rng, lo: number, hi: number): number {
  return lo + Math.floor(rnd() * (hi - lo + 1));
}

export function pick<T>(rnd: Rng, items: readonly T[]): T {
  if (items.length === 0) throw new RangeError('pick from nothing');
  return items[Math.floor(rnd() * items.length)] as T;
}

export interface GenColumn {
  readonly name: string;
  /** A value in canonical text form (as the type's output function writes it). Key columns: from a small space. */
  readonly gen: (rnd: Rng) => Value;
  /** A TOASTed column: updates may leave it unchanged. */
  readonly toast?: boolean;
}

export interface GenTable {
  readonly table: TableId;
  readonly columns: readonly GenColumn[];
  /** Key column names; empty for a REPLICA IDENTITY FULL table without a key. */
  readonly key: readonly string[];
}

interface TableSim {
  readonly spec: GenTable;
  readonly names: readonly string[];
  readonly keyIdx: readonly number[];
  readonly toastIdx: readonly number[];
  /** Keyed: key id → row. */
  readonly byKey: Map<string, Value[]>;
  /** Unkeyed: rows, duplicates allowed. */
  readonly rows: Value[][];
}

export class SourceSim {
  readonly #rnd: Rng;
  readonly #tables: TableSim[];

  constructor(rnd: Rng, tables: readonly GenTable[]) {
    this.#rnd = rnd;
    this.#tables = tables.map((spec) => {
      const names = spec.columns.map((c) => c.name);
      return {
        spec,
        names,
        keyIdx: spec.key.map((k) => names.indexOf(k)),
        toastIdx: spec.columns.flatMap((c, i) => (c.toast ? [i] : [])),
        byKey: new Map(),
        rows: [],
      };
    });
  }

  /** The source's current rows of a table. */
  rows(table: TableId): Value[][] {
    const t = this.#tables.find((x) => x.spec.table.schema === table.schema && x.spec.table.name === table.name);
    if (!t) throw new RangeError('unknown table');
    return t.spec.key.length ? [...t.byKey.values()].map((r) => [...r]) : t.rows.map((r) => [...r]);
  }

  /** Inserts of `n` new rows into every table (an initial state). */
  seed(n: number): InsertChange[] {
    const out: InsertChange[] = [];
    for (const t of this.#tables) for (let i = 0; i < n; i++) {
      const c = this.#insert(t, false);
      if (c) out.push(c);
    }
    return out;
  }

  next(): RowChange {
    const rnd = this.#rnd;
    for (;;) {
      const t = pick(rnd, this.#tables);
      const c = t.spec.key.length ? this.#keyed(t) : this.#unkeyed(t);
      if (c) return c;
    }
  }

  #row(t: TableSim): Value[] {
    return t.spec.columns.map((c) => c.gen(this.#rnd));
  }

  #base(t: TableSim, fullIdentity: boolean): { table: TableId; keyColumns: readonly string[]; fullIdentity: boolean } {
    return { table: t.spec.table, keyColumns: fullIdentity ? t.names : t.spec.key, fullIdentity };
  }

  #keyOf(t: TableSim, row: readonly Value[]): Value[] {
    return t.keyIdx.map((i) => row[i] as Value);
  }

  #insert(t: TableSim, overlap: boolean): InsertChange | undefined {
    const keyed = t.spec.key.length > 0;
    let row = this.#row(t);
    if (keyed) {
      if (overlap) {
        if (t.byKey.size === 0) return undefined;
        const existing = pick(this.#rnd, [...t.byKey.values()]);
        t.keyIdx.forEach((i) => (row[i] = existing[i] as Value));
      } else {
        for (let tries = 0; t.byKey.has(JSON.stringify(this.#keyOf(t, row))); tries++) {
          if (tries > 20) return undefined;
          row = this.#row(t);
        }
      }
      t.byKey.set(JSON.stringify(this.#keyOf(t, row)), row);
    } else {
      if (overlap && t.rows.length > 0) row = [...pick(this.#rnd, t.rows)];
      t.rows.push(row);
    }
    return { ...this.#base(t, !keyed), op: 'insert', columns: t.names, values: [...row] };
  }

  /** New values for `old`: each column changed with probability 0.6, TOAST ones maybe unchanged. */
  #newValues(t: TableSim, old: readonly Value[], partial: boolean): { values: Value[]; unchanged: number[]; row: Value[] } {
    const fresh = this.#row(t);
    const row = old.map((v, i) => (!t.keyIdx.includes(i) && this.#rnd() < 0.6 ? (fresh[i] as Value) : v));
    const unchanged = partial ? t.toastIdx.filter(() => this.#rnd() < 0.8) : [];
    if (partial && unchanged.length === 0 && t.toastIdx.length > 0) unchanged.push(t.toastIdx[0] as number);
    for (const i of unchanged) row[i] = old[i] as Value;
    const values = row.map((v, i) => (unchanged.includes(i) ? null : v));
    return { values, unchanged, row };
  }

  #keyed(t: TableSim): RowChange | undefined {
    const rnd = this.#rnd;
    const p = rnd();
    if (p < 0.3 || t.byKey.size === 0) return this.#insert(t, false);
    if (p < 0.34) return this.#insert(t, true);
    const [id, old] = pick(rnd, [...t.byKey.entries()]);
    const oldKey = this.#keyOf(t, old);
    if (p < 0.5) {
      t.byKey.delete(id);
      return { ...this.#base(t, false), op: 'delete', oldKey };
    }
    const partial = t.toastIdx.length > 0 && rnd() < 0.4;
    const { values, unchanged, row } = this.#newValues(t, old, partial);
    let keyChange = false;
    if (rnd() < 0.12) {
      const fresh = this.#row(t);
      const newKey = this.#keyOf(t, fresh);
      if (!t.byKey.has(JSON.stringify(newKey))) {
        t.keyIdx.forEach((ki, j) => {
          row[ki] = newKey[j] as Value;
          values[ki] = newKey[j] as Value;
        });
        keyChange = true;
      }
    }
    t.byKey.delete(id);
    t.byKey.set(JSON.stringify(this.#keyOf(t, row)), row);
    const withOld = keyChange || rnd() < 0.05;
    return { ...this.#base(t, false), op: 'update', columns: t.names, values, unchanged, ...(withOld ? { oldKey } : {}) };
  }

  #unkeyed(t: TableSim): RowChange | undefined {
    const rnd = this.#rnd;
    const p = rnd();
    if (p < 0.4 || t.rows.length === 0) return this.#insert(t, rnd() < 0.25);
    const i = Math.floor(rnd() * t.rows.length);
    const old = t.rows[i] as Value[];
    if (p < 0.65) {
      t.rows.splice(i, 1);
      return { ...this.#base(t, true), op: 'delete', oldKey: [...old] };
    }
    const partial = t.toastIdx.length > 0 && rnd() < 0.4;
    const { values, unchanged, row } = this.#newValues(t, old, partial);
    t.rows[i] = row;
    return { ...this.#base(t, true), op: 'update', columns: t.names, values, unchanged, oldKey: [...old] };
  }
}
