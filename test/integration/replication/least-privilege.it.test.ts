/**
 * Least privilege (docs/security.md): a full sync — initial copy, then streamed changes, equal at both ends — with a
 * non-superuser source role (REPLICATION, CREATE on the database for dcsync's own schema, USAGE on the schemas,
 * SELECT on tables and sequences) and a non-superuser target role (CREATEDB, SET on session_replication_role).
 * The source task first stops with the exact GRANTs that are missing, then with the exact CREATE PUBLICATION
 * statements a superuser must run (PostgreSQL 15 requires a superuser for FOR ALL TABLES); the test runs exactly
 * what the messages print, as the superuser, and the sync then works with the publications that now exist.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { publicationStatements, type PublicationRow, type SourceTable } from '../../../src/source/catalog.ts';
import type { DaemonHandle } from '../../../tools/local/process.ts';
import { assertDatabasesEqual, waitFor } from '../../helpers/compare.ts';
import { psql } from '../../helpers/psql.ts';
import { startTwoDc, type TwoDc } from '../../helpers/two-dc.ts';

const SYNC = 'lp';
const SOURCE_ROLE = 'dcsync_src';
const SOURCE_PASSWORD = 'src-Pw-1';
const TARGET_ROLE = 'dcsync_tgt';
const TARGET_PASSWORD = 'tgt-Pw-1';

let env: TwoDc;

before(async () => {
  env = await startTwoDc({ prefix: 'dcsync-lp-' });
  await psql(env.pgA, 'postgres', { command: 'CREATE DATABASE app' });
  await psql(env.pgA, 'postgres', { command: `CREATE ROLE ${SOURCE_ROLE} LOGIN REPLICATION PASSWORD '${SOURCE_PASSWORD}'` });
  await psql(env.pgA, 'app', {
    command: `
      CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, balance numeric(12,2) NOT NULL DEFAULT 0);
      CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int NOT NULL REFERENCES customers, note text, created timestamptz NOT NULL DEFAULT now());
      CREATE TABLE audit_log (at timestamptz NOT NULL DEFAULT now(), msg text);  -- no key: inserts only
      CREATE SCHEMA sales;
      CREATE TABLE sales.regions (code text PRIMARY KEY, label text);
      INSERT INTO customers SELECT g, 'customer ' || g, g * 1.5 FROM generate_series(1, 500) g;
      INSERT INTO orders (customer_id, note) SELECT 1 + g % 500, 'order ' || g FROM generate_series(1, 2000) g;
      INSERT INTO audit_log (msg) SELECT 'event ' || g FROM generate_series(1, 100) g;
      INSERT INTO sales.regions VALUES ('eu', 'Europe'), ('us', 'Americas');`,
  });
  await psql(env.pgB, 'postgres', {
    command: `CREATE ROLE ${TARGET_ROLE} LOGIN CREATEDB PASSWORD '${TARGET_PASSWORD}'; GRANT SET ON PARAMETER session_replication_role TO ${TARGET_ROLE}`,
  });
});

after(async () => {
  await env?.stop();
});

function withoutPassword(url: string): string {
  const u = new URL(url);
  u.password = '';
  return u.toString();
}

/** Runs the source task as the source role (password from the environment). */
function startSource(name: string): Promise<DaemonHandle> {
  return env.dcsync(
    name,
    ['run', 'task', 'source', '--cluster.endpoint', withoutPassword(env.pgA.url('postgres', SOURCE_ROLE, SOURCE_PASSWORD)), '--mq.kafka-addr', env.kafkaA.bootstrap, '--sync.id', SYNC, '--databases', 'app', '--heartbeat', '1s'],
    { DCSYNC_CLUSTER_PASSWORD: SOURCE_PASSWORD },
  );
}

