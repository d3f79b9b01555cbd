import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type GenTable, mulberry32, randInt, type Rng, SourceSim } from '../../../test/helpers/random-changes.ts';
import { type RowChange, type TableId, tableKey, type Value } from '../../model/change.ts';
import { type ApplyStep, type ColumnValues, planChanges } from './collapse.ts';
import { readBinaryTextArray } from './text-array.ts';
import { InvalidChangeError, RowNotFoundError } from './errors.ts';

const T: TableId = { schema: 'public', name: 't' };
const F: TableId = { schema: 'public', name: 'f' };
const keyed = { table: T, keyColumns: ['id'], fullIdentity: false } as const;
const cols = ['id', 'a', 'big'];
const ins = (id: string, a: Value, big: Value): RowChange => ({ ...keyed, op: 'insert', columns: cols, values: [id, a, big] });
const upd = (id: string, a: Value, big: Value | undefined, oldKey?: Value[]): RowChange => ({
  ...keyed,
  op: 'update',
  columns: cols,
  values: [id, a, big ?? null],
  unchanged: big === undefined ? [2] : [],
  ...(oldKey ? { oldKey } : {}),
});
const del = (id: string): RowChange => ({ ...keyed, op: 'delete', oldKey: [id] });

describe('planChanges (keyed tables)', () => {
  it('collapses changes of one key into one upsert with the last values', () => {
    const steps = planChanges([ins('1', 'x', 'B1'), upd('1', 'y', 'B2'), upd('1', 'z', undefined)]);
    assert.deepEqual(steps, [
      { kind: 'upsert-keys', table: T, keyColumns: ['id'], otherColumns: ['a', 'big'], data: [['1'], ['z'], ['B2']], count: 1 },
    ]);
  });

  it('writes a partial update without its unchanged TOAST column and without the key', () => {
    const steps = planChanges([upd('1', 'y', undefined), upd('2', 'w', undefined)]);
    assert.deepEqual(steps, [
      { kind: 'update-keys', table: T, keyColumns: ['id'], setColumns: ['a'], data: [['1', '2'], ['y', 'w']], count: 2 },
    ]);
  });

  it('groups by table, deletes before upserts, and deletes a key first when it was deleted then inserted', () => {
    const f: RowChange = { table: F, keyColumns: ['k'], fullIdentity: false, op: 'delete', oldKey: ['9'] };
    const steps = planChanges([ins('1', 'x', 'b'), f, del('2'), del('1'), ins('1', 'n', 'nb'), ins('3', 'c', null)]);
    assert.deepEqual(
      steps.map((s) => [s.kind, s.table.name, 'data' in s ? s.data : null]),
      [
        ['delete-keys', 't', [['1', '2']]],
        ['upsert-keys', 't', [['1', '3'], ['n', 'c'], ['nb', null]]],
        ['delete-keys', 'f', [['9']]],
      ],
    );
  });

  it('ends the collapsed segment at a key change and applies it on its own', () => {
    const steps = planChanges([ins('1', 'x', 'b'), upd('2', 'y', undefined, ['1']), upd('2', 'z', 'c')]);
    assert.deepEqual(steps, [
      { kind: 'upsert-keys', table: T, keyColumns: ['id'], otherColumns: ['a', 'big'], data: [['1'], ['x'], ['b']], count: 1 },
      { kind: 'change-key', table: T, keyColumns: ['id'], oldKey: ['1'], newKey: ['2'], setColumns: ['id', 'a'], values: ['2', 'y'], complete: false },
      { kind: 'upsert-keys', table: T, keyColumns: ['id'], otherColumns: ['a', 'big'], data: [['2'], ['z'], ['c']], count: 1 },
    ]);
  });

  it('treats an old key equal to the new key as no key change', () => {
    const steps = planChanges([upd('1', 'x', 'b', ['1'])]);
    assert.equal(steps.length, 1);
    assert.equal(steps[0]?.kind, 'upsert-keys');
  });

  it('keeps the existence obligation of a partial update that later changes overwrite or delete', () => {
    const steps = planChanges([upd('1', 'y', undefined), upd('1', 'z', 'c'), upd('2', 'y', undefined), del('2')]);
    assert.deepEqual(
      steps.map((s) => [s.kind, 'data' in s ? s.data : null]),
      [
        ['check-exists', [['1', '2']]],
        ['delete-keys', [['2']]],
        ['upsert-keys', [['1'], ['z'], ['c']]],
      ],
    );
  });

  it('refuses a partial update of a row deleted earlier in the batch, naming table and key', () => {
    assert.throws(() => planChanges([del('7'), upd('7', 'y', undefined)]), (e: unknown) => {
      assert.ok(e instanceof RowNotFoundError);
      assert.match(e.message, /"public"\."t"/);
      assert.match(e.message, /\(id\)=\('7'\)/);
      return true;
    });
  });

  it('refuses changes without a key value', () => {
    assert.throws(() => planChanges([{ ...keyed, op: 'insert', columns: ['a'], values: ['x'] }]), InvalidChangeError);
  });

  it('splits large groups', () => {
    const steps = planChanges([ins('1', 'a', 'b'), ins('2', 'a', 'b'), ins('3', 'a', 'b')], { maxRowsPerStep: 2 });
    assert.deepEqual(steps.map((s) => ('count' in s ? s.count : -1)), [2, 1]);
  });
});

