/**
 * The pgoutput decoder against bytes from a real PostgreSQL: runs the protocol tests with DCSYNC_TEST_PG_URL set
 * (protocol 1, binary values, protocol 2 streaming, read through pg_logical_slot_peek_binary_changes).
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { startPgCluster } from '../../../tools/local/postgres.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'dcsync-pgoutput-'));
chmodSync(dir, 0o755);
const cluster = await startPgCluster({ dir: path.join(dir, 'pg'), name: 'pgoutput', settings: { fsync: 'off' } });
after(async () => {
  await cluster.stop();
  rmSync(dir, { recursive: true, force: true });
});
process.env['DCSYNC_TEST_PG_URL'] = cluster.url('postgres');
await import('../../../src/postgres/protocol/pgoutput.test.ts');
