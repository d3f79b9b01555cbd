/**
 * The test harness itself: local clusters (tools/local/postgres.ts), the all-types fixture and the database
 * comparison (test/helpers/compare.ts). Proves that an exact copy compares equal, that the comparison fails
 * and names the tables when one side changes, and that a cluster survives kill -9 and starts again.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, chmod, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { type PgClusterHandle, pgBin, startPgCluster } from '../../../tools/local/postgres.ts';
import { assertDatabasesEqual, databaseFingerprint, listUserDatabases, waitFor } from '../../helpers/compare.ts';

const FIXTURES = fileURLToPath(new URL('../../fixtures/', import.meta.url));
const SCHEMA = path.join(FIXTURES, 'all-types.sql');
const DATA = path.join(FIXTURES, 'all-types-data.sql');
const CHANGES = path.join(FIXTURES, 'all-types-changes.sql');
const DB = 'fixture';
/** Fast and still crash-safe for kill -9 (the OS keeps what was written): no synchronous_commit=off here. */
const TEST_SETTINGS = { fsync: 'off', full_page_writes: 'off', shared_buffers: '32MB' };

const EXPECTED_TABLES = [
  'inventory.items',
  'public.all_types',
  'public.categories',
  'public.measurements_2024_01',
  'public.measurements_2024_02',
  'public.no_pk_full',
  'public.no_pk_plain',
  'public.toasty',
  'public.with_generated',
  'public.with_identity',
];

