/**
 * The sync master daemon: the HTTPS API on --server.port, the leader election, the leader's scheduler, and a
 * presence row in the datacenter's PostgreSQL. All state is in PostgreSQL (store.ts); the process holds
 * nothing that a restart would lose.
 */
import { randomUUID } from 'node:crypto';
import { ControlServer, type ControlServerAddress } from '../control/index.ts';
import { CombinedError, errorMessage, IllegalStateError, ShutdownTimeoutError } from '../core/errors.ts';
import { Lifecycle } from '../core/lifecycle.ts';
import type { Logger } from '../core/logger.ts';
import { DEFAULT_RETRY, retry } from '../core/retry.ts';
import { AbortedError, delay, finishWithin } from '../core/time.ts';
import { redactUrl } from '../postgres/connection.ts';
import { readJwtSecret, readKeyfile } from '../tls/index.ts';
import { masterRoutes } from './api.ts';
import { LeaderElection } from './election.ts';
import { LeaderForwarder } from './forward.ts';
import { pgOperatorVerifier } from './operator-auth.ts';
import type { CompiledMasterOptions } from './options.ts';
import { PgPool } from '../postgres/pool.ts';
import { SchedulerLoop } from './scheduler-loop.ts';
import { MasterStore } from './store.ts';
import { readStatus, syncRoutes } from './sync-api.ts';
import { loadStatusPageAssets } from './status-page/assets.ts';
import { LagHistory } from './status-page/lag-history.ts';
import { statusPageRoutes } from './status-page/routes.ts';
import { LagSampler } from './status-page/sampler.ts';
import { SyncLoop } from './sync-loop.ts';
import { SourceChecks } from '../check/source-checks.ts';
import { checkRoutes } from './check-api.ts';
import { MasterMetrics, metricsRoutes } from '../metrics/index.ts';
import { SyncStore } from './sync-store.ts';

/**
 * - `initialized`: constructed; nothing runs.
 * - `running`: serving the API, taking part in the election (leading or following).
 * - `draining`: stop() was called: the API stops taking requests and finishes those in flight, the loops end,
 *   a held lease is released so another master leads at once.
 * - `stopped`: everything is closed.
 * - `failed`: start() failed (PostgreSQL refused us, bad certificate, port in use), or stop() ran out of time.
 */
export type MasterState = 'initialized' | 'running' | 'draining' | 'stopped' | 'failed';

const TRANSITIONS: Readonly<Record<MasterState, readonly MasterState[]>> = {
  initialized: ['running', 'failed', 'stopped'],
  running: ['draining', 'failed'],
  draining: ['stopped', 'failed'],
  stopped: [],
  failed: [],
};

/** How long the API waits for requests in flight when draining (bounded by the stop grace). */
const API_DRAIN_MS = 5_000;

export class MasterDaemon {
  readonly lifecycle: Lifecycle<MasterState>;
  readonly #o: CompiledMasterOptions;
  readonly #log: Logger;
  readonly #instance = randomUUID();
  readonly #statePool: PgPool;
  readonly #electionPool: PgPool;
  readonly #store: MasterStore;
  readonly #election: LeaderElection;
  readonly #scheduler: SchedulerLoop;
  readonly #syncs: SyncStore;
  readonly #syncLoop: SyncLoop;
  readonly #sourceChecks: SourceChecks;
  readonly #lagHistory = new LagHistory();
  readonly #lagSampler: LagSampler;
  readonly #metrics: MasterMetrics;
  readonly #loops = new AbortController();
  #running: Promise<void>[] = [];
  #server: ControlServer | undefined;
  #forwarder: LeaderForwarder | undefined;
  #stopping: Promise<void> | undefined;

