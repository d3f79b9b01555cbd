import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawnDcsync } from './dcsync-process.ts';
import { type DaemonHandle } from './process.ts';
import {
  startKafkaBroker,
  startMirrorMaker,
  waitMirrorFlow,
  type KafkaBrokerHandle,
  type KafkaBrokerTlsOptions,
  type MirrorMakerHandle,
  type MirrorMakerOptions,
  type ReplicationPolicyName,
} from './kafka.ts';
import { startPgCluster, type PgClusterHandle } from './postgres.ts';

export { REPO } from './dcsync-process.ts';

/** PostgreSQL + Kafka each, MirrorMaker 2 from A to B: what both the tests' TwoDc and `dcsync local up` run. */
export interface DatacenterPair {
  pgA: PgClusterHandle;
  pgB: PgClusterHandle;
  kafkaA: KafkaBrokerHandle;
  kafkaB: KafkaBrokerHandle;
  mm2: MirrorMakerHandle;
  /** How MirrorMaker was started (to start it again). */
  mmOptions: MirrorMakerOptions;
}

/** One piece of a pair that is running now (reported before the rest is up, so a caller can track what to stop). */
export type PairPart =
  | { kind: 'postgres'; side: 'A' | 'B'; handle: PgClusterHandle }
  | { kind: 'kafka'; side: 'A' | 'B'; handle: KafkaBrokerHandle }
  | { kind: 'mirrormaker'; handle: MirrorMakerHandle };

export interface DatacenterPairOptions {
  /** Parent of pg-a, pg-b, kafka-a, kafka-b and mm2; the `postgres` OS user needs o+x on it. */
  dir: string;
  /** MirrorMaker 2's replication policy; default 'default' (topics arrive at B as 'A.<topic>'). */
  policy?: ReplicationPolicyName;
  /** The superuser password of both clusters; default a random one each. */
  pgPassword?: string;
  /** Let this process exit while Kafka and MirrorMaker run on (`dcsync local up`). PostgreSQL always does. */
  unref?: boolean;
  /** Wait until a probe record crossed MirrorMaker; default true. */
  waitFlow?: boolean;
  /**
   * Kafka with TLS and client authentication: each broker gets a TLS listener with ssl.client.auth=required, and
   * MirrorMaker 2 connects to both through it with a client certificate. The PLAINTEXT listener stays for the
   * broker's controller and the harness's own admin calls and probes.
   */
  kafkaTls?: PairKafkaTls;
  /** Called as each piece runs. When the start fails half-way, what was reported here is the caller's to stop. */
  onStart: (part: PairPart) => void;
  signal?: AbortSignal;
}

export interface PairKafkaTls {
  /** The broker keyfile of a side (dcsync create tls keyfile --host 127.0.0.1). */
  brokerKeyfile: (side: 'A' | 'B') => Promise<string>;
  /** The TLS CA that issued the broker keyfiles: what MirrorMaker (and dcsync) verify the brokers with. */
  caFile: string;
  /** The client-auth CA whose certificates the brokers accept. */
  clientCaFile: string;
  /** MirrorMaker's client keyfile, from that CA. */
  clientKeyfile: string;
}