/** Waits for the task to fail and returns its error message (from the JSON log line). */
async function failure(name: string): Promise<string> {
  const logFile = path.join(env.dir, `${name}.log`);
  let message = '';
  await waitFor(
    async () => {
      const line = readFileSync(logFile, 'utf8')
        .split('\n')
        .find((l) => l.includes('"task failed"'));
      if (!line) return false;
      message = (JSON.parse(line) as { error?: { message?: string } }).error?.message ?? '';
      return true;
    },
    { timeoutMs: 60_000, intervalMs: 250, what: `${name} to fail` },
  ).catch((err: unknown) => {
    throw new Error(`${(err as Error).message}\n--- ${logFile}:\n${readFileSync(logFile, 'utf8').slice(-3000)}`);
  });
  return message;
}

/** The indented SQL lines of an error message: what the operator is told to run. */
function printedSql(message: string): string[] {
  return message
    .split('\n')
    .filter((l) => l.startsWith('  '))
    .map((l) => l.trim());
}

async function equalSoon(timeoutMs: number): Promise<void> {
  await waitFor(
    async () => {
      await assertDatabasesEqual(env.pgA.url('app'), env.pgB.url('app'));
      return true;
    },
    { timeoutMs, intervalMs: 1_000, what: "database 'app' equal at both ends" },
  );
}

async function one<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(sql)).rows[0]!;
  } finally {
    await c.end();
  }
}

test('publication statements: existing right publications are used as they are; missing or wrong ones are named', () => {
  const t = (schema: string, name: string, noIdentity = false): SourceTable => ({
    table: { schema, name },
    oid: 1,
    columns: [],
    types: [],
    typmods: [],
    identity: noIdentity ? 'n' : 'd',
    identityColumns: [],
    keyColumns: [],
    fullIdentity: false,
    noIdentity,
    otherUniqueness: false,
    pages: 0,
    estimatedRows: 0,
  });
  const tables = [t('public', 'a'), t('public', 'log', true), t('x"y', 'b')];
  const all: PublicationRow = { pubname: 'dcsync_s_all', puballtables: true, pubinsert: true, pubupdate: false, pubdelete: false, pubtruncate: true, tables: [] };
  const ident: PublicationRow = {
    pubname: 'dcsync_s_ident',
    puballtables: false,
    pubinsert: false,
    pubupdate: true,
    pubdelete: true,
    pubtruncate: false,
    tables: [{ schema: 'x"y', name: 'b' }, { schema: 'public', name: 'a' }],
  };
  assert.deepEqual(publicationStatements('dcsync_s', tables, [all, ident]), []);
  assert.deepEqual(publicationStatements('dcsync_s', tables, []), [
    `CREATE PUBLICATION "dcsync_s_all" FOR ALL TABLES WITH (publish = 'insert, truncate');`,
    `CREATE PUBLICATION "dcsync_s_ident" FOR TABLE "public"."a", "x""y"."b" WITH (publish = 'update, delete');`,
  ]);
  // A FOR ALL TABLES publication that also publishes updates would make updates of tables without identity fail.
  assert.deepEqual(publicationStatements('dcsync_s', tables, [{ ...all, pubupdate: true }, ident]), [`ALTER PUBLICATION "dcsync_s_all" SET (publish = 'insert, truncate');`]);
  assert.deepEqual(publicationStatements('dcsync_s', [...tables, t('public', 'new')], [all, ident]), [
    `ALTER PUBLICATION "dcsync_s_ident" SET TABLE "public"."a", "x""y"."b", "public"."new";`,
  ]);
});

