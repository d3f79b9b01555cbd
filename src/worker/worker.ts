/**
 * The sync worker daemon (`dcsync run worker`): its own HTTPS API (/health, /version), a registration and
 * heartbeat loop with this datacenter's masters, and the tasks the leader assigns, each under runTask
 * (retries). Every heartbeat answer is the complete list of tasks to run; reconcile() turns it into tasks to
 * start and to stop. Status reports carry the task's epoch; a 409 (or 404) fences the task at once. See
 * docs/worker.md and the worker contract in docs/master.md.
 */
import { parseRecordKey, type RecordKey } from '../transport/record-auth.ts';
import { daemonIdOf, endpointOption, portOption, requiredOption } from '../config/validate.ts';
import { readFile } from 'node:fs/promises';
import type { Kafka } from 'kafkajs';
import { loadKafkaTls } from '../transport/kafka/tls-files.ts';
import { resolvePgUrl } from '../postgres/url.ts';
import { resolveMonitoringToken } from '../config/monitoring-token.ts';
import { ControlClient, ControlHttpError, ControlServer, formatPath, type ControlServerAddress } from '../control/index.ts';
import { WORKER_PORT } from '../control/options.ts';
import { errorMessage, IllegalStateError, InvalidOptionError, ShutdownTimeoutError } from '../core/errors.ts';
import { Lifecycle } from '../core/lifecycle.ts';
import { createLogger, type Logger, type LogLevel } from '../core/logger.ts';
import { delay, finishWithin } from '../core/time.ts';
import {
  MASTER_PATHS,
  type HeartbeatResponse,
  type RegisterWorkerResponse,
  type ReportedTaskState,
  type TaskAssignment,
  type TaskStatusRequest,
} from '../control/v1/cluster.ts';
import { dcsyncVersion } from '../core/version.ts';
import { readJwtSecret, readKeyfile, signJwt, type JwtSecret } from '../tls/index.ts';
import { kafkaClient } from '../transport/kafka/client.ts';
import { runDestinationTask } from '../destination/destination-task.ts';
import type { ApplyMode } from '../destination/apply-loop.ts';
import { reconcile } from './reconcile.ts';
import { runSourceTask } from '../source/source-task.ts';
import { runTask, type TaskStatus } from '../core/task-runner.ts';
import { DestinationProgressProbe, SourceSlotProbe, TopicEnds, sourceProgress } from './task-progress.ts';
import { metricsRoutes, WorkerMetrics, type WorkerTaskState } from '../metrics/index.ts';
import { remoteTopicName, topicName, type ReplicationPolicy } from '../transport/topics.ts';
import type { SourceTaskProgress } from '../source/source-task.ts';
import { streamName, type SyncSettings } from '../control/v1/sync.ts';

export const DEFAULT_WORKER_DATACENTER = 'default';
const DATACENTER = /^[A-Za-z0-9._-]{1,64}$/;
/** What names a task's slots, publications and topics: `<sync>` or `<sync>_<run>`. */
const STREAM = /^[a-z0-9_]{1,24}$/;

export interface WorkerOptions {
  /** --server.endpoint: where the masters reach this worker (https://host:port); host:port is its id. */
  readonly serverEndpoint: string;
  /** --server.port; default 8729. */
  readonly serverPort?: number;
  readonly serverKeyfile: string;
  /** --master.endpoint: this datacenter's masters. */
  readonly masterEndpoints: readonly string[];
  /** --master.cacert: CA that verifies the masters; default: the CA at the end of the keyfile's chain. */
  readonly masterCacert?: string;
  readonly jwtSecretFile: string;
  readonly datacenter?: string;
  readonly clusterEndpoint: string;
  readonly clusterPasswordFile?: string;
  readonly clusterCacert?: string;
  readonly kafkaAddr: readonly string[];
  readonly kafkaCacert?: string;
  readonly kafkaClientKeyfile?: string;
  /** Task settings until the sync config carries them (docs/worker.md). */
  readonly partitions?: number;
  readonly copySessions?: number;
  readonly sourceAlias?: string;
  readonly replicationPolicy?: ReplicationPolicy;
  readonly applyMode?: ApplyMode;
  /** Before the masters told us theirs; default 3 s. */
  readonly heartbeatIntervalMs?: number;
  /** stop() without graceMs waits this long for the tasks to end; default 30 s (a task blocked in a Kafka connect notices the abort only when that attempt gives up, ≈15 s). */
  readonly stopGraceMs?: number;
  readonly logLevel?: LogLevel;
  /** --monitoring.token: the bearer token of /metrics; without one (or a token file) the metrics routes are off. */
  readonly monitoringToken?: string;
  /** --monitoring.token-file: a file holding it (one line). */
  readonly monitoringTokenFile?: string;
  readonly logger?: Logger;
}

