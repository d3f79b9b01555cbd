/**
 * ReplicationStream against a real PostgreSQL 15, plain and over TLS: it reads the socket itself during copy-both
 * (CopyFramer) and hands everything else to node-postgres. Every change arrives once and whole (rows of several MB
 * span many socket reads), keepalives that ask for a reply get one, and a walsender terminated by the server fails
 * the stream with a retriable error (its ErrorResponse goes through node-postgres's parser).
 *
 *   node --import tsx --test test/integration/postgres/replication-stream.it.test.ts
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { isRetriable } from '../../../src/core/errors.ts';
import { silentLogger } from '../../../src/core/logger.ts';
import { formatLsn, parseLsn, type Lsn } from '../../../src/core/lsn.ts';
import { type PgClusterHandle, startPgCluster } from '../../../tools/local/postgres.ts';
import { connect } from '../../../src/postgres/connection.ts';
import { PgOutputDecoder } from '../../../src/postgres/protocol/index.ts';
import { ReplicationStream } from '../../../src/source/replication-stream.ts';
import { formatKeyfile } from '../../../src/tls/keyfile.ts';
import { issueServerKeyfile } from '../../../src/tls/issue.ts';
import { createTestCa } from '../../helpers/tls-fixtures.ts';

let dir = '';
let cluster: PgClusterHandle;
let caFile = '';

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'dcsync-stream-'));
  chmodSync(dir, 0o755);
  const ca = await createTestCa('tls');
  caFile = path.join(dir, 'ca.crt');
  writeFileSync(caFile, ca.certPem);
  const keyfile = path.join(dir, 'server.keyfile');
  writeFileSync(keyfile, formatKeyfile(await issueServerKeyfile(ca.signer, { hosts: ['127.0.0.1'] })), { mode: 0o600 });
  cluster = await startPgCluster({ dir: path.join(dir, 'pg'), name: 'stream', settings: { fsync: 'off', wal_sender_timeout: '2s' }, ssl: { certFile: keyfile, keyFile: keyfile } });
  const c = new pg.Client({ connectionString: cluster.url('postgres') });
  await c.connect();
  await c.query(`CREATE TABLE t (id int PRIMARY KEY, v text); ALTER TABLE t ALTER COLUMN v SET STORAGE EXTERNAL; CREATE PUBLICATION pub FOR ALL TABLES`);
  await c.end();
});

after(async () => {
  await cluster?.stop().catch(() => {});
  if (!process.env['DCSYNC_KEEP_TEST_DIR']) rmSync(dir, { recursive: true, force: true });
});

interface Received {
  inserts: Map<number, number>;
  keepalives: number;
  /** The end of the last transaction received, which the stream's status confirms. */
  committed?: Lsn;
}

async function openStream(url: string, slot: string, got: Received): Promise<ReplicationStream> {
  const repl = await connect({ url, replication: true });
  const r = await repl.query<{ consistent_point: string }>(`CREATE_REPLICATION_SLOT ${slot} LOGICAL pgoutput`);
  const decoder = new PgOutputDecoder();
  const startLsn = parseLsn(r.rows[0]!.consistent_point);
  const stream = new ReplicationStream(repl, silentLogger);
  const confirm = (l: Lsn): void => {
    stream.received(l);
    stream.acknowledge(l);
  };
  confirm(startLsn);
  stream.start(
    { slot, startLsn, publications: ['pub'], statusIntervalMs: 60_000 },
    {
      message({ data, walEnd }) {
        const m = decoder.decode(data);
        if (m.tag === 'insert') {
          const [id, v] = m.newTuple.map((c) => (c.kind === 'text' ? c.value : null));
          got.inserts.set(Number(id), (got.inserts.get(Number(id)) ?? 0) + 1);
          assert.equal(v, valueOf(Number(id)), `row ${id} arrives whole`);
        }
        if (m.tag === 'commit') confirm((got.committed = walEnd));
      },
      keepalive() {
        got.keepalives++;
      },
    },
  );
  return stream;
}

/** Small rows, and every 50th a row of ~3 MB (many socket reads, a frame cut at every boundary). */
const valueOf = (id: number): string => (id % 50 === 0 ? `big${id}:` + 'xyz0123456789'.repeat(250_000) : `v${id}-ünï`);

