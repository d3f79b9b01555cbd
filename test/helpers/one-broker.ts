import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startKafkaBroker, type KafkaBrokerHandle } from '../../tools/local/kafka.ts';
import { startPgCluster, type PgClusterHandle } from '../../tools/local/postgres.ts';
import { FAST_PG } from '../../tools/local/two-datacenters.ts';

/**
 * PostgreSQL A and B and one Kafka broker, for tests of the source and the apply engine without MirrorMaker 2: the
 * destination reads A's Kafka directly (`--mq.replication-policy identity`). `stop` stops them and removes the folder
 * (kept with DCSYNC_KEEP_TEST_DIR=1).
 */
export interface OneBrokerPair {
  readonly dir: string;
  readonly pgA: PgClusterHandle;
  readonly pgB: PgClusterHandle;
  readonly kafka: KafkaBrokerHandle;
  stop(): Promise<void>;
}

export async function startOneBrokerPair(prefix: string): Promise<OneBrokerPair> {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  chmodSync(dir, 0o755);
  const [pgA, pgB, kafka] = await Promise.all([
    startPgCluster({ dir: path.join(dir, 'pg-a'), name: 'pg-a', settings: FAST_PG }),
    startPgCluster({ dir: path.join(dir, 'pg-b'), name: 'pg-b', settings: FAST_PG }),
    startKafkaBroker({ dir: path.join(dir, 'kafka'), name: 'A' }),
  ]);
  return {
    dir,
    pgA,
    pgB,
    kafka,
    stop: async () => {
      await kafka.stop();
      await pgA.stop();
      await pgB.stop();
      if (!process.env['DCSYNC_KEEP_TEST_DIR']) rmSync(dir, { recursive: true, force: true });
    },
  };
}