describe('planChanges (REPLICA IDENTITY FULL)', () => {
  const full = { table: F, keyColumns: ['x', 'big'], fullIdentity: true } as const;
  it('batches runs of inserts and applies updates and deletes one row at a time', () => {
    const steps = planChanges([
      { ...full, op: 'insert', columns: ['x', 'big'], values: ['1', 'b'] },
      { ...full, op: 'insert', columns: ['x', 'big'], values: ['1', 'b'] },
      { ...full, op: 'update', columns: ['x', 'big'], values: ['2', null], unchanged: [1], oldKey: ['1', 'b'] },
      { ...full, op: 'delete', oldKey: ['1', 'b'] },
      { ...full, op: 'insert', columns: ['x', 'big'], values: ['3', null] },
    ]);
    assert.deepEqual(steps, [
      { kind: 'insert-rows', table: F, columns: ['x', 'big'], data: [['1', '1'], ['b', 'b']], count: 2 },
      { kind: 'update-one', table: F, matchColumns: ['x', 'big'], matchValues: ['1', 'b'], setColumns: ['x'], values: ['2'] },
      { kind: 'delete-one', table: F, matchColumns: ['x', 'big'], matchValues: ['1', 'b'] },
      { kind: 'insert-rows', table: F, columns: ['x', 'big'], data: [['3'], [null]], count: 1 },
    ]);
  });
});

// ---- property test: the plan, run on an in-memory target, equals applying the changes one by one -----------

type Row = Map<string, Value>;
interface Model {
  keyed: Map<string, Map<string, Row>>;
  unkeyed: Map<string, Row[]>;
}
const EXTRA = 'extra';

function newRow(columns: readonly string[], values: readonly Value[]): Row {
  const r: Row = new Map([[EXTRA, 'D']]);
  columns.forEach((c, i) => r.set(c, values[i] as Value));
  return r;
}
const idOf = (r: Row, key: readonly string[]): string => JSON.stringify(key.map((k) => r.get(k) ?? null));
const kmap = (m: Model, t: TableId): Map<string, Row> => {
  let x = m.keyed.get(tableKey(t));
  if (!x) m.keyed.set(tableKey(t), (x = new Map()));
  return x;
};
const umap = (m: Model, t: TableId): Row[] => {
  let x = m.unkeyed.get(tableKey(t));
  if (!x) m.unkeyed.set(tableKey(t), (x = []));
  return x;
};
class NotFound extends Error {}

function setCols(r: Row, columns: readonly string[], values: readonly Value[]): void {
  columns.forEach((c, i) => r.set(c, values[i] as Value));
}

function upsert(rows: Map<string, Row>, key: readonly string[], columns: readonly string[], values: readonly Value[]): void {
  const probe = newRow(columns, values);
  const id = idOf(probe, key);
  const old = rows.get(id);
  if (old) setCols(old, columns, values);
  else rows.set(id, probe);
}

function moveKey(rows: Map<string, Row>, key: readonly string[], fromId: string, r: Row): void {
  const to = idOf(r, key);
  if (to === fromId) return;
  if (rows.has(to)) throw new Error('unique violation');
  rows.delete(fromId);
  rows.set(to, r);
}

function matchOne(rows: Row[], columns: readonly string[], values: readonly Value[]): number {
  const i = rows.findIndex((r) => columns.every((c, j) => r.get(c) === values[j]));
  if (i < 0) throw new NotFound();
  return i;
}