export interface CompiledWorkerOptions {
  readonly id: string;
  readonly serverEndpoint: string;
  readonly serverPort: number;
  readonly serverKeyfile: string;
  readonly masterEndpoints: readonly string[];
  readonly masterCacert: string | undefined;
  readonly jwtSecretFile: string;
  readonly datacenter: string;
  /** With the password: never log it. */
  readonly clusterUrl: string;
  readonly kafkaAddr: readonly string[];
  readonly kafkaCacert: string | undefined;
  readonly kafkaClientKeyfile: string | undefined;
  readonly partitions: number;
  readonly copySessions: number;
  readonly sourceAlias: string;
  readonly replicationPolicy: ReplicationPolicy;
  readonly applyMode: ApplyMode;
  readonly heartbeatIntervalMs: number;
  readonly stopGraceMs: number;
  /** Never log it. */
  readonly monitoringToken: string | undefined;
  readonly version: string;
  readonly logger: Logger;
}

const required = requiredOption;
const endpoint = endpointOption;

function positiveInt(key: string, v: number | undefined, fallback: number): number {
  const n = v ?? fallback;
  if (!Number.isInteger(n) || n < 1) throw new InvalidOptionError(key, 'must be a positive integer');
  return n;
}

export const workerIdOf = daemonIdOf;

export function compileWorkerOptions(raw: WorkerOptions, env: NodeJS.ProcessEnv): CompiledWorkerOptions {
  const serverEndpoint = endpoint('server.endpoint', required('server.endpoint', raw.serverEndpoint));
  const serverPort = portOption('server.port', raw.serverPort ?? WORKER_PORT);
  if (raw.masterEndpoints.length === 0) throw new InvalidOptionError('master.endpoint', "is required: the endpoints of this datacenter's masters");
  const masterEndpoints = [...new Set(raw.masterEndpoints.map((e) => endpoint('master.endpoint', e)))];
  const datacenter = raw.datacenter ?? DEFAULT_WORKER_DATACENTER;
  if (!DATACENTER.test(datacenter)) throw new InvalidOptionError('datacenter', "must be 1-64 letters, digits, '.', '_' or '-'");
  if (raw.kafkaAddr.length === 0) throw new InvalidOptionError('mq.kafka-addr', 'is required');
  for (const a of raw.kafkaAddr) if (!/^[^\s:/]+:\d{1,5}$|^\[[0-9A-Fa-f:.]+\]:\d{1,5}$/.test(a)) throw new InvalidOptionError('mq.kafka-addr', `'${a}' is not host:port`);
  const policy = raw.replicationPolicy ?? 'default';
  if (policy !== 'default' && policy !== 'identity') throw new InvalidOptionError('mq.replication-policy', "must be 'default' or 'identity'");
  const applyMode = raw.applyMode ?? 'parallel';
  if (applyMode !== 'parallel' && applyMode !== 'transactional') throw new InvalidOptionError('apply.mode', "must be 'parallel' or 'transactional'");
  const empty = (s: string | undefined): string | undefined => (s === undefined || s === '' ? undefined : s);
  return {
    id: workerIdOf(serverEndpoint),
    serverEndpoint,
    serverPort,
    serverKeyfile: required('server.keyfile', raw.serverKeyfile),
    masterEndpoints,
    masterCacert: empty(raw.masterCacert),
    jwtSecretFile: required('master.jwtSecret', raw.jwtSecretFile),
    datacenter,
    clusterUrl: resolvePgUrl('cluster.endpoint', required('cluster.endpoint', raw.clusterEndpoint), raw.clusterPasswordFile, env, { caFile: raw.clusterCacert }),
    kafkaAddr: raw.kafkaAddr,
    kafkaCacert: empty(raw.kafkaCacert),
    kafkaClientKeyfile: empty(raw.kafkaClientKeyfile),
    partitions: applyMode === 'transactional' ? 1 : positiveInt('mq.partitions', raw.partitions, 8),
    copySessions: positiveInt('copy.sessions', raw.copySessions, 2),
    sourceAlias: raw.sourceAlias ?? 'A',
    replicationPolicy: policy,
    applyMode,
    heartbeatIntervalMs: positiveInt('heartbeatInterval', raw.heartbeatIntervalMs, 3_000),
    stopGraceMs: positiveInt('stopGrace', raw.stopGraceMs, 30_000),
    monitoringToken: resolveMonitoringToken(raw.monitoringToken, raw.monitoringTokenFile),
    version: dcsyncVersion(),
    logger: raw.logger ?? createLogger({ level: raw.logLevel ?? 'info' }),
  };
}