describe('postgres test harness', { timeout: 300_000 }, () => {
  let root = '';
  let a: PgClusterHandle;
  let b: PgClusterHandle;
  /** Every handle ever started, so that `after` stops them all, whatever failed. */
  const handles: PgClusterHandle[] = [];

  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'dcsync-harness-'));
    await chmod(root, 0o755); // the server runs as `postgres` and must reach its dir below this one
    const started = await Promise.allSettled(
      ['a', 'b'].map((n) => startPgCluster({ dir: path.join(root, n), name: `harness-${n}`, settings: TEST_SETTINGS })),
    );
    for (const s of started) if (s.status === 'fulfilled') handles.push(s.value);
    for (const s of started) if (s.status === 'rejected') throw s.reason;
    [a, b] = handles as [PgClusterHandle, PgClusterHandle];
    await Promise.all([a, b].map((c) => query(c.url(), `CREATE DATABASE ${DB}`)));
  });

  after(async () => {
    for (const h of handles) {
      await h.stop().catch(() => h.kill9());
    }
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('loads the fixture (twice) and pg_dump | psql copies it exactly', async () => {
    for (let round = 0; round < 2; round++) {
      await psqlFile(a, DB, SCHEMA);
      await psqlFile(a, DB, DATA);
    }
    // dcsync's own schema is never compared.
    await query(a.url(DB), 'CREATE SCHEMA dcsync; CREATE TABLE dcsync.state (k text PRIMARY KEY); INSERT INTO dcsync.state VALUES (1)');
    await dumpInto(a, b, DB);

    const [fa, fb] = await Promise.all([databaseFingerprint(a.url(DB)), databaseFingerprint(b.url(DB))]);
    assert.deepEqual([...fa.keys()].sort(), EXPECTED_TABLES);
    assert.deepEqual(fb, fa);
    for (const [table, f] of fa) assert.ok(f.rows > 0, `${table} has rows`);
    assert.equal(fa.get('public.toasty')?.rows, 7);
    await assertDatabasesEqual(a.url(DB), b.url(DB));
    assert.deepEqual(await listUserDatabases(a.url()), [DB, 'postgres']);

    // Values whose text must survive byte for byte.
    const sql = `SELECT c_json::text AS json, c_numeric::text AS num FROM all_types WHERE id IN (1, 6) ORDER BY id`;
    assert.deepEqual(await query(b.url(DB), sql), await query(a.url(DB), sql));
    const [json] = await query(b.url(DB), `SELECT c_json::text AS t FROM all_types WHERE id = 6`);
    assert.match(String(json?.t), /^\{"b":1, {3}"a":2, "a" : 3,\n {3}"nested" : /);
  });

  it('fingerprints do not depend on the session defaults of the database or role', async () => {
    const initial = await databaseFingerprint(b.url(DB));
    await query(
      b.url(),
      `ALTER DATABASE ${DB} SET TimeZone = 'Asia/Kolkata';
       ALTER DATABASE ${DB} SET DateStyle = 'SQL, DMY';
       ALTER DATABASE ${DB} SET IntervalStyle = 'iso_8601';
       ALTER DATABASE ${DB} SET extra_float_digits = 0;
       ALTER DATABASE ${DB} SET bytea_output = 'escape';
       ALTER DATABASE ${DB} SET lc_monetary = 'C.utf8'`,
    );
    // The defaults do change the raw text…
    const raw = `SELECT md5(string_agg(t::text, E'\\n' ORDER BY t::text COLLATE "C")) AS m FROM all_types t`;
    assert.notDeepEqual(await query(b.url(DB), raw), await query(a.url(DB), raw));
    // …but not the fingerprint.
    assert.deepEqual(await databaseFingerprint(b.url(DB)), initial);
    await assertDatabasesEqual(a.url(DB), b.url(DB));
  });

  it('notices differences that only show in the text: -0 vs 0, numeric scale, array bounds', async () => {
    for (const [set, undo] of [
      [`c_double = '0'`, `c_double = '-0'`],
      [`c_numeric = '-Infinity'`, `c_numeric = '-Infinity'`], // no change: must stay equal
      [`c_int_array = '[0:1]={-2147483648,2147483647}'`, `c_int_array = '{-2147483648,2147483647}'`],
    ] as const) {
      await query(b.url(DB), `UPDATE all_types SET ${set} WHERE id = 4`);
      if (set === undo) await assertDatabasesEqual(a.url(DB), b.url(DB));
      else await assert.rejects(assertDatabasesEqual(a.url(DB), b.url(DB)), /public\.all_types: source \d+ rows, target \d+ rows/);
      await query(b.url(DB), `UPDATE all_types SET ${undo} WHERE id = 4`);
    }
    await query(b.url(DB), `UPDATE toasty SET small = 1 WHERE id = 4`);
    await assert.rejects(assertDatabasesEqual(a.url(DB), b.url(DB)), (err: unknown) => {
      assert.ok(err instanceof assert.AssertionError);
      assert.match(err.message, /databases differ in 1 table\(s\)/);
      assert.match(err.message, /public\.toasty: source 7 rows, target 7 rows \(contents differ\)/);
      assert.match(err.message, /only in source \(1\):\n\s+"\(4,4,short,/);
      assert.match(err.message, /only in target \(1\):\n\s+"\(4,1,short,/);
      return true;
    });
    await query(b.url(DB), `UPDATE toasty SET small = 4 WHERE id = 4`);
    await assertDatabasesEqual(a.url(DB), b.url(DB));
  });

  it('the changes fixture is idempotent and assertDatabasesEqual names every changed table', async () => {
    await psqlFile(a, DB, CHANGES);
    const once = await databaseFingerprint(a.url(DB));
    await psqlFile(a, DB, CHANGES);
    assert.deepEqual(await databaseFingerprint(a.url(DB)), once);

    // The TOASTed values that no statement touched are intact (row 2 moved to 200 with them).
    const toast = await query(
      a.url(DB),
      `SELECT id, small, length(body) AS body, length(blob) AS blob FROM toasty WHERE id IN (1, 200) ORDER BY id`,
    );
    assert.deepEqual(toast, [
      { id: 1, small: 12, body: 200_024, blob: 300_000 },
      { id: 200, small: 20, body: 200_024, blob: 300_000 },
    ]);

    const err = await assertDatabasesEqual(a.url(DB), b.url(DB)).then(
      () => assert.fail('databases must differ after the changes'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof assert.AssertionError, String(err));
    for (const table of EXPECTED_TABLES) {
      assert.match(err.message, new RegExp(`${table.replace('.', '\\.')}: source \\d+ rows, target \\d+ rows`), table);
    }
    assert.match(err.message, /public\.categories: source 4 rows, target 4 rows[^\n]*\n\s+only in source \(1\):\n\s+"\(5,\\"new category\\"\)"/);
    assert.match(err.message, /only in target \(1\):\n\s+"\(4,\\"to be deleted\\"\)"/);
    assert.match(err.message, /public\.no_pk_plain: source 6 rows, target 4 rows/);
  });

  it('survives kill -9: a start on the same dir recovers with the same port and password', async () => {
    const fingerprint = await databaseFingerprint(a.url(DB));
    const pid = a.pid();
    assert.ok(pid !== undefined);
    await a.kill9();
    assert.equal(a.pid(), undefined);
    await assert.rejects(query(a.url(), 'SELECT 1'));

    const again = await startPgCluster({ dir: a.dir, name: a.name, settings: TEST_SETTINGS });
    handles.push(again);
    assert.equal(again.port, a.port);
    assert.equal(again.password, a.password);
    assert.notEqual(again.pid(), pid);
    assert.deepEqual(await databaseFingerprint(again.url(DB)), fingerprint);

    await again.restart();
    await waitFor(async () => (await query(again.url(), 'SELECT 1 AS one'))[0]?.one === 1, { timeoutMs: 10_000, what: 'restarted cluster' });

    // A reused dir asked for another password takes it (and the URL encodes it).
    await again.stop();
    assert.equal(again.pid(), undefined);
    const renamed = await startPgCluster({ dir: a.dir, name: a.name, settings: TEST_SETTINGS, password: 'n3w pass/word?@:' });
    handles.push(renamed);
    assert.deepEqual(await query(renamed.url(DB), 'SELECT count(*)::int AS n FROM categories'), [{ n: 4 }]);
    await assert.rejects(query(a.url(), 'SELECT 1'), /password authentication failed/);
  });
});

// ---------------------------------------------------------------------------------------------------------------

async function query(url: string, sql: string): Promise<Record<string, unknown>[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const res = await client.query(sql);
    const last = Array.isArray(res) ? res[res.length - 1] : res;
    return (last?.rows ?? []) as Record<string, unknown>[];
  } finally {
    await client.end();
  }
}

/** The environment for a client program: ours without any PG* variable, plus the cluster's. */
function clientEnv(c: PgClusterHandle): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PG')));
  return { ...env, ...c.pgEnv() };
}

interface Exit {
  code: number | null;
  stderr: string;
}

function exited(child: ReturnType<typeof spawn>): Promise<Exit> {
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

async function psqlFile(c: PgClusterHandle, db: string, file: string): Promise<void> {
  const child = spawn(pgBin('psql'), ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', db, '-f', file], {
    env: clientEnv(c),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const { code, stderr } = await exited(child);
  assert.equal(code, 0, `psql -f ${path.basename(file)} failed:\n${stderr}`);
  assert.equal(stderr.trim(), '', `psql -f ${path.basename(file)} wrote to stderr`);
}

/** pg_dump of `db` on `from` piped into psql on `to` (passwords only in the environment). */
async function dumpInto(from: PgClusterHandle, to: PgClusterHandle, db: string): Promise<void> {
  const dump = spawn(pgBin('pg_dump'), ['--no-password', '-d', db], { env: clientEnv(from), stdio: ['ignore', 'pipe', 'pipe'] });
  const load = spawn(pgBin('psql'), ['-X', '-q', '--no-password', '-v', 'ON_ERROR_STOP=1', '-d', db], {
    env: clientEnv(to),
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  dump.stdout?.pipe(load.stdin!);
  const [d, l] = await Promise.all([exited(dump), exited(load)]);
  assert.equal(d.code, 0, `pg_dump failed:\n${d.stderr}`);
  assert.equal(l.code, 0, `psql (restore) failed:\n${l.stderr}`);
}
