/**
 * The apply engine against a real PostgreSQL 15: random change sequences applied by applyChanges in batches of
 * random sizes must leave exactly the table content that applying them one by one with plain per-row SQL
 * leaves; errors name the table and key; plus a throughput diagnostic.
 *
 *   node --import tsx --test test/integration/destination/apply.it.test.ts
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import {
  applyChanges,
  type ApplyStats,
  RowNotFoundError,
  TargetCatalog,
  TargetSchemaError,
} from '../../../src/destination/apply/index.ts';
import { type PgClusterHandle, startPgCluster } from '../../../tools/local/postgres.ts';
import { planEncodedChanges } from '../../../src/destination/apply/plan-encoded.ts';
import { lsn } from '../../../src/core/lsn.ts';
import { type EncodedChange, qualifiedName, quoteIdent, type RowChange, type UpdateChange, type Value } from '../../../src/model/change.ts';
import { encodeChangeBatch, readChangeBatch } from '../../../src/transport/record-format/index.ts';
import { type GenTable, mulberry32, pick, randInt, type Rng, SourceSim } from '../../helpers/random-changes.ts';

/** Values come back exactly as the server's output functions wrote them. */
const rawText = { getTypeParser: () => (v: string) => v } as unknown as pg.CustomTypesConfig;
const SESSION = '-c DateStyle=ISO -c IntervalStyle=postgres -c extra_float_digits=3 -c TimeZone=UTC';

const DDL = (s: string): string => `
  CREATE SCHEMA ${s};
  CREATE TABLE ${s}.keyed (
    id int PRIMARY KEY, name text, big text, tags text[], m public.mood, j jsonb, ts timestamptz, r int4range,
    p public.pair, flag boolean, c char(4), n numeric(8,2), d public.posint,
    g int GENERATED ALWAYS AS (length(name)) STORED,
    extra text DEFAULT 'D');
  CREATE TABLE ${s}."Comp ""key""" (k1 text, k2 int, v xml, big text, extra text DEFAULT 'D', PRIMARY KEY (k2, k1));
  CREATE TABLE ${s}.nokey (a int, b text, j json, pt point, flag boolean, c char(3), big text, extra text DEFAULT 'D');
  ALTER TABLE ${s}.nokey REPLICA IDENTITY FULL;`;

const TRICKY = ['', 'NULL', 'a b', 'quote\'s', 'dq"x', 'back\\slash', '{brace}', 'com,ma', 'ünï©ødé', 'tab\there', 'new\nline'];
const maybeNull = (rnd: Rng, v: Value): Value => (rnd() < 0.08 ? null : v);
const bigText = (rnd: Rng): string => `big${randInt(rnd, 0, 999)}:` + 'x'.repeat(randInt(rnd, 0, 1) ? 3000 : 10);

