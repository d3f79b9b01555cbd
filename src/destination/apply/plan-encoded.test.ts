import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type GenTable, mulberry32, randInt, type Rng, SourceSim } from '../../../test/helpers/random-changes.ts';
import { lsn } from '../../core/lsn.ts';
import { type EncodedChange, type RowChange, type TableId, type Value } from '../../model/change.ts';
import { encodeChangeBatch, readChangeBatch } from '../../transport/record-format/index.ts';
import type { ChangeStreamRecord } from '../../transport/record-format/index.ts';
import { type ApplyStep, planChanges } from './collapse.ts';
import { planEncodedChanges } from './plan-encoded.ts';
import { CopyTextBuilder, readCopyText } from './copy-text.ts';
import { readBinaryTextArray, TextArrayBuilder } from './text-array.ts';

/** The changes as the destination reads them from Kafka: encoded in records of random sizes, rows left encoded. */
function encoded(changes: readonly RowChange[], rnd: Rng = () => 0.99): EncodedChange[] {
  const out: EncodedChange[] = [];
  for (let i = 0; i < changes.length; ) {
    const part = changes.slice(i, (i += randInt(rnd, 1, changes.length)));
    const entries: ChangeStreamRecord[] = part.map((change, j) => ({ kind: 'change', pos: { lsn: lsn(BigInt(i + j + 1)), index: 0 }, xid: 7, commitTimeUs: 1n, endOfTx: true, change }));
    const rec = encodeChangeBatch('db', entries);
    for (const e of readChangeBatch(rec.headers, rec.value)) if (e.kind === 'change') out.push(e.change as EncodedChange);
  }
  return out;
}

/** Steps with binary text[] columns and COPY text read back into text forms, to compare with planChanges'. */
function readable(steps: readonly ApplyStep[]): unknown[] {
  return steps.map((s) => {
    if (s.kind === 'copy-rows') {
      const rows = readCopyText(s.rows);
      assert.equal(rows.length, s.count);
      return { kind: 'insert-rows', table: s.table, columns: s.columns, data: s.columns.map((_, i) => rows.map((r) => r[i] ?? null)), count: s.count };
    }
    return 'data' in s ? { ...s, data: s.data.map((col) => (Buffer.isBuffer(col) ? readBinaryTextArray(col) : [...col])) } : s;
  });
}

/** What planEncodedChanges must take: inserts, updates keeping their key with all values, keyed deletes, FULL inserts. */
function plain(c: RowChange): boolean {
  if (c.fullIdentity) return c.op === 'insert';
  if (c.op === 'update') return c.unchanged.length === 0 && c.oldKey === undefined;
  return true;
}

const T: TableId = { schema: 'public', name: 'accounts' };
const H: TableId = { schema: 'public', name: 'history' };
const acct = { table: T, keyColumns: ['aid'], fullIdentity: false } as const;
const hist = { table: H, keyColumns: ['tid', 'delta'], fullIdentity: true } as const;
const put = (op: 'insert' | 'update', aid: string, bal: Value): RowChange =>
  op === 'insert' ? { ...acct, op, columns: ['bid', 'aid', 'bal'], values: ['1', aid, bal] } : { ...acct, op, columns: ['bid', 'aid', 'bal'], values: ['1', aid, bal], unchanged: [] };