test('non-superuser roles at both ends: told exactly what to grant, then snapshot and streamed changes arrive equal', async (t) => {
  const roles = await one<{ n: string }>(env.pgA.url('postgres'), `SELECT count(*) AS n FROM pg_roles WHERE rolname = '${SOURCE_ROLE}' AND NOT rolsuper AND rolreplication`);
  assert.equal(roles.n, '1');

  // 1. Only REPLICATION: the task stops and prints the GRANTs it needs (no side effects before that).
  const first = await startSource('source-1');
  const grantsMsg = await failure('source-1');
  await first.stop(10_000);
  t.diagnostic(grantsMsg);
  const grants = printedSql(grantsMsg);
  assert.deepEqual(grants, [
    `GRANT CREATE ON DATABASE "app" TO "${SOURCE_ROLE}";`,
    `GRANT USAGE ON SCHEMA "sales" TO "${SOURCE_ROLE}";`,
    `GRANT SELECT ON ALL TABLES IN SCHEMA "public" TO "${SOURCE_ROLE}";`,
    `GRANT SELECT ON ALL TABLES IN SCHEMA "sales" TO "${SOURCE_ROLE}";`,
    `GRANT SELECT ON ALL SEQUENCES IN SCHEMA "public" TO "${SOURCE_ROLE}";`,
  ]);
  await psql(env.pgA, 'app', { command: grants.join('\n') });

  // 2. The publications: FOR ALL TABLES needs a superuser, so the task prints both CREATE PUBLICATION statements.
  const second = await startSource('source-2');
  const pubMsg = await failure('source-2');
  await second.stop(10_000);
  t.diagnostic(pubMsg);
  const pubs = printedSql(pubMsg);
  assert.deepEqual(pubs, [
    `CREATE PUBLICATION "dcsync_${SYNC}_all" FOR ALL TABLES WITH (publish = 'insert, truncate');`,
    `CREATE PUBLICATION "dcsync_${SYNC}_ident" FOR TABLE "public"."customers", "public"."orders", "sales"."regions" WITH (publish = 'update, delete');`,
  ]);
  assert.match(pubMsg, /connected to database 'app'/);
  await psql(env.pgA, 'app', { command: pubs.join('\n') });

  // 3. Now the sync runs as the two non-superusers.
  await startSource('source');
  await env.dcsync('destination', [
    'run',
    'task',
    'destination',
    '--cluster.endpoint',
    withoutPassword(env.pgB.url('postgres', TARGET_ROLE, TARGET_PASSWORD)),
    '--mq.kafka-addr',
    env.kafkaB.bootstrap,
    '--sync.id',
    SYNC,
  ], { DCSYNC_CLUSTER_PASSWORD: TARGET_PASSWORD });
  const started = Date.now();
  await equalSoon(180_000);
  t.diagnostic(`initial copy equal after ${Date.now() - started} ms`);

  await psql(env.pgA, 'app', {
    command: `
      UPDATE customers SET balance = balance + 10 WHERE id % 7 = 0;
      DELETE FROM orders WHERE id % 11 = 0;
      INSERT INTO orders (customer_id, note) SELECT 1 + g % 500, 'late order ' || g FROM generate_series(1, 300) g;
      INSERT INTO audit_log (msg) VALUES ('after the snapshot');
      UPDATE sales.regions SET label = 'Europe and Africa' WHERE code = 'eu';
      INSERT INTO sales.regions VALUES ('ap', 'Asia-Pacific');`,
  });
  const changed = Date.now();
  await equalSoon(120_000);
  t.diagnostic(`streamed changes equal after ${Date.now() - changed} ms`);

  // The target database was created by, and belongs to, the target role; neither role became a superuser.
  const owner = await one<{ owner: string }>(env.pgB.url('postgres'), `SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = 'app'`);
  assert.equal(owner.owner, TARGET_ROLE);
  const supers = await one<{ n: string }>(env.pgA.url('postgres'), `SELECT count(*) AS n FROM pg_roles WHERE rolname = '${SOURCE_ROLE}' AND rolsuper`);
  assert.equal(supers.n, '0');
  // The slot belongs to the sync and the source role's connections are the ones streaming.
  const slot = await one<{ n: string }>(env.pgA.url('postgres'), `SELECT count(*) AS n FROM pg_stat_replication WHERE usename = '${SOURCE_ROLE}'`);
  assert.equal(slot.n, '1');
});