/**
 * - `initialized`: constructed. - `running`: API up, heartbeats and tasks running. - `draining`: stop() was
 * called: heartbeats end, every task's signal is aborted and awaited, the API stops. - `stopped` | `failed`
 * (start failed, or stop ran out of time).
 */
export type WorkerState = 'initialized' | 'running' | 'draining' | 'stopped' | 'failed';

const TRANSITIONS: Readonly<Record<WorkerState, readonly WorkerState[]>> = {
  initialized: ['running', 'failed', 'stopped'],
  running: ['draining', 'failed'],
  draining: ['stopped', 'failed'],
  stopped: [],
  failed: [],
};

/** The worker's side of one assigned task. */
interface TaskRun {
  readonly assignment: TaskAssignment;
  readonly controller: AbortController;
  done: Promise<TaskStatus>;
  /** The last report the master accepted, as `state|error`. */
  reported: string | undefined;
  /** The latest report that could not be delivered (sent again with the next heartbeat). */
  unsent: { state: ReportedTaskState; error: string | null } | undefined;
  chain: Promise<void>;
  /** The state and error last reported (progress reports repeat them). */
  current: { state: ReportedTaskState; error: string | null };
  /** A source task's latest position (its onProgress callback). */
  source: SourceTaskProgress | undefined;
  /** The progress document last accepted by the master, as JSON without its time stamp. */
  progressSent: string | undefined;
  /** A destination task's progress reader (one kept connection to its target database). */
  readonly probe: DestinationProgressProbe | undefined;
  /** A source task's slot reader (one kept connection to its source database). */
  readonly slotProbe: SourceSlotProbe | undefined;
  /** What the task runner said last (the metrics' task states). */
  runner: TaskStatus['state'];
  /** The most advanced position applied (destination) or confirmed (source) since this run started: the WAL-byte counters count from it. */
  walHigh: bigint | undefined;
}

/** A task runner state as the metrics count it; a stopped task is not counted. */
function metricState(s: TaskStatus['state']): WorkerTaskState | undefined {
  return s === 'starting' || s === 'running' ? 'running' : s === 'stopped' ? undefined : s;
}

/** How often running tasks report their progress (when it changed). */
const PROGRESS_INTERVAL_MS = 2_000;