/** The reference: one change at a time, with the semantics documented in collapse.ts. */
function referenceApply(m: Model, c: RowChange): void {
  if (c.fullIdentity) {
    const rows = umap(m, c.table);
    if (c.op === 'insert') rows.push(newRow(c.columns, c.values));
    else if (c.op === 'delete') rows.splice(matchOne(rows, c.keyColumns, c.oldKey), 1);
    else {
      const r = rows[matchOne(rows, c.keyColumns, c.oldKey ?? [])] as Row;
      c.columns.forEach((col, i) => c.unchanged.includes(i) || r.set(col, c.values[i] as Value));
    }
    return;
  }
  const rows = kmap(m, c.table);
  if (c.op === 'insert') return upsert(rows, c.keyColumns, c.columns, c.values);
  if (c.op === 'delete') {
    rows.delete(JSON.stringify(c.oldKey));
    return;
  }
  const newKey = c.keyColumns.map((k, i) => {
    const idx = c.columns.indexOf(k);
    return idx >= 0 && !c.unchanged.includes(idx) ? (c.values[idx] as Value) : ((c.oldKey ?? [])[i] as Value);
  });
  const fromId = JSON.stringify(c.oldKey ?? newKey);
  const cs = c.columns.filter((_, i) => !c.unchanged.includes(i));
  const vs = c.values.filter((_, i) => !c.unchanged.includes(i));
  const r = rows.get(fromId);
  if (r) {
    setCols(r, cs, vs);
    moveKey(rows, c.keyColumns, fromId, r);
  } else if (c.unchanged.length === 0) {
    upsert(rows, c.keyColumns, cs, vs);
  } else {
    throw new NotFound();
  }
}

function columnsOf(data: readonly ColumnValues[], row: number): Value[] {
  return data.map((col) => (Buffer.isBuffer(col) ? readBinaryTextArray(col) : col)[row] as Value);
}

/** The plan's steps with the semantics the SQL gives them (see sql.ts). */
function runStep(m: Model, s: ApplyStep): void {
  switch (s.kind) {
    case 'check-exists':
    case 'delete-keys':
    case 'update-keys':
    case 'upsert-keys': {
      const rows = kmap(m, s.table);
      for (let i = 0; i < s.count; i++) {
        const v = columnsOf(s.data, i);
        const id = JSON.stringify(v.slice(0, s.keyColumns.length));
        if (s.kind === 'check-exists' && !rows.has(id)) throw new NotFound();
        if (s.kind === 'delete-keys') rows.delete(id);
        if (s.kind === 'update-keys') {
          const r = rows.get(id);
          if (!r) throw new NotFound();
          setCols(r, s.setColumns, v.slice(s.keyColumns.length));
        }
        if (s.kind === 'upsert-keys') upsert(rows, [...s.keyColumns], [...s.keyColumns, ...s.otherColumns], v);
      }
      return;
    }
    case 'change-key': {
      const rows = kmap(m, s.table);
      const fromId = JSON.stringify(s.oldKey);
      const r = rows.get(fromId);
      if (r) {
        setCols(r, s.setColumns, s.values);
        moveKey(rows, s.keyColumns, fromId, r);
      } else if (s.complete) {
        const others = s.setColumns.filter((c) => !s.keyColumns.includes(c));
        const vals = others.map((c) => s.values[s.setColumns.indexOf(c)] as Value);
        upsert(rows, s.keyColumns, [...s.keyColumns, ...others], [...s.newKey, ...vals]);
      } else throw new NotFound();
      return;
    }
    case 'insert-rows': {
      const rows = umap(m, s.table);
      for (let i = 0; i < s.count; i++) rows.push(newRow(s.columns, columnsOf(s.data, i)));
      return;
    }
    case 'delete-one': {
      const rows = umap(m, s.table);
      rows.splice(matchOne(rows, s.matchColumns, s.matchValues), 1);
      return;
    }
    case 'update-one': {
      const rows = umap(m, s.table);
      setCols(rows[matchOne(rows, s.matchColumns, s.matchValues)] as Row, s.setColumns, s.values);
      return;
    }
  }
}

function clone(m: Model): Model {
  const row = (r: Row): Row => new Map(r);
  return {
    keyed: new Map([...m.keyed].map(([k, rows]) => [k, new Map([...rows].map(([id, r]) => [id, row(r)]))])),
    unkeyed: new Map([...m.unkeyed].map(([k, rows]) => [k, rows.map(row)])),
  };
}

function dump(m: Model): string[] {
  const out: string[] = [];
  const show = (r: Row): string => JSON.stringify([...r].sort(([a], [b]) => (a < b ? -1 : 1)));
  for (const [t, rows] of m.keyed) for (const [id, r] of rows) out.push(`${t} ${id} ${show(r)}`);
  for (const [t, rows] of m.unkeyed) for (const r of rows) out.push(`${t} ${show(r)}`);
  return out.sort();
}