const SPECS: GenTable[] = [
  {
    table: { schema: 'app', name: 'keyed' },
    key: ['id'],
    columns: [
      { name: 'id', gen: (r) => String(randInt(r, 0, 60)) },
      { name: 'name', gen: (r) => maybeNull(r, pick(r, TRICKY)) },
      { name: 'big', gen: (r) => maybeNull(r, bigText(r)), toast: true },
      { name: 'tags', gen: (r) => maybeNull(r, pick(r, ['{}', '{a,b}', '{"x y","q\\"z"}', '{NULL,"NULL"}', '{"{",","}', '{"back\\\\slash"}'])) },
      { name: 'm', gen: (r) => maybeNull(r, pick(r, ['sad', 'ok', 'happy'])) },
      { name: 'j', gen: (r) => maybeNull(r, pick(r, ['{"a": 1}', '[1, "two", null]', '"s"', 'null', '{"k": {"n": [true]}}'])) },
      { name: 'ts', gen: (r) => maybeNull(r, `2024-0${randInt(r, 1, 9)}-1${randInt(r, 0, 9)} 0${randInt(r, 0, 9)}:04:05.${randInt(r, 100000, 999999)}+00`) },
      { name: 'r', gen: (r) => maybeNull(r, pick(r, ['[1,5)', 'empty', '(,3)', '[7,)'])) },
      { name: 'p', gen: (r) => maybeNull(r, pick(r, ['(1,"a b")', '(,)', '(2,x)', '(3,"q""t")'])) },
      { name: 'flag', gen: (r) => maybeNull(r, pick(r, ['t', 'f'])) },
      { name: 'c', gen: (r) => maybeNull(r, pick(r, ['ab  ', 'abcd', '    '])) },
      { name: 'n', gen: (r) => maybeNull(r, `${randInt(r, -999, 999)}.${randInt(r, 10, 99)}`) },
      { name: 'd', gen: (r) => maybeNull(r, String(randInt(r, 1, 50))) },
    ],
  },
  {
    table: { schema: 'app', name: 'Comp "key"' },
    key: ['k2', 'k1'],
    columns: [
      { name: 'k1', gen: (r) => pick(r, ['a', 'b b', 'c"', 'd\\', '']) },
      { name: 'k2', gen: (r) => String(randInt(r, 0, 5)) },
      { name: 'v', gen: (r) => maybeNull(r, pick(r, ['<a>1</a>', '<b x="y"/>', 'text only'])) },
      { name: 'big', gen: (r) => maybeNull(r, bigText(r)), toast: true },
    ],
  },
  {
    table: { schema: 'app', name: 'nokey' },
    key: [],
    columns: [
      { name: 'a', gen: (r) => maybeNull(r, String(randInt(r, 0, 3))) },
      { name: 'b', gen: (r) => pick(r, ['x', 'y y', "q'", ...TRICKY, '\\N', '\\.', 'cr\rlf\n']) },
      { name: 'j', gen: (r) => maybeNull(r, pick(r, ['{"a":1}', '{"a": 1}', '[]'])) },
      { name: 'pt', gen: (r) => pick(r, ['(1,2)', '(0.5,-3)']) },
      { name: 'flag', gen: (r) => maybeNull(r, pick(r, ['t', 'f'])) },
      { name: 'c', gen: (r) => pick(r, ['x  ', 'xy ']) },
      { name: 'big', gen: (r) => maybeNull(r, `B${randInt(r, 0, 2)}`), toast: true },
    ],
  },
];
const TABLES = SPECS.map((s) => s.table.name);

const retarget = (c: RowChange, schema: string): RowChange => ({ ...c, table: { schema, name: c.table.name } });

/** The changes as the destination's apply loop gets them from a change batch: rows still encoded. */
function encoded(changes: readonly RowChange[]): EncodedChange[] {
  const rec = encodeChangeBatch('db', changes.map((change, i) => ({ kind: 'change', pos: { lsn: lsn(BigInt(i + 1)), index: 0 }, xid: 1, commitTimeUs: 1n, endOfTx: true, change })));
  return readChangeBatch(rec.headers, rec.value).flatMap((e) => (e.kind === 'change' ? [e.change as EncodedChange] : []));
}

/** The reference: each change with plain per-row SQL (parameter types inferred from the target columns). */
async function referenceApply(client: pg.Client, change: RowChange, schema: string): Promise<void> {
  const c = retarget(change, schema);
  const t = qualifiedName(c.table);
  const q = (cols: readonly string[]): string[] => cols.map(quoteIdent);
  if (c.op === 'insert') {
    const ph = c.values.map((_, i) => `$${i + 1}`).join(', ');
    const conflict = c.fullIdentity
      ? ''
      : ` ON CONFLICT (${q(c.keyColumns).join(', ')}) DO UPDATE SET ` +
        c.columns.filter((x) => !c.keyColumns.includes(x)).map((x) => `${quoteIdent(x)} = EXCLUDED.${quoteIdent(x)}`).join(', ');
    await client.query(`INSERT INTO ${t} (${q(c.columns).join(', ')}) VALUES (${ph})${conflict}`, [...c.values]);
    return;
  }
  const set = c.op === 'update' ? c.columns.flatMap((col, i) => (c.unchanged.includes(i) ? [] : [[col, c.values[i] as Value] as const])) : [];
  const assign = set.map(([col], i) => `${quoteIdent(col)} = $${i + 1}`).join(', ');
  if (c.fullIdentity) {
    const oldRow = c.oldKey ?? [];
    const rows = await client.query<string[]>({ text: `SELECT ctid::text, ${q(c.keyColumns).join(', ')} FROM ${t}`, rowMode: 'array', types: rawText });
    const hit = rows.rows.find((r) => oldRow.every((v, i) => (r[i + 1] ?? null) === v));
    if (!hit) throw new Error(`reference: no row matches in ${t}`);
    if (c.op === 'delete') await client.query(`DELETE FROM ${t} WHERE ctid = $1::tid`, [hit[0]]);
    else if (set.length) await client.query(`UPDATE ${t} SET ${assign} WHERE ctid = $${set.length + 1}::tid`, [...set.map(([, v]) => v), hit[0]]);
    return;
  }
  if (c.op === 'delete') {
    await client.query(`DELETE FROM ${t} WHERE ${c.keyColumns.map((k, i) => `${quoteIdent(k)} = $${i + 1}`).join(' AND ')}`, [...c.oldKey]);
    return;
  }
  const u: UpdateChange = c;
  const oldKey = u.oldKey ?? u.keyColumns.map((k) => u.values[u.columns.indexOf(k)] as Value);
  const where = u.keyColumns.map((k, i) => `${quoteIdent(k)} = $${set.length + i + 1}`).join(' AND ');
  const r = await client.query(`UPDATE ${t} SET ${assign} WHERE ${where}`, [...set.map(([, v]) => v), ...oldKey]);
  if (r.rowCount === 0) {
    if (u.unchanged.length) throw new Error(`reference: partial update of a missing row in ${t}`);
    await referenceApply(client, { ...u, op: 'insert', columns: u.columns, values: u.values }, schema);
  }
}

