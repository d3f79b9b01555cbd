import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnDaemon, type DaemonHandle } from './process.ts';
import { startKafkaBroker, startMirrorMaker, waitMirrorFlow, type KafkaBrokerHandle, type MirrorMakerHandle } from './kafka.ts';
import { startPgCluster, type PgClusterHandle } from './postgres.ts';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Two datacenters on loopback: PostgreSQL + Kafka each, MirrorMaker 2 from A to B. */
export interface TwoDc {
  dir: string;
  pgA: PgClusterHandle;
  pgB: PgClusterHandle;
  kafkaA: KafkaBrokerHandle;
  kafkaB: KafkaBrokerHandle;
  mm2: MirrorMakerHandle;
  /** Restart MirrorMaker 2 (kill -9, then start on the same configuration). */
  restartMirror(): Promise<void>;
  /** Starts a dcsync command in the background, output to DIR/<name>.log. */
  dcsync(name: string, args: string[], env?: Record<string, string>, nodeArgs?: string[]): Promise<DaemonHandle>;
  stop(): Promise<void>;
}

const FAST_PG = { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off', wal_sender_timeout: '20s', max_connections: '100' };

/**
 * Starts two datacenters on loopback ports in a new directory (under `parent`, default the OS temp dir):
 * PostgreSQL A and B, a KRaft Kafka broker each, MirrorMaker 2 from A to B, and returns once a probe record
 * crossed MirrorMaker. Everything is stopped by PID in `stop()`, also when starting fails half-way.
 */
export async function startTwoDc(opts: { policy?: 'default' | 'identity'; keepDir?: boolean; parent?: string; prefix?: string } = {}): Promise<TwoDc> {
  const dir = mkdtempSync(path.join(opts.parent ?? tmpdir(), opts.prefix ?? 'dcsync-it-'));
  chmodSync(dir, 0o755); // the postgres OS user runs the clusters inside it
  const policy = opts.policy ?? 'default';
  const started: { stop(): Promise<void> }[] = [];
  const daemons: DaemonHandle[] = [];
  const stopAll = async (): Promise<void> => {
    for (const d of daemons.reverse()) await d.stop(10_000).catch(() => {});
    for (const s of started.reverse()) await s.stop().catch(() => {});
    if (!opts.keepDir && !process.env['DCSYNC_KEEP_TEST_DIR']) rmSync(dir, { recursive: true, force: true });
  };
  try {
    const [pgA, pgB, kafkaA, kafkaB] = await Promise.all([
      startPgCluster({ dir: path.join(dir, 'pg-a'), name: 'pg-a', settings: FAST_PG }).then((h) => (started.push(h), h)),
      startPgCluster({ dir: path.join(dir, 'pg-b'), name: 'pg-b', settings: FAST_PG }).then((h) => (started.push(h), h)),
      startKafkaBroker({ dir: path.join(dir, 'kafka-a'), name: 'A' }).then((h) => (started.push(h), h)),
      startKafkaBroker({ dir: path.join(dir, 'kafka-b'), name: 'B', autoCreateTopics: false }).then((h) => (started.push(h), h)),
    ]);
    const mmOpts = { dir: path.join(dir, 'mm2'), source: { alias: 'A', bootstrap: kafkaA.bootstrap }, target: { alias: 'B', bootstrap: kafkaB.bootstrap }, policy };
    const mm = { current: await startMirrorMaker(mmOpts) };
    started.push({ stop: () => mm.current.stop() });
    await waitMirrorFlow({ sourceBootstrap: kafkaA.bootstrap, targetBootstrap: kafkaB.bootstrap, sourceAlias: 'A', policy });
    return {
      dir,
      pgA,
      pgB,
      kafkaA,
      kafkaB,
      get mm2() {
        return mm.current;
      },
      async restartMirror() {
        mm.current.kill('SIGKILL');
        await mm.current.exited;
        mm.current = await startMirrorMaker(mmOpts);
      },
      async dcsync(name, args, env = {}, nodeArgs = []) {
        // Passwords travel in the environment, never on a command line (where `ps` would show them).
        const secretEnv: Record<string, string> = {};
        const safeArgs = args.map((a) => {
          if (!/^postgres(ql)?:\/\//.test(a)) return a;
          const u = new URL(a);
          if (!u.password) return a;
          secretEnv['DCSYNC_CLUSTER_PASSWORD'] = decodeURIComponent(u.password);
          u.password = '';
          return u.toString();
        });
        const d = await spawnDaemon({
          name,
          command: process.execPath,
          args: [...nodeArgs, path.join(REPO, 'bin/dcsync.js'), ...safeArgs],
          cwd: REPO,
          env: { DCSYNC_DEBUG: '1', ...secretEnv, ...env },
          logFile: path.join(dir, `${name}.log`),
        });
        daemons.push(d);
        return d;
      },
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