  constructor(o: CompiledMasterOptions) {
    this.#o = o;
    this.#log = o.logger.child({ component: 'master', masterId: o.id });
    this.lifecycle = new Lifecycle<MasterState>('initialized', TRANSITIONS, this.#log);
    const pool = (name: string, max: number): PgPool =>
      new PgPool({ url: o.clusterUrl, database: o.stateDatabase, applicationName: `dcsync-master-${name}`, max, connectTimeoutMs: 5_000, queryTimeoutMs: 5_000, log: this.#log });
    this.#statePool = pool('state', 4);
    // The lease has its own session: a busy API never delays a renewal.
    this.#electionPool = pool('election', 1);
    this.#store = new MasterStore(this.#statePool);
    this.#election = new LeaderElection({
      store: new MasterStore(this.#electionPool),
      me: { id: o.id, instance: this.#instance, endpoint: o.serverEndpoint },
      timings: o.election,
      log: this.#log,
    });
    this.#scheduler = new SchedulerLoop({ store: this.#store, election: this.#election, intervalMs: o.scheduleIntervalMs, workerTimeoutMs: o.workerTimeoutMs, log: this.#log });
    this.#syncs = new SyncStore(this.#statePool, this.#store);
    this.#sourceChecks = new SourceChecks({ url: o.clusterUrl, log: this.#log.child({ component: 'master.check' }) });
    this.#syncLoop = new SyncLoop({
      syncs: this.#syncs,
      election: this.#election,
      clusterUrl: o.clusterUrl,
      stateDatabase: o.stateDatabase,
      intervalMs: 2_000,
      terminateAfterMs: 15_000,
      log: this.#log,
    });
    const statusSource = { syncs: this.#syncs, datacenter: o.datacenter, self: { id: o.id } };
    this.#lagSampler = new LagSampler({ history: this.#lagHistory, readStatus: () => readStatus(statusSource), log: this.#log.child({ component: 'master.lag-sampler' }) });
    this.#metrics = new MasterMetrics({ readStatus: () => readStatus(statusSource), isLeader: () => this.#election.leaderEpoch !== undefined, datacenter: o.datacenter, version: o.version });
  }

  get state(): MasterState {
    return this.lifecycle.state;
  }

  get election(): LeaderElection {
    return this.#election;
  }

  get id(): string {
    return this.#o.id;
  }

  /** Re-reads the keyfile, client-auth CA and JWT secret (SIGHUP); the listener and its connections stay. */
  async reload(): Promise<void> {
    if (!this.#server) throw new IllegalStateError(`the master is ${this.state}`);
    await this.#server.reload();
  }

  address(): ControlServerAddress {
    if (!this.#server) throw new IllegalStateError(`the master is ${this.state}`);
    return this.#server.address();
  }

  /**
   * Prepares the state tables (waiting for PostgreSQL while it is unreachable), starts the API and joins the
   * election. An abort of `signal` during start stops cleanly (state `stopped`, no error).
   */
  async start(signal?: AbortSignal): Promise<void> {
    if (!this.lifecycle.is('initialized')) throw new IllegalStateError(`cannot start a master that is ${this.state}`);
    const o = this.#o;
    this.#log.info('starting', { endpoint: o.serverEndpoint, port: o.serverPort, cluster: redactUrl(o.clusterUrl), datacenter: o.datacenter, version: o.version, metrics: o.monitoringToken !== undefined ? 'on' : 'off' });
    try {
      const [keyfile, jwtSecret] = await Promise.all([readKeyfile(o.serverKeyfile), readJwtSecret(o.jwtSecretFile)]);
      await retry(() => this.#store.ensureSchema(), {
        policy: { ...DEFAULT_RETRY, maxMs: 5_000 },
        ...(signal ? { signal } : {}),
        onRetry: (err, attempt, waitMs) => this.#log.warn('PostgreSQL not ready, retrying', { error: errorMessage(err), attempt, waitMs }),
      });
      this.#forwarder = new LeaderForwarder({ ca: keyfile.chainPem.at(-1) ?? keyfile.certPem, jwtSecret, datacenter: o.datacenter, selfId: o.id, log: this.#log });
      this.#server = new ControlServer({
        component: 'master',
        datacenter: o.datacenter,
        port: o.serverPort,
        keyfile: o.serverKeyfile,
        ...(o.serverClientCafile !== undefined ? { clientAuthCa: o.serverClientCafile } : {}),
        jwtSecret: o.jwtSecretFile,
        verifyOperator: pgOperatorVerifier({ clusterUrl: o.clusterUrl, database: o.stateDatabase, log: this.#log }),
        routes: [
          ...masterRoutes({
          store: this.#store,
          election: this.#election,
          scheduler: this.#scheduler,
          forwarder: this.#forwarder,
          self: { id: o.id, endpoint: o.serverEndpoint, version: o.version },
          datacenter: o.datacenter,
          workerTimeoutMs: o.workerTimeoutMs,
          heartbeatIntervalMs: o.heartbeatIntervalMs,
          masterAliveMs: Math.max(10_000, o.election.renewMs * 5),
          mq: { type: o.mqType, kafkaAddr: o.kafkaAddr },
          }),
          // Without a client-auth CA no peer can authenticate: such a master is never a source, its peer routes stay off.
          ...syncRoutes({
            syncs: this.#syncs,
            election: this.#election,
            scheduler: this.#scheduler,
            syncLoop: this.#syncLoop,
            self: { id: o.id },
            datacenter: o.datacenter,
            masterEndpoints: o.masterEndpoints,
            log: this.#log,
          }).filter((r) => r.access !== 'peer' || o.serverClientCafile !== undefined),
          ...checkRoutes({ syncs: this.#syncs, election: this.#election, self: { id: o.id }, datacenter: o.datacenter, clusterUrl: o.clusterUrl, sourceChecks: this.#sourceChecks, log: this.#log.child({ component: 'master.check' }) }).filter(
            (r) => r.access !== 'peer' || o.serverClientCafile !== undefined,
          ),
          ...statusPageRoutes({ history: this.#lagHistory, assets: loadStatusPageAssets(), self: { id: o.id } }),
          ...metricsRoutes(this.#metrics),
        ],
        ...(o.monitoringToken !== undefined ? { monitoringToken: o.monitoringToken } : {}),
        version: o.version,
        stopGrace: Math.min(API_DRAIN_MS, o.stopGraceMs / 2),
        logger: o.logger,
      });
      await this.#server.start();
      await this.#store.touchMaster({ id: o.id, endpoint: o.serverEndpoint, instance: this.#instance, version: o.version }).catch((err: unknown) => {
        this.#log.warn('presence not recorded yet', { error: errorMessage(err) });
      });
      if (signal?.aborted) throw new AbortedError();
    } catch (err) {
      await this.#closeResources();
      if (err instanceof AbortedError || signal?.aborted) {
        this.lifecycle.to('stopped');
        return;
      }
      this.lifecycle.to('failed');
      throw err;
    }
    const sig = this.#loops.signal;
    this.#running = [this.#election.run(sig), this.#scheduler.run(sig), this.#syncLoop.run(sig), this.#presence(sig), this.#lagSampler.run(sig)];
    this.lifecycle.to('running');
  }

  /**
   * Drains (API first, then the loops, releasing a held lease), then closes the sessions. Throws
   * ShutdownTimeoutError (state `failed`) when that takes longer than graceMs; what is left is closed anyway.
   */
  async stop(opts: { graceMs?: number } = {}): Promise<void> {
    if (this.lifecycle.is('initialized')) {
      this.lifecycle.to('stopped');
      return;
    }
    if (this.lifecycle.is('stopped', 'failed')) return;
    if (this.#stopping) return this.#stopping;
    this.lifecycle.to('draining');
    this.#stopping = this.#drain(opts.graceMs ?? this.#o.stopGraceMs);
    return this.#stopping;
  }

  async #drain(graceMs: number): Promise<void> {
    const work = (async (): Promise<void> => {
      const errors: unknown[] = [];
      await this.#server?.stop().catch((err: unknown) => errors.push(err));
      this.#loops.abort();
      await Promise.all(this.#running);
      await this.#closeResources();
      if (errors.length > 0) throw new CombinedError('stopping the master failed', errors);
    })();
    try {
      const outcome = await finishWithin(work, graceMs);
      if (outcome === 'timeout') {
        this.#loops.abort();
        await this.#closeResources();
        this.lifecycle.to('failed');
        throw new ShutdownTimeoutError(`the master did not stop within ${graceMs} ms`);
      }
      this.lifecycle.to('stopped');
      this.#log.info('stopped');
    } catch (err) {
      if (!this.lifecycle.is('failed')) this.lifecycle.to('failed');
      throw err;
    }
  }

  async #closeResources(): Promise<void> {
    this.#forwarder?.close();
    await Promise.all([this.#statePool.close(), this.#electionPool.close(), this.#sourceChecks.close()]);
  }

  #certificateWarnings(): string[] {
    try {
      return this.#server?.certificateWarnings().map((w) => w.message) ?? [];
    } catch {
      return [];
    }
  }

  /** Keeps this master's row fresh (the masters table shows who is alive). */
  async #presence(signal: AbortSignal): Promise<void> {
    const o = this.#o;
    let failing = false;
    while (!signal.aborted) {
      try {
        await this.#store.touchMaster({ id: o.id, endpoint: o.serverEndpoint, instance: this.#instance, version: o.version, warnings: this.#certificateWarnings() });
        if (failing) this.#log.info('presence recorded again');
        failing = false;
      } catch (err) {
        if (signal.aborted) break;
        if (!failing) this.#log.warn('presence not recorded', { error: errorMessage(err) });
        failing = true;
      }
      try {
        await delay(o.election.renewMs, signal);
      } catch {
        break;
      }
    }
  }
}

/**
 * Runs a master until `signal` aborts (SIGTERM/SIGINT in src/main.ts), then stops it gracefully. Rejects when it
 * cannot start or does not stop in time.
 */
export async function runMaster(opts: CompiledMasterOptions, signal: AbortSignal, onReload?: (fn: () => Promise<void>) => void): Promise<void> {
  const master = new MasterDaemon(opts);
  onReload?.(() => master.reload());
  await master.start(signal);
  if (master.state !== 'running') return;
  if (!signal.aborted) await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  await master.stop();
}