export class WorkerDaemon {
  readonly lifecycle: Lifecycle<WorkerState>;
  readonly #o: CompiledWorkerOptions;
  readonly #log: Logger;
  readonly #tasks = new Map<string, TaskRun>();
  readonly #stopping = new Set<Promise<TaskStatus>>();
  readonly #loop = new AbortController();
  #server: ControlServer | undefined;
  #client: ControlClient | undefined;
  #kafka: Kafka | undefined;
  #secret: JwtSecret | undefined;
  #heartbeat: Promise<void> | undefined;
  #progress: Promise<void> | undefined;
  #stop: Promise<void> | undefined;
  readonly #metrics: WorkerMetrics;

  constructor(o: CompiledWorkerOptions) {
    this.#o = o;
    this.#log = o.logger.child({ component: 'worker', workerId: o.id });
    this.lifecycle = new Lifecycle<WorkerState>('initialized', TRANSITIONS, this.#log);
    this.#metrics = new WorkerMetrics({ version: o.version, tasks: () => this.#taskStates() });
  }

  /** The kind and state of each task this worker runs, as the metrics count them. */
  #taskStates(): { kind: TaskAssignment['kind']; state: WorkerTaskState }[] {
    return [...this.#tasks.values()].flatMap((t) => {
      const state = metricState(t.runner);
      return state ? [{ kind: t.assignment.kind, state }] : [];
    });
  }

  get id(): string {
    return this.#o.id;
  }

  get state(): WorkerState {
    return this.lifecycle.state;
  }

  /** Ids and epochs of the tasks running now. */
  get tasks(): readonly { taskId: string; epoch: number }[] {
    return [...this.#tasks.values()].map((t) => ({ taskId: t.assignment.taskId, epoch: t.assignment.epoch }));
  }

  address(): ControlServerAddress {
    if (!this.#server) throw new IllegalStateError(`the worker is ${this.state}`);
    return this.#server.address();
  }

  async reload(): Promise<void> {
    if (!this.#server) throw new IllegalStateError(`the worker is ${this.state}`);
    await this.#server.reload();
  }

  async start(): Promise<void> {
    if (!this.lifecycle.is('initialized')) throw new IllegalStateError(`cannot start a worker that is ${this.state}`);
    const o = this.#o;
    this.#log.info('starting', { endpoint: o.serverEndpoint, port: o.serverPort, masters: o.masterEndpoints, datacenter: o.datacenter, version: o.version, metrics: o.monitoringToken !== undefined ? 'on' : 'off' });
    try {
      const [keyfile, secret] = await Promise.all([readKeyfile(o.serverKeyfile), readJwtSecret(o.jwtSecretFile)]);
      this.#secret = secret;
      const ca = o.masterCacert !== undefined ? await readFile(o.masterCacert, 'utf8') : (keyfile.chainPem.at(-1) ?? keyfile.certPem);
      const ssl = await loadKafkaTls({ caFile: o.kafkaCacert, clientKeyfile: o.kafkaClientKeyfile });
      this.#kafka = kafkaClient(o.kafkaAddr, `dcsync-worker-${o.id}`, this.#log, ssl ? { ssl } : {});
      this.#client = new ControlClient({ endpoints: o.masterEndpoints, ca, auth: { kind: 'bearer', token: () => this.#token() }, timeout: '5s' });
      this.#server = new ControlServer({
        component: 'worker',
        datacenter: o.datacenter,
        port: o.serverPort,
        keyfile: o.serverKeyfile,
        version: o.version,
        stopGrace: 2_000,
        logger: o.logger,
        routes: metricsRoutes(this.#metrics),
        ...(o.monitoringToken !== undefined ? { monitoringToken: o.monitoringToken } : {}),
      });
      await this.#server.start();
    } catch (err) {
      this.#client?.close();
      this.lifecycle.to('failed');
      throw err;
    }
    this.lifecycle.to('running');
    this.#heartbeat = this.#heartbeatLoop(this.#loop.signal);
    this.#progress = this.#progressLoop(this.#loop.signal);
  }

  /** Ends heartbeats, aborts every task and waits for them, stops the API. */
  async stop(opts: { graceMs?: number } = {}): Promise<void> {
    if (this.lifecycle.is('initialized')) {
      this.lifecycle.to('stopped');
      return;
    }
    if (this.lifecycle.is('stopped', 'failed')) return;
    if (this.#stop) return this.#stop;
    this.lifecycle.to('draining');
    this.#stop = this.#drain(opts.graceMs ?? this.#o.stopGraceMs);
    return this.#stop;
  }

  async #drain(graceMs: number): Promise<void> {
    this.#loop.abort();
    for (const id of [...this.#tasks.keys()]) this.#stopTask(id, 'worker stopping');
    const work = (async (): Promise<void> => {
      await this.#heartbeat;
      await this.#progress;
      await Promise.all([...this.#stopping]);
      await this.#server?.stop();
    })();
    const outcome = await finishWithin(work, graceMs);
    this.#client?.close();
    if (outcome === 'timeout') {
      this.lifecycle.to('failed');
      throw new ShutdownTimeoutError(`the worker did not stop within ${graceMs} ms`);
    }
    this.lifecycle.to('stopped');
    this.#log.info('stopped');
  }

  #token(): string {
    return signJwt(this.#secret!, { audience: this.#o.datacenter, subject: this.#o.id, expiresInMs: 60_000 });
  }

  async #register(signal: AbortSignal): Promise<RegisterWorkerResponse> {
    const o = this.#o;
    return this.#client!.post<RegisterWorkerResponse>(MASTER_PATHS.registerWorker, { id: o.id, endpoint: o.serverEndpoint, datacenter: o.datacenter, version: o.version }, { idempotent: true, signal });
  }

  async #heartbeatLoop(signal: AbortSignal): Promise<void> {
    let registered = false;
    let intervalMs = this.#o.heartbeatIntervalMs;
    let timeoutMs = 15_000;
    let lastContact = Date.now();
    let failing = false;
    while (!signal.aborted) {
      try {
        if (!registered) {
          const r = await this.#register(signal);
          registered = true;
          intervalMs = r.heartbeatIntervalMs;
          timeoutMs = r.workerTimeoutMs;
          this.#log.info('registered', { heartbeatIntervalMs: intervalMs, workerTimeoutMs: timeoutMs, mq: r.mq });
        }
        const warnings = this.#server?.certificateWarnings().map((w) => w.message) ?? [];
        const hb = await this.#client!.post<HeartbeatResponse>(formatPath(MASTER_PATHS.heartbeat, { id: this.#o.id }), { version: this.#o.version, warnings }, { idempotent: true, signal });
        lastContact = Date.now();
        if (failing) this.#log.info('masters reachable again');
        failing = false;
        intervalMs = hb.heartbeatIntervalMs;
        timeoutMs = hb.workerTimeoutMs;
        this.#apply(hb.assignments);
        for (const t of this.#tasks.values()) if (t.unsent) this.#report(t, t.unsent.state, t.unsent.error);
      } catch (err) {
        if (signal.aborted) break;
        if (err instanceof ControlHttpError && err.status === 404) {
          this.#log.info('not registered at the leader, registering again');
          registered = false;
          continue;
        }
        if (!failing) this.#log.warn('heartbeat failed', { error: errorMessage(err) });
        failing = true;
        if (Date.now() - lastContact > timeoutMs && this.#tasks.size > 0) {
          this.#log.warn('no master reachable for the worker timeout: assuming the tasks are gone', { timeoutMs });
          for (const id of [...this.#tasks.keys()]) this.#stopTask(id, 'masters unreachable');
        }
      }
      await delay(intervalMs, signal).catch(() => {});
    }
  }

  #apply(assignments: readonly TaskAssignment[]): void {
    const plan = reconcile(this.tasks, assignments);
    for (const id of plan.stop) this.#stopTask(id, 'no longer assigned at this epoch');
    for (const a of plan.start) this.#startTask(a);
  }

  /** The settings of a task: its sync's (configure sync), else this worker's flags. */
  #settingsOf(a: TaskAssignment): SyncSettings {
    const o = this.#o;
    return a.settings ?? { partitions: o.partitions, copySessions: o.copySessions, applyMode: o.applyMode, sourceAlias: o.sourceAlias, replicationPolicy: o.replicationPolicy };
  }

  #startTask(a: TaskAssignment): void {
    const o = this.#o;
    const settings = this.#settingsOf(a);
    const stream = streamName(a.syncId, a.run ?? null);
    const log = this.#log.child({ taskId: a.taskId, epoch: a.epoch });
    log.info('task starting', { kind: a.kind, syncId: a.syncId, run: a.run ?? null, database: a.database, settings });
    const controller = new AbortController();
    const run: TaskRun = {
      assignment: a,
      controller,
      done: Promise.resolve({ name: a.taskId, state: 'starting', attempts: 0 }),
      reported: undefined,
      unsent: undefined,
      chain: Promise.resolve(),
      current: { state: 'running', error: null },
      source: undefined,
      progressSent: undefined,
      probe:
        a.kind === 'destination'
          ? new DestinationProgressProbe({ url: o.clusterUrl, database: a.database, stream, ends: new TopicEnds({ kafka: this.#kafka!, topic: remoteTopicName(settings.replicationPolicy, settings.sourceAlias, topicName(stream, a.database, 'changes')) }) })
          : undefined,
      slotProbe: a.kind === 'source' ? new SourceSlotProbe({ url: o.clusterUrl, database: a.database, stream }) : undefined,
      runner: 'starting',
      walHigh: undefined,
    };
    const advance = (to: bigint): number => {
      const from = run.walHigh;
      if (from !== undefined && to <= from) return 0;
      run.walHigh = to;
      return from === undefined ? 0 : Number(to - from);
    };
    this.#tasks.set(a.taskId, run);
    const kafka = this.#kafka!;
    const fn = async (signal: AbortSignal): Promise<void> => {
      if (!STREAM.test(stream)) throw new InvalidOptionError('syncId', `'${stream}' is not a valid name for topics, slots and publications (1-24 of a-z, 0-9, _)`);
      if (a.kind === 'source') {
        await runSourceTask(
          {
            syncId: stream,
            database: a.database,
            sourceUrl: o.clusterUrl,
            kafka,
            partitions: settings.applyMode === 'transactional' ? 1 : settings.partitions,
            copySessions: settings.copySessions,
            chunkPages: 16_384,
            partBytes: 512 * 1024,
            heartbeatMs: 5_000,
            statusIntervalMs: 10_000,
            identityCheckMs: 2_000,
            ...recordKeyOf(a),
            log,
            onProgress: (p) => {
              run.source = p;
              this.#metrics.confirmed(a.database, advance(p.flushedLsn));
            },
          },
          signal,
        );
      } else {
        await runDestinationTask(
          {
            syncId: stream,
            database: a.database,
            targetUrl: o.clusterUrl,
            kafka,
            sourceAlias: settings.sourceAlias,
            policy: settings.replicationPolicy,
            mode: settings.applyMode,
            epoch: a.epoch,
            holder: `worker ${o.id}`,
            ...recordKeyOf(a),
            log,
            onApplied: (p) => this.#metrics.applied(a.database, p.changes, advance(p.position.lsn)),
          },
          signal,
        );
      }
    };
    run.done = runTask(`${a.kind}:${a.database}`, fn, {
      log,
      signal: controller.signal,
      onStatus: (s) => {
        run.runner = s.state;
        if (s.state === 'retrying') this.#metrics.restarted(a.kind, a.database);
        if (s.state === 'failed') this.#metrics.failed(a.kind, a.database);
        if (controller.signal.aborted) return;
        if (s.state === 'starting' || s.state === 'running') this.#report(run, 'running', null);
        else if (s.state === 'retrying') this.#report(run, 'running', s.lastError ?? null);
        else if (s.state === 'failed') this.#report(run, 'failed', s.lastError ?? 'failed');
      },
    });
    void run.done.then((s) => log.info('task ended', { state: s.state, attempts: s.attempts }));
  }

  /** Every PROGRESS_INTERVAL_MS: each running task's progress, reported when it changed. */
  async #progressLoop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await delay(PROGRESS_INTERVAL_MS, signal).catch(() => {});
      for (const run of [...this.#tasks.values()]) {
        if (signal.aborted || run.controller.signal.aborted || run.current.state !== 'running') continue;
        const a = run.assignment;
        let progress: Record<string, unknown> | undefined;
        try {
          if (a.kind === 'source') {
            const slot = await run.slotProbe?.read().catch((err: unknown) => {
              this.#log.debug('slot not read', { taskId: a.taskId, error: errorMessage(err) });
              return undefined;
            });
            progress = run.source ? { ...sourceProgress(run.source), ...slot } : undefined;
          }
          else progress = await run.probe?.read().then((p) => (p ? { ...p } : undefined));
        } catch (err) {
          this.#log.debug('progress not read', { taskId: a.taskId, error: errorMessage(err) });
          continue;
        }
        if (!progress) continue;
        const { updatedAt: _, ...stable } = progress;
        const key = JSON.stringify(stable);
        if (key === run.progressSent) continue;
        this.#report(run, run.current.state, run.current.error, progress, key);
      }
    }
  }

  #stopTask(taskId: string, reason: string): void {
    const run = this.#tasks.get(taskId);
    if (!run) return;
    this.#tasks.delete(taskId);
    this.#log.info('task stopping', { taskId, epoch: run.assignment.epoch, reason });
    run.controller.abort();
    void run.probe?.close();
    void run.slotProbe?.close();
    const done = run.done;
    this.#stopping.add(done);
    void done.finally(() => this.#stopping.delete(done));
  }

  /** Sends a status report (in order per task, only when it changed); a 409 or 404 fences the task. */
  #report(run: TaskRun, state: ReportedTaskState, error: string | null, progress?: Record<string, unknown>, progressKey?: string): void {
    const key = `${state}|${error ?? ''}|${progressKey ?? ''}`;
    run.current = { state, error };
    run.chain = run.chain.then(async () => {
      if (run.controller.signal.aborted || run.reported === key) return;
      const a = run.assignment;
      const body: TaskStatusRequest = { workerId: this.#o.id, epoch: a.epoch, state, error: error === null ? null : error.slice(0, 4096), ...(progress ? { progress } : {}) };
      try {
        await this.#client!.post(formatPath(MASTER_PATHS.taskStatus, { id: a.taskId }), body, { idempotent: true });
        run.reported = key;
        run.unsent = undefined;
        if (progressKey !== undefined) run.progressSent = progressKey;
        if (!progress) this.#log.info('task status reported', { taskId: a.taskId, epoch: a.epoch, state, ...(error !== null ? { error } : {}) });
      } catch (err) {
        if (err instanceof ControlHttpError && (err.status === 409 || err.status === 404)) {
          this.#log.warn('task fenced by the master: stopping it', { taskId: a.taskId, epoch: a.epoch, status: err.status, error: err.serverMessage });
          if (this.#tasks.get(a.taskId) === run) this.#stopTask(a.taskId, 'fenced');
          return;
        }
        run.unsent = { state, error };
        this.#log.warn('task status not reported, will retry', { taskId: a.taskId, error: errorMessage(err) });
      }
    });
  }
}

/** Runs a worker until `signal` aborts (SIGTERM/SIGINT), then stops it gracefully. */
export async function runWorker(opts: CompiledWorkerOptions, signal: AbortSignal, onReload?: (fn: () => Promise<void>) => void): Promise<void> {
  const worker = new WorkerDaemon(opts);
  onReload?.(() => worker.reload());
  if (signal.aborted) return;
  await worker.start();
  if (!signal.aborted) await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  await worker.stop();
}

/** The task's record key, when its sync run has one (a malformed one fails the task, never turns signing off). */
function recordKeyOf(a: TaskAssignment): { recordKey?: RecordKey } {
  return a.recordKey === undefined ? {} : { recordKey: parseRecordKey(a.recordKey, 'the assignment\'s record key') };
}