async function insertRows(from: number, to: number): Promise<void> {
  const c = new pg.Client({ connectionString: cluster.url('postgres') });
  await c.connect();
  for (let id = from; id < to; id += 25) {
    const ids = Array.from({ length: Math.min(25, to - id) }, (_, i) => id + i);
    await c.query(`INSERT INTO t SELECT i, v FROM unnest($1::int[], $2::text[]) AS u(i, v)`, [ids, ids.map(valueOf)]);
  }
  await c.end();
}

async function drain(stream: ReplicationStream, until: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!until()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for the stream');
    await stream.waitForFrames(200);
  }
}

describe('ReplicationStream on a real walsender', () => {
  for (const [name, query, base] of [['plain', '', 0], ['TLS', `?sslmode=verify-full&sslrootcert=${encodeURIComponent('CA')}`, 10_000]] as const) {
    it(`${name}: every row once and whole, keepalives answered`, async () => {
      const url = cluster.url('postgres') + query.replace('CA', caFile);
      const got: Received = { inserts: new Map(), keepalives: 0 };
      const slot = `s_${name.toLowerCase()}`;
      const stream = await openStream(url, slot, got);
      await insertRows(base + 1, base + 1001);
      await drain(stream, () => got.inserts.size === 1000);
      assert.ok([...got.inserts.values()].every((n) => n === 1), 'no row twice');
      // Idle past wal_sender_timeout/2: the walsender asks for a reply, and would drop a stream that gives none.
      const before = got.keepalives;
      await new Promise((r) => setTimeout(r, 3_000));
      await stream.waitForFrames(0);
      assert.ok(got.keepalives > before, 'keepalives arrived while idle');
      await insertRows(base + 1001, base + 1101);
      await drain(stream, () => got.inserts.size === 1100);
      await stream.close();
      assert.equal(got.inserts.size, 1100);
      const c = new pg.Client({ connectionString: cluster.url('postgres') });
      await c.connect();
      await c.query(`SELECT pg_drop_replication_slot($1)`, [slot]);
      await c.end();
    });
  }

  it('close confirms the durable position to the slot, also before the first timed status', async () => {
    const got: Received = { inserts: new Map(), keepalives: 0 };
    const stream = await openStream(cluster.url('postgres'), 's_close', got); // timed status every 60 s
    const c = new pg.Client({ connectionString: cluster.url('postgres') });
    await c.connect();
    const confirmed = async (): Promise<Lsn> =>
      parseLsn((await c.query<{ lsn: string }>(`SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = 's_close'`)).rows[0]!.lsn);
    const created = await confirmed();
    await insertRows(7001, 7021);
    // The transaction's commit may arrive in a later read than its rows: wait for it too.
    await drain(stream, () => got.inserts.size === 20 && got.committed !== undefined);
    const committed = got.committed!;
    await stream.close();
    for (const deadline = Date.now() + 5_000; (await confirmed()) < committed && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 100));
    const now = await confirmed();
    assert.ok(now >= committed, `confirmed_flush_lsn is ${formatLsn(now)} (was ${formatLsn(created)}), not at the last transaction's end ${formatLsn(committed)}`);
    await c.query(`SELECT pg_drop_replication_slot('s_close')`);
    await c.end();
  });

  it('a walsender terminated by the server fails the stream with a retriable error', async () => {
    const got: Received = { inserts: new Map(), keepalives: 0 };
    const stream = await openStream(cluster.url('postgres'), 's_kill', got);
    await insertRows(5001, 5011);
    await drain(stream, () => got.inserts.size === 10);
    const c = new pg.Client({ connectionString: cluster.url('postgres') });
    await c.connect();
    await c.query(`SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = 's_kill'`);
    const failure = await (async () => {
      for (const deadline = Date.now() + 10_000; Date.now() < deadline; ) {
        try {
          await stream.waitForFrames(200);
        } catch (err) {
          return err;
        }
      }
      return undefined;
    })();
    assert.ok(failure instanceof Error, 'the stream failed');
    assert.ok(isRetriable(failure), `retriable: ${String(failure)}`);
    await stream.close();
    await c.query(`SELECT pg_drop_replication_slot('s_kill')`);
    await c.end();
  });
});