describe('planEncodedChanges', () => {
  it('collapses keyed rows by their bytes and sends each column as a binary text[]', () => {
    const changes: RowChange[] = [
      put('insert', '1', 'ä'),
      put('update', '2', null),
      { ...acct, op: 'delete', oldKey: ['1'] },
      put('update', '1', '10'),
      { ...hist, op: 'insert', columns: ['tid', 'delta'], values: ['5', '-1'] },
      put('update', '2', '😀'),
      { ...acct, op: 'delete', oldKey: ['3'] },
      { ...hist, op: 'insert', columns: ['tid', 'delta'], values: ['5', '-1'] },
    ];
    const steps = planEncodedChanges(encoded(changes));
    assert.ok(steps);
    assert.deepEqual(readable(steps), readable(planChanges(changes)));
    assert.deepEqual(readable(steps), [
      { kind: 'delete-keys', table: T, keyColumns: ['aid'], data: [['1', '3']], count: 2 },
      { kind: 'upsert-keys', table: T, keyColumns: ['aid'], otherColumns: ['bid', 'bal'], data: [['1', '2'], ['1', '1'], ['10', '😀']], count: 2 },
      { kind: 'insert-rows', table: H, columns: ['tid', 'delta'], data: [['5', '5'], ['-1', '-1']], count: 2 },
    ]);
  });

  it('leaves to planChanges what needs decoding: unchanged TOAST, an old row, updates and deletes without a key, decoded changes', () => {
    const upd = (extra: object): RowChange => ({ ...(put('update', '1', 'x') as object), ...extra }) as RowChange;
    for (const c of [
      upd({ unchanged: [2], values: ['1', '1', null] }),
      upd({ oldKey: ['0'] }),
      upd({ oldKey: ['1'] }),
      { ...hist, op: 'delete', oldKey: ['5', '-1'] } as RowChange,
      { ...hist, op: 'update', columns: ['tid', 'delta'], values: ['5', '0'], unchanged: [], oldKey: ['5', '-1'] } as RowChange,
    ]) {
      assert.equal(planEncodedChanges(encoded([put('insert', '9', '0'), c])), undefined, JSON.stringify(c));
    }
    assert.equal(planEncodedChanges([...encoded([put('insert', '9', '0')]), put('insert', '8', '0')]), undefined);
  });

  it('plans exactly what planChanges plans, for every batch it takes (random changes, records and step sizes)', () => {
    const small = (r: Rng, n: number): string => String(randInt(r, 0, n));
    const maybeNull = (r: Rng, v: string): Value => (r() < 0.1 ? null : v);
    const specs: GenTable[] = [
      { table: { schema: 's', name: 'one' }, key: ['id'], columns: [{ name: 'v', gen: (r) => maybeNull(r, 'v' + small(r, 9) + 'é') }, { name: 'id', gen: (r) => small(r, 20) }] },
      { table: { schema: 's', name: 'two' }, key: ['k2', 'k1'], columns: [{ name: 'k1', gen: (r) => 'k' + small(r, 3) }, { name: 'k2', gen: (r) => small(r, 3) }, { name: 'big', gen: (r) => 'B' + small(r, 99), toast: true }] },
      { table: { schema: 's', name: 'full' }, key: [], columns: [{ name: 'x', gen: (r) => maybeNull(r, small(r, 3)) }, { name: 'y', gen: (r) => ['a\\b', 'tab\there', 'nl\nx\r', '\\N', '.', ''][randInt(r, 0, 5)]! }] },
    ];
    let taken = 0;
    let left = 0;
    for (let seed = 1; seed <= 200; seed++) {
      const rnd = mulberry32(seed);
      const sim = new SourceSim(rnd, specs);
      sim.seed(5);
      for (let b = 0; b < 20; b++) {
        const batch = Array.from({ length: randInt(rnd, 1, 12) }, () => sim.next());
        const maxRowsPerStep = rnd() < 0.3 ? randInt(rnd, 1, 3) : undefined;
        const steps = planEncodedChanges(encoded(batch, rnd), { maxRowsPerStep });
        assert.equal(steps !== undefined, batch.every(plain), `seed ${seed} batch ${b}: taken ${steps !== undefined}`);
        if (!steps) {
          left++;
          continue;
        }
        taken++;
        assert.deepEqual(readable(steps), readable(planChanges(batch, { maxRowsPerStep })), `seed ${seed} batch ${b}`);
      }
    }
    assert.ok(taken > 500 && left > 500, `taken ${taken}, left ${left}`);
  });
});

describe('CopyTextBuilder', () => {
  it('writes rows in COPY text format: escapes, NULL, empty string', () => {
    const vals = ['plain', 'tab\there', 'new\nline', 'cr\rx', 'back\\slash', '\\N', '', '.', 'ünï😀'];
    const src = Buffer.from(vals.join(''));
    const b = new CopyTextBuilder(8);
    let at = 0;
    for (const v of vals) {
      const n = Buffer.byteLength(v);
      b.value(src, at, at + n);
      at += n;
      b.value(src, -1, -1);
      b.endRow();
    }
    assert.equal(b.rows, vals.length);
    const text = b.finish();
    assert.deepEqual(readCopyText(text), vals.map((v) => [v, null]));
    assert.equal(text.toString().split('\n')[1], 'tab\\there\t\\N');
  });
});

describe('TextArrayBuilder', () => {
  it('writes a one-dimensional text[] in binary format, NULLs flagged, growing as needed', () => {
    const src = Buffer.from('abc-ünï-');
    const b = new TextArrayBuilder(64);
    const want: (string | null)[] = [];
    for (let i = 0; i < 100; i++) {
      if (i % 7 === 3) {
        b.add(src, -1, -1);
        want.push(null);
      } else {
        b.add(src, 0, src.length);
        want.push('abc-ünï-');
      }
    }
    b.add(src, 2, 2);
    want.push('');
    const arr = b.finish();
    assert.deepEqual(readBinaryTextArray(arr), want);
    assert.deepEqual([arr.readInt32BE(0), arr.readInt32BE(4), arr.readUInt32BE(8), arr.readInt32BE(12), arr.readInt32BE(16)], [1, 1, 25, 101, 1]);
    const noNull = new TextArrayBuilder();
    noNull.add(src, 0, 1);
    assert.equal(noNull.finish().readInt32BE(4), 0);
  });
});