async function dump(client: pg.Client, schema: string, name: string): Promise<string[]> {
  const r = await client.query<Value[]>({ text: `SELECT * FROM ${qualifiedName({ schema, name })}`, rowMode: 'array', types: rawText });
  return r.rows.map((row) => JSON.stringify(row)).sort();
}

async function applyBatch(client: pg.Client, catalog: TargetCatalog, changes: readonly (RowChange | EncodedChange)[], maxRowsPerStep?: number): Promise<ApplyStats> {
  await client.query('BEGIN');
  try {
    await client.query('SET LOCAL session_replication_role = replica');
    const stats = await applyChanges(client, catalog, changes, maxRowsPerStep === undefined ? {} : { maxRowsPerStep });
    await client.query('COMMIT');
    return stats;
  } catch (e) {
    await client.query('ROLLBACK');
    throw e;
  }
}

describe('applyChanges against PostgreSQL', () => {
  let cluster: PgClusterHandle | undefined;
  let client: pg.Client;
  let root = '';

  before(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'dcsync-apply-'));
    fs.chmodSync(root, 0o755); // the server runs as the postgres OS user, who must reach root/pg
    cluster = await startPgCluster({ dir: path.join(root, 'pg'), name: 'apply-it', settings: { fsync: 'off' } });
    const admin = new pg.Client({ connectionString: cluster.url() });
    await admin.connect();
    await admin.query('CREATE DATABASE apply_it');
    await admin.end();
    client = new pg.Client({ connectionString: cluster.url('apply_it'), options: SESSION });
    await client.connect();
    await client.query(`CREATE TYPE public.mood AS ENUM ('sad', 'ok', 'happy');
      CREATE DOMAIN public.posint AS int CHECK (VALUE > 0);
      CREATE TYPE public.pair AS (x int, y text);`);
    await client.query(DDL('err'));
  });

  after(async () => {
    await client?.end().catch(() => {});
    await cluster?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  for (const seed of [7, 4242]) {
    it(`gives the same content as one-by-one application (seed ${seed}, 700 changes)`, async (t) => {
      const rnd = mulberry32(seed);
      const [app, one, ref, enc] = [`app_${seed}`, `one_${seed}`, `ref_${seed}`, `enc_${seed}`];
      for (const s of [app, one, ref, enc]) await client.query(DDL(s));
      const sim = new SourceSim(rnd, SPECS);
      for (const c of sim.seed(25)) for (const s of [app, one, ref, enc]) await referenceApply(client, c, s);
      for (const s of [app, one, ref, enc]) for (const n of TABLES) await client.query(`UPDATE ${qualifiedName({ schema: s, name: n })} SET extra = 'X'`);

      const changes: RowChange[] = [];
      for (let i = 0; i < 700; i++) changes.push(sim.next());
      const counts = { keyChanges: 0, partial: 0, fullIdentity: 0 };
      for (const c of changes) {
        if (c.op === 'update' && c.oldKey && !c.fullIdentity && c.keyColumns.some((k, i) => c.values[c.columns.indexOf(k)] !== c.oldKey?.[i])) counts.keyChanges++;
        if (c.op === 'update' && c.unchanged.length) counts.partial++;
        if (c.fullIdentity) counts.fullIdentity++;
      }

      for (const c of changes) await referenceApply(client, c, ref);

      const catalog = new TargetCatalog();
      let batches = 0;
      let statements = 0;
      for (let i = 0; i < changes.length; batches++) {
        const batch = changes.slice(i, (i += randInt(rnd, 1, 80))).map((c) => retarget(c, app));
        statements += (await applyBatch(client, catalog, batch, rnd() < 0.25 ? randInt(rnd, 1, 5) : undefined)).statements;
      }
      const single = await applyBatch(client, catalog, changes.map((c) => retarget(c, one)));
      // The same changes read from change batches: batches of plain changes are planned from their bytes.
      let fromBytes = 0;
      let copies = 0;
      for (let i = 0; i < changes.length; ) {
        const batch = encoded(changes.slice(i, (i += randInt(rnd, 1, 6))).map((c) => retarget(c, enc)));
        const steps = planEncodedChanges(batch);
        if (steps) fromBytes++;
        copies += steps?.filter((s) => s.kind === 'copy-rows').length ?? 0;
        await applyBatch(client, catalog, batch);
      }

      for (const n of TABLES) {
        const want = await dump(client, ref, n);
        assert.deepEqual(await dump(client, app, n), want, `table ${n}, random batches`);
        assert.deepEqual(await dump(client, one, n), want, `table ${n}, one batch`);
        assert.deepEqual(await dump(client, enc, n), want, `table ${n}, encoded batches`);
      }
      t.diagnostic(
        `${changes.length} changes (${counts.keyChanges} key changes, ${counts.partial} partial updates, ${counts.fullIdentity} on the table without key): ` +
          `${batches} batches → ${statements} statements; one batch → ${single.statements} statements; ${fromBytes} encoded batches planned from their bytes (${copies} COPY steps)`,
      );
      assert.ok(fromBytes > 20 && copies > 5, `only ${fromBytes} encoded batches planned from their bytes, ${copies} COPY steps`);
      const rows: number[] = [];
      for (const n of TABLES) rows.push((await dump(client, ref, n)).length);
      t.diagnostic(`final rows per table: ${rows.join(', ')}`);
      assert.ok(counts.keyChanges > 5 && counts.partial > 20 && counts.fullIdentity > 50, JSON.stringify(counts));
    });
  }

  it('refuses a partial update of a missing row, naming the table and key, and writes nothing', async () => {
    await client.query(`INSERT INTO err.keyed (id, name, big) VALUES (1, 'one', 'B')`);
    const catalog = new TargetCatalog();
    const base = { table: { schema: 'err', name: 'keyed' }, keyColumns: ['id'], fullIdentity: false } as const;
    const changes: RowChange[] = [
      { ...base, op: 'update', columns: ['id', 'name', 'big'], values: ['1', 'uno', null], unchanged: [2] },
      { ...base, op: 'update', columns: ['id', 'name', 'big'], values: ['2', 'two', null], unchanged: [2] },
    ];
    await assert.rejects(applyBatch(client, catalog, changes), (e: unknown) => {
      assert.ok(e instanceof RowNotFoundError, String(e));
      assert.match(e.message, /"err"\."keyed"/);
      assert.match(e.message, /\(id\)=\('2'\)/);
      return true;
    });
    const r = await client.query<{ name: string; big: string }>(`SELECT name, big FROM err.keyed`);
    assert.deepEqual(r.rows, [{ name: 'one', big: 'B' }]);

    // a key change with unchanged TOAST values keeps them
    await applyBatch(client, catalog, [{ ...base, op: 'update', columns: ['id', 'name', 'big'], values: ['5', 'five', null], unchanged: [2], oldKey: ['1'] }]);
    const moved = await client.query<{ id: number; name: string; big: string }>(`SELECT id, name, big FROM err.keyed`);
    assert.deepEqual(moved.rows, [{ id: 5, name: 'five', big: 'B' }]);
  });

  it('refuses an update or delete that matches no row of a table without key', async () => {
    const catalog = new TargetCatalog();
    const base = { table: { schema: 'err', name: 'nokey' }, keyColumns: ['a', 'b'], fullIdentity: true } as const;
    await applyBatch(client, catalog, [{ ...base, op: 'insert', columns: ['a', 'b'], values: ['1', 'x'] }, { ...base, op: 'insert', columns: ['a', 'b'], values: ['1', 'x'] }]);
    await applyBatch(client, catalog, [{ ...base, op: 'delete', oldKey: ['1', 'x'] }]);
    assert.equal((await client.query(`SELECT * FROM err.nokey`)).rowCount, 1, 'one of two duplicates deleted');
    for (const c of [{ ...base, op: 'delete', oldKey: ['2', 'x'] }, { ...base, op: 'update', columns: ['a', 'b'], values: ['3', 'y'], unchanged: [], oldKey: ['1', null] }] as RowChange[]) {
      await assert.rejects(applyBatch(client, catalog, [c]), (e: unknown) => e instanceof RowNotFoundError && /"err"\."nokey"/.test(e.message));
    }
  });

  it('deletes and updates exactly one row of a partitioned table without key (ctid repeats across partitions)', async () => {
    await client.query(`CREATE TABLE err.parts (a int, b text) PARTITION BY LIST (a);
      CREATE TABLE err.parts1 PARTITION OF err.parts FOR VALUES IN (1);
      CREATE TABLE err.parts2 PARTITION OF err.parts FOR VALUES IN (2);`);
    const catalog = new TargetCatalog();
    const base = { table: { schema: 'err', name: 'parts' }, keyColumns: ['a', 'b'], fullIdentity: true } as const;
    const row = (a: string): RowChange => ({ ...base, op: 'insert', columns: ['a', 'b'], values: [a, 'x'] });
    await applyBatch(client, catalog, [row('1'), row('2'), row('2')]);
    await applyBatch(client, catalog, [
      { ...base, op: 'delete', oldKey: ['2', 'x'] },
      { ...base, op: 'update', columns: ['a', 'b'], values: ['2', 'y'], unchanged: [], oldKey: ['2', 'x'] },
    ]);
    assert.deepEqual(await dump(client, 'err', 'parts'), ['["1","x"]', '["2","y"]']);
  });

  it('reports a column the target lacks, and sees it after invalidate()', async () => {
    const catalog = new TargetCatalog();
    const c: RowChange = { table: { schema: 'err', name: 'keyed' }, keyColumns: ['id'], fullIdentity: false, op: 'insert', columns: ['id', 'newcol'], values: ['9', 'v'] };
    await assert.rejects(applyBatch(client, catalog, [c]), (e: unknown) => e instanceof TargetSchemaError && /newcol/.test(e.message));
    await client.query(`ALTER TABLE err.keyed ADD COLUMN newcol text`);
    await assert.rejects(applyBatch(client, catalog, [c]), TargetSchemaError, 'still cached');
    catalog.invalidate({ schema: 'err', name: 'keyed' });
    await applyBatch(client, catalog, [c]);
    assert.equal((await client.query(`SELECT newcol FROM err.keyed WHERE id = 9`)).rows[0]?.newcol, 'v');
  });

  it('throughput: 200k updates of a 4-column table in batches of 5,000', async (t) => {
    const N = 200_000;
    const BATCH = 5_000;
    await client.query(`CREATE TABLE public.bench (id int PRIMARY KEY, a int, b text, c timestamptz)`);
    await client.query(`INSERT INTO public.bench SELECT g, g, 'row ' || g, '2024-01-01' FROM generate_series(1, ${N}) g`);
    await client.query('VACUUM ANALYZE public.bench');
    const rnd = mulberry32(1);
    const table = { schema: 'public', name: 'bench' };
    const columns = ['id', 'a', 'b', 'c'];
    const changes: RowChange[] = [];
    for (let i = 0; i < N; i++) {
      const id = randInt(rnd, 1, N);
      changes.push({ table, keyColumns: ['id'], fullIdentity: false, op: 'update', columns, values: [String(id), String(i), `updated ${i}`, '2024-06-01 12:00:00.123456+00'], unchanged: [] });
    }
    const catalog = new TargetCatalog();
    let statements = 0;
    let rows = 0;
    const started = process.hrtime.bigint();
    for (let i = 0; i < N; i += BATCH) {
      const s = await applyBatch(client, catalog, changes.slice(i, i + BATCH));
      statements += s.statements;
      rows += s.rowsUpserted;
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    t.diagnostic(`${N} updates in ${N / BATCH} batches: ${seconds.toFixed(2)} s, ${Math.round(N / seconds)} changes/s (${rows} rows upserted after collapsing, ${statements} statements)`);
    const last = new Map<string, Value>();
    for (const c of changes) if (c.op === 'update') last.set(c.values[0] as string, c.values[2] as Value);
    const check = await client.query<{ n: string }>(`SELECT count(*) AS n FROM public.bench WHERE b LIKE 'updated %'`);
    assert.equal(Number(check.rows[0]?.n), last.size);
    const sample = [...last].slice(0, 1000);
    const got = await client.query<{ id: number; b: string }>(`SELECT id, b FROM public.bench WHERE id = ANY($1::int[])`, [sample.map(([id]) => id)]);
    assert.deepEqual(new Map(got.rows.map((r) => [String(r.id), r.b])), new Map(sample));
  });
});
