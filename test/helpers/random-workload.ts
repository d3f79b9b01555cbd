/**
 * A seeded random SQL workload for end-to-end property tests: several sessions run random transactions of
 * random DML on tables of every replica-identity shape dcsync handles, with the habits of real applications that
 * are hard for a replicator (key updates, unchanged TOAST values, big transactions, sessions idle in a
 * transaction, rollbacks, TRUNCATE inside a transaction). What the database refuses (a unique violation of a
 * racing key update, a deadlock) is rolled back and the session goes on, as an application would.
 */
import pg from 'pg';
import { pick, randInt, type Rng } from './random-changes.ts';

/** The tables of the workload, one per shape; `expectFailure` is the one whose updates dcsync cannot replicate. */
export const WORKLOAD_SCHEMA = `
  CREATE TABLE k1 (id int PRIMARY KEY, v int NOT NULL, t text);
  CREATE TABLE comp (a int, b text, v int, PRIMARY KEY (a, b));
  CREATE TABLE uix (id int PRIMARY KEY, code text NOT NULL, v int);
  CREATE UNIQUE INDEX uix_code ON uix (code);
  ALTER TABLE uix REPLICA IDENTITY USING INDEX uix_code;
  CREATE TABLE full_nokey (a int, b text);
  ALTER TABLE full_nokey REPLICA IDENTITY FULL;
  CREATE TABLE big (id int PRIMARY KEY, v int NOT NULL);
  CREATE TABLE ins_only (a int, b text);
  INSERT INTO k1 SELECT g, 0, CASE WHEN g % 10 = 0 THEN (SELECT string_agg(md5(i::text || g), '') FROM generate_series(1, 700) i) ELSE 'r' || g END FROM generate_series(1, 300) g;
  INSERT INTO comp SELECT g % 50, 'b' || (g / 50), g FROM generate_series(1, 200) g;
  INSERT INTO uix SELECT g, 'c' || g, 0 FROM generate_series(1, 200) g;
  INSERT INTO full_nokey SELECT g % 40, 'f' || g FROM generate_series(1, 100) g;
  INSERT INTO ins_only SELECT g, 'i' || g FROM generate_series(1, 20) g;`;

/** Tables whose contents must be equal at the end, and the one table that must be reported failed. */
export const REPLICABLE_TABLES = ['k1', 'comp', 'uix', 'full_nokey', 'big'] as const;
export const UNREPLICABLE_TABLE = 'ins_only';

const TOAST_VALUE = (seed: number): string => `(SELECT string_agg(md5(i::text || '${seed}'), '') FROM generate_series(1, 700) i)`;

/** One random statement; every one is valid SQL, some may still fail on a race with another session. */
function randomStatement(rnd: Rng): string {
  const id = randInt(rnd, 1, 400);
  const other = randInt(rnd, 1, 400);
  const roll = rnd();
  const choices: (() => string)[] = [
    () => `INSERT INTO k1 VALUES (${id}, 0, ${roll < 0.1 ? TOAST_VALUE(id) : `'n${id}'`}) ON CONFLICT (id) DO NOTHING`,
    () => `UPDATE k1 SET v = v + 1 WHERE id = ${id}`, // leaves the TOAST column untouched
    () => `UPDATE k1 SET t = ${roll < 0.3 ? TOAST_VALUE(other) : `'u${other}'`} WHERE id = ${id}`,
    () => `UPDATE k1 SET id = ${other} WHERE id = ${id} AND NOT EXISTS (SELECT 1 FROM k1 WHERE id = ${other})`,
    () => `DELETE FROM k1 WHERE id = ${id}`,
    () => `INSERT INTO comp VALUES (${id % 60}, 'b${other % 6}', ${id}) ON CONFLICT DO NOTHING`,
    () => `UPDATE comp SET v = v + 1 WHERE a = ${id % 60}`,
    () => `UPDATE comp SET b = 'm${other % 9}' WHERE a = ${id % 60} AND b = 'b${other % 6}' AND NOT EXISTS (SELECT 1 FROM comp WHERE a = ${id % 60} AND b = 'm${other % 9}')`,
    () => `DELETE FROM comp WHERE a = ${id % 60} AND b = 'b${other % 6}'`,
    () => `INSERT INTO uix VALUES (${id}, 'c${other}x${id}', 0) ON CONFLICT DO NOTHING`,
    () => `UPDATE uix SET v = v + 1 WHERE id = ${id}`,
    () => `UPDATE uix SET code = 'm${other}x${id}' WHERE id = ${id} AND NOT EXISTS (SELECT 1 FROM uix WHERE code = 'm${other}x${id}')`,
    () => `UPDATE uix SET id = ${other + 1000} WHERE id = ${id} AND NOT EXISTS (SELECT 1 FROM uix WHERE id = ${other + 1000})`,
    () => `DELETE FROM uix WHERE id = ${id}`,
    () => `INSERT INTO full_nokey VALUES (${id % 40}, 'f${other}')`,
    () => `UPDATE full_nokey SET b = b || '.' WHERE a = ${id % 40}`,
    () => `DELETE FROM full_nokey WHERE a = ${id % 40} AND b LIKE 'f${other % 10}%'`,
    () => `INSERT INTO ins_only VALUES (${id}, 'i${other}')`,
  ];
  return pick(rnd, choices)();
}