/** PostgreSQL settings for speed on a test machine (no durability across an OS crash). */
export const FAST_PG = { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off', wal_sender_timeout: '20s', max_connections: '100' };

/** Starts PostgreSQL A and B and a KRaft Kafka broker each (in parallel), then MirrorMaker 2 from A to B. */
export async function startDatacenterPair(opts: DatacenterPairOptions): Promise<DatacenterPair> {
  const { dir, onStart } = opts;
  const policy = opts.policy ?? 'default';
  const unref = opts.unref ?? false;
  const password = opts.pgPassword !== undefined ? { password: opts.pgPassword } : {};
  const pg = (side: 'A' | 'B'): Promise<PgClusterHandle> =>
    startPgCluster({ dir: path.join(dir, `pg-${side.toLowerCase()}`), name: `pg-${side.toLowerCase()}`, settings: FAST_PG, ...password }).then((handle) => {
      onStart({ kind: 'postgres', side, handle });
      return handle;
    });
  const kafka = (side: 'A' | 'B'): Promise<KafkaBrokerHandle> =>
    // B's topics are created by MirrorMaker (and by dcsync's admin calls), never by a consumer's metadata request.
    brokerTls(opts.kafkaTls, side)
      .then((ssl) => startKafkaBroker({ dir: path.join(dir, `kafka-${side.toLowerCase()}`), name: side, autoCreateTopics: side === 'A', unref, ...(ssl ? { ssl } : {}) }))
      .then((handle) => {
      onStart({ kind: 'kafka', side, handle });
      return handle;
    });
  const settled = await Promise.allSettled([pg('A'), pg('B'), kafka('A'), kafka('B')]);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  const [pgA, pgB, kafkaA, kafkaB] = settled.map((s) => (s as PromiseFulfilledResult<unknown>).value) as [PgClusterHandle, PgClusterHandle, KafkaBrokerHandle, KafkaBrokerHandle];
  opts.signal?.throwIfAborted();
  const tls = opts.kafkaTls;
  const mmTls = tls ? { tls: { caFile: tls.caFile, keyfile: tls.clientKeyfile } } : {};
  const mmOptions: MirrorMakerOptions = {
    dir: path.join(dir, 'mm2'),
    source: { alias: 'A', bootstrap: tls ? sslBootstrapOf(kafkaA) : kafkaA.bootstrap, ...mmTls },
    target: { alias: 'B', bootstrap: tls ? sslBootstrapOf(kafkaB) : kafkaB.bootstrap, ...mmTls },
    policy,
    unref,
  };
  const mm2 = await startMirrorMaker(mmOptions);
  onStart({ kind: 'mirrormaker', handle: mm2 });
  if (opts.waitFlow ?? true) {
    await waitMirrorFlow({ sourceBootstrap: kafkaA.bootstrap, targetBootstrap: kafkaB.bootstrap, sourceAlias: 'A', policy, ...(opts.signal ? { signal: opts.signal } : {}) });
  }
  return { pgA, pgB, kafkaA, kafkaB, mm2, mmOptions };
}

async function brokerTls(tls: PairKafkaTls | undefined, side: 'A' | 'B'): Promise<KafkaBrokerTlsOptions | undefined> {
  if (!tls) return undefined;
  return { keyfile: await tls.brokerKeyfile(side), caFile: tls.clientCaFile, requireClientAuth: true };
}

/** The TLS listener's HOST:PORT of a broker started with `ssl`. */
export function sslBootstrapOf(broker: KafkaBrokerHandle): string {
  if (!broker.sslBootstrap) throw new Error(`broker ${broker.name} has no TLS listener`);
  return broker.sslBootstrap;
}

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

/**
 * Starts two datacenters on loopback ports in a new directory (under `parent`, default the OS temp dir):
 * PostgreSQL A and B, a KRaft Kafka broker each, MirrorMaker 2 from A to B, and returns once a probe record
 * crossed MirrorMaker. Everything is stopped by PID in `stop()`, also when starting fails half-way.
 */
export async function startTwoDc(opts: { policy?: 'default' | 'identity'; keepDir?: boolean; parent?: string; prefix?: string } = {}): Promise<TwoDc> {
  const dir = mkdtempSync(path.join(opts.parent ?? tmpdir(), opts.prefix ?? 'dcsync-it-'));
  chmodSync(dir, 0o755); // the postgres OS user runs the clusters inside it
  const started: { stop(): Promise<void> }[] = [];
  const daemons: DaemonHandle[] = [];
  const mm: { current?: MirrorMakerHandle } = {};
  const stopAll = async (): Promise<void> => {
    for (const d of daemons.reverse()) await d.stop(10_000).catch(() => {});
    for (const s of started.reverse()) await s.stop().catch(() => {});
    if (!opts.keepDir && !process.env['DCSYNC_KEEP_TEST_DIR']) rmSync(dir, { recursive: true, force: true });
  };
  try {
    const pair = await startDatacenterPair({
      dir,
      policy: opts.policy ?? 'default',
      onStart(part) {
        if (part.kind !== 'mirrormaker') return void started.push(part.handle);
        mm.current = part.handle;
        started.push({ stop: async () => mm.current?.stop() });
      },
    });
    return {
      dir,
      pgA: pair.pgA,
      pgB: pair.pgB,
      kafkaA: pair.kafkaA,
      kafkaB: pair.kafkaB,
      get mm2() {
        return mm.current ?? pair.mm2;
      },
      async restartMirror() {
        const old = mm.current ?? pair.mm2;
        old.kill('SIGKILL');
        await old.exited;
        mm.current = await startMirrorMaker(pair.mmOptions);
      },
      async dcsync(name, args, env = {}, nodeArgs = []) {
        const d = await spawnDcsync({ name, args, env: { DCSYNC_DEBUG: '1', ...env }, nodeArgs, logFile: path.join(dir, `${name}.log`) });
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