const small = (rnd: Rng, n: number): string => String(randInt(rnd, 0, n));
const maybeNull = (rnd: Rng, v: string): Value => (rnd() < 0.1 ? null : v);
const SPECS: GenTable[] = [
  {
    table: { schema: 's', name: 'one' },
    key: ['id'],
    columns: [
      { name: 'id', gen: (r) => small(r, 25) },
      { name: 'a', gen: (r) => maybeNull(r, 'a' + small(r, 5)) },
      { name: 'big', gen: (r) => maybeNull(r, 'B' + small(r, 1000)), toast: true },
    ],
  },
  {
    table: { schema: 's', name: 'two' },
    key: ['k2', 'k1'],
    columns: [
      { name: 'k1', gen: (r) => 'k' + small(r, 4) },
      { name: 'k2', gen: (r) => small(r, 4) },
      { name: 'v', gen: (r) => maybeNull(r, small(r, 9)) },
    ],
  },
  {
    table: { schema: 's', name: 'full' },
    key: [],
    columns: [
      { name: 'x', gen: (r) => maybeNull(r, small(r, 3)) },
      { name: 'big', gen: (r) => 'B' + small(r, 2), toast: true },
    ],
  },
];

function initialTarget(seed: readonly RowChange[], rnd: Rng, dropRate: number): Model {
  const m: Model = { keyed: new Map(), unkeyed: new Map() };
  for (const c of seed) {
    if (rnd() < dropRate) continue;
    referenceApply(m, c);
  }
  for (const rows of m.keyed.values()) for (const r of rows.values()) r.set(EXTRA, 'X');
  for (const rows of m.unkeyed.values()) for (const r of rows) r.set(EXTRA, 'X');
  return m;
}

const seenKinds = new Map<string, number>();

function runSeed(seed: number, dropRate: number): { batches: number; errors: number } {
  const rnd = mulberry32(seed);
  const sim = new SourceSim(rnd, SPECS);
  const ref = initialTarget(sim.seed(12), rnd, dropRate);
  let got = clone(ref);
  const changes: RowChange[] = [];
  for (let i = 0; i < 400; i++) changes.push(sim.next());
  let batches = 0;
  for (let i = 0; i < changes.length; ) {
    const batch = changes.slice(i, (i += randInt(rnd, 1, 60)));
    const maxRowsPerStep = rnd() < 0.3 ? randInt(rnd, 1, 4) : undefined;
    let refFailed = false;
    try {
      for (const c of batch) referenceApply(ref, c);
    } catch (e) {
      if (!(e instanceof NotFound)) throw e;
      refFailed = true;
    }
    let planFailed = false;
    const trial = clone(got);
    try {
      for (const s of planChanges(batch, { maxRowsPerStep })) {
        seenKinds.set(s.kind, (seenKinds.get(s.kind) ?? 0) + 1);
        runStep(trial, s);
      }
    } catch (e) {
      if (!(e instanceof NotFound) && !(e instanceof RowNotFoundError)) throw e;
      planFailed = true;
    }
    assert.equal(planFailed, refFailed, `seed ${seed} batch ${batches}: plan failed ${planFailed}, one by one failed ${refFailed}`);
    if (refFailed) return { batches, errors: 1 };
    got = trial;
    batches++;
    assert.deepEqual(dump(got), dump(ref), `seed ${seed} batch ${batches}`);
  }
  return { batches, errors: 0 };
}

describe('planChanges property: same result as one by one', () => {
  it('on a target that matches the source (300 seeds × 400 changes)', () => {
    for (let seed = 1; seed <= 300; seed++) assert.equal(runSeed(seed, 0).errors, 0);
    const kinds = ['check-exists', 'delete-keys', 'update-keys', 'upsert-keys', 'change-key', 'insert-rows', 'delete-one', 'update-one'];
    for (const k of kinds) assert.ok((seenKinds.get(k) ?? 0) > 20, `step kind ${k} seen ${seenKinds.get(k) ?? 0} times`);
  });

  it('on a diverged target: fails exactly when one-by-one fails, else same result (300 seeds)', () => {
    let errors = 0;
    for (let seed = 1001; seed <= 1300; seed++) errors += runSeed(seed, 0.3).errors;
    assert.ok(errors > 50, `only ${errors} seeds hit a missing row`);
  });
});