/** Rare statements that touch many rows at once. */
function bigStatement(rnd: Rng): string {
  const base = randInt(rnd, 0, 9) * 5_000;
  return pick(rnd, [
    `INSERT INTO big SELECT g, 0 FROM generate_series(${base + 1}, ${base + 5_000}) g ON CONFLICT (id) DO UPDATE SET v = big.v + 1`,
    `UPDATE big SET v = v + 1 WHERE id % 3 = ${randInt(rnd, 0, 2)}`,
    `DELETE FROM big WHERE id BETWEEN ${base + 1} AND ${base + 2_500}`,
    `UPDATE k1 SET v = v + 1`,
    `TRUNCATE comp`,
  ]);
}

export interface WorkloadStats {
  committed: number;
  rolledBack: number;
  refused: number;
}

export interface WorkloadOptions {
  url: string;
  sessions: number;
  rnd: Rng;
  signal: AbortSignal;
  /** When set, one transaction updates this keyless table without identity, which dcsync must stop loudly on. */
  updateUnreplicableAfterMs?: number;
}

/** Runs the sessions until the signal aborts; resolves with what happened. */
export async function runRandomWorkload(o: WorkloadOptions): Promise<WorkloadStats> {
  const stats: WorkloadStats = { committed: 0, rolledBack: 0, refused: 0 };
  const started = Date.now();
  let unreplicableUpdated = o.updateUnreplicableAfterMs === undefined;
  const session = async (n: number): Promise<void> => {
    const client = new pg.Client({ connectionString: o.url, application_name: `random-workload-${n}` });
    client.on('error', () => {});
    await client.connect();
    try {
      while (!o.signal.aborted) {
        const statements: string[] = [];
        const length = randInt(o.rnd, 1, 12);
        for (let i = 0; i < length; i++) statements.push(o.rnd() < 0.01 ? bigStatement(o.rnd) : randomStatement(o.rnd));
        if (!unreplicableUpdated && Date.now() - started > o.updateUnreplicableAfterMs!) {
          unreplicableUpdated = true;
          statements.push(`UPDATE ${UNREPLICABLE_TABLE} SET b = b || '!' WHERE a = 1`);
        }
        await runTransaction(client, statements, o.rnd, stats);
      }
    } finally {
      await client.end().catch(() => {});
    }
  };
  await Promise.all(Array.from({ length: o.sessions }, (_, n) => session(n)));
  return stats;
}

async function runTransaction(client: pg.Client, statements: readonly string[], rnd: Rng, stats: WorkloadStats): Promise<void> {
  try {
    await client.query('BEGIN');
    for (const [i, sql] of statements.entries()) {
      await client.query(sql);
      // Now and then the application leaves its transaction idle, holding its changes back from the stream.
      if (i === 0 && rnd() < 0.05) await new Promise((r) => setTimeout(r, randInt(rnd, 200, 1_500)));
    }
    if (rnd() < 0.1) {
      await client.query('ROLLBACK');
      stats.rolledBack++;
    } else {
      await client.query('COMMIT');
      stats.committed++;
    }
  } catch {
    stats.refused++;
    await client.query('ROLLBACK').catch(() => {});
  }
}
