/**
 * `dcsync local`: a complete two-datacenter deployment on loopback that outlives the command that started it.
 *
 *   upLocal    set-up if needed, certificates, PostgreSQL + Kafka (TLS, client certificates) per datacenter, MirrorMaker 2 A→B, 3 masters and
 *              2 workers per datacenter (detached, own process groups), waits until all are ready, configures A→B
 *   downLocal  stops, by the pids in DIR/local.json, what up started: daemons first, then MirrorMaker, Kafka, PostgreSQL
 *   localPs    what runs, with pids and ports
 *   the handle of upLocal / openLocal: endpoints, files, and kill / restart of one master or worker (tests)
 *
 * Layout of DIR: local.json (state, see state.ts), logs/NAME.log, tls-ca.crt, client-auth-ca.crt, secrets/ (0700:
 * CA keys, keyfiles, JWT secrets, superuser.password), pg-a/, pg-b/, kafka-a/, kafka-b/, mm2/.
 *
 * A pid is signalled only while /proc/PID/cmdline names a file under DIR (so a pid reused by another program is never
 * killed), and PostgreSQL is stopped with `pg_ctl stop -D DIR/pg-X/data` as its OS user.
 */
import fs from 'node:fs';
import path from 'node:path';
import { DcsyncError, errorMessage, InvalidOptionError } from '../../src/core/errors.ts';
import { silentLogger, type Logger } from '../../src/core/logger.ts';
import { delay } from '../../src/core/time.ts';
import { ControlClient } from '../../src/control/index.ts';
import { MASTER_PATHS, type LeaderResponse, type WorkersResponse } from '../../src/control/v1/cluster.ts';
import { spawnDcsync } from './dcsync-process.ts';
import { logTail, waitMirrorFlow } from './kafka.ts';
import { createLocalPki, readLocalMonitoringToken, readLocalPassword } from './pki.ts';
import { freePort } from './ports.ts';
import { stopPgClusterIn } from './postgres.ts';
import { isAlive, signalPid, stopPid, waitGone } from './process.ts';
import { ensureLocalSetup } from './setup.ts';
import {
  DATACENTERS,
  datacenterOf,
  localEnv,
  LOCAL_STATE_VERSION,
  processNamed,
  readLocalState,
  readLocalStateIfAny,
  withPassword,
  writeLocalState,
  type DatacenterName,
  type LocalDatacenter,
  type LocalEnv,
  type LocalProcess,
  type LocalRole,
  type LocalState,
} from './state.ts';
import { configureLocalSync, localSyncStatus, type SyncStatus } from './sync.ts';
import { sslBootstrapOf, startDatacenterPair, type PairPart } from './two-datacenters.ts';

/** `local up` could not bring the deployment up; what it started is stopped again. */
export class LocalStartError extends DcsyncError {}

export const MASTERS_PER_DATACENTER = 3;
export const WORKERS_PER_DATACENTER = 2;
const SUPERUSER = 'postgres';
/** PostgreSQL's socket path (DIR/pg-a/.s.PGSQL.65535) must fit in 107 bytes. */
const MAX_DIR_LENGTH = 86;
/** What `local down` stops first: the daemons, then MirrorMaker (it reads A's Kafka), then Kafka, then PostgreSQL. */
const STOP_ORDER: readonly (readonly LocalRole[])[] = [['master', 'worker'], ['mirrormaker'], ['kafka'], ['postgres']];
const DAEMON_GRACE_MS = 15_000;
const KAFKA_GRACE_MS = 20_000;

/** A letter per datacenter in process names: master-a1, worker-b2. */
const LETTER: Record<DatacenterName, 'a' | 'b'> = { 'dc-a': 'a', 'dc-b': 'b' };

export interface LocalUpOptions {
  dir: string;
  /** Configure the sync A→B once everything runs; default true. */
  configure?: boolean;
  /** How long the masters and workers may take to be ready; default 180 s. */
  readyTimeoutMs?: number;
  signal?: AbortSignal;
  /** Human progress lines (the CLI prints them). */
  onProgress?: (line: string) => void;
  logger?: Logger;
}

export interface StopResult {
  readonly name: string;
  readonly pid: number;
  /** `stopped`: it ran and is gone now; `not-running`: nothing to do; `not-ours`: the pid now belongs to another program, left alone. */
  readonly outcome: 'stopped' | 'not-running' | 'not-ours';
}

export interface LocalProcessStatus extends LocalProcess {
  readonly alive: boolean;
}

/** A running local deployment: what tests and the demo use. Everything is read from and written to DIR/local.json. */
export interface LocalDeployment {
  readonly dir: string;
  /** The state as recorded now (re-read: a restart changes a pid). */
  state(): LocalState;
  /** The superuser password of both clusters (and the operator's). */
  readonly password: string;
  /** What `dcsync local env` prints. */
  readonly env: LocalEnv;
  datacenter(dc: DatacenterName): LocalDatacenter;
  /** The superuser URL of a database, password included. */
  pgUrl(dc: DatacenterName, database?: string): string;
  /** PGHOST/PGPORT/PGUSER/PGPASSWORD for psql and pgbench against a datacenter. */
  pgEnv(dc: DatacenterName): Record<string, string>;
  /** Names of the masters or workers of a datacenter (master-a1, …). */
  names(role: 'master' | 'worker', dc: DatacenterName): string[];
  /** The name of the master that leads a datacenter now (asks the masters; waits up to timeoutMs for a leader). */
  leader(dc: DatacenterName, timeoutMs?: number): Promise<string>;
  /** Sends a signal (default SIGKILL) to a master, worker, Kafka or MirrorMaker and waits until it is gone. */
  kill(name: string, signal?: NodeJS.Signals): Promise<void>;
  /** Starts a master or worker again with its arguments (stopping it first if it runs); resolves once it answers. */
  restart(name: string): Promise<LocalProcess>;
  ps(): LocalProcessStatus[];
  /** `dcsync configure sync` A→B. */
  configure(signal?: AbortSignal): Promise<void>;
  /** `dcsync get status --json` at B. */
  status(signal?: AbortSignal): Promise<SyncStatus>;
  down(): Promise<StopResult[]>;
}

// ---------------------------------------------------------------------------------------------------------------
// up

/**
 * Starts a deployment in `opts.dir` (created if missing; it must not hold one already) and returns once every
 * process is ready: each datacenter's masters agree on a leader, both workers are alive, and a probe record crossed
 * MirrorMaker. The processes outlive this process. When anything fails, or the signal aborts, whatever was started
 * is stopped again and the error is rethrown.
 */
export async function upLocal(opts: LocalUpOptions): Promise<LocalDeployment> {
  const dir = path.resolve(opts.dir);
  const progress = opts.onProgress ?? (() => {});
  const log = (opts.logger ?? silentLogger).child({ component: 'local.deployment', dir });
  const signal = opts.signal;
  prepareDir(dir);

  const missing = await ensureLocalSetup({ logFile: path.join(dir, 'logs', 'setup.log'), ...(signal ? { signal } : {}) });
  if (missing.length > 0) progress(`set-up: installed ${missing.join(' and ')} (scripts/setup.sh, log ${path.join(dir, 'logs', 'setup.log')})`);
  signal?.throwIfAborted();

  const pki = await createLocalPki(dir);
  const now = new Date().toISOString();
  const book = new StateBook({
    version: LOCAL_STATE_VERSION,
    dir,
    status: 'starting',
    createdAt: now,
    updatedAt: now,
    superuser: SUPERUSER,
    files: pki.files,
    datacenters: {},
    processes: [],
  });
  progress(`certificates and secrets: ${pki.files.tlsCaCert}, ${pki.files.clientCaCert}, ${path.dirname(pki.files.passwordFile)}/`);

  try {
    progress('starting PostgreSQL and Kafka of dc-a and dc-b, MirrorMaker 2 A→B…');
    const pair = await startDatacenterPair({
      dir,
      pgPassword: pki.password,
      unref: true,
      waitFlow: false,
      // As in production (deploy/kafka/): workers and MirrorMaker 2 reach Kafka over TLS with client certificates.
      kafkaTls: {
        brokerKeyfile: (side) => pki.issueServerKeyfile(`kafka-${side.toLowerCase()}`),
        caFile: pki.files.tlsCaCert,
        clientCaFile: pki.files.clientCaCert,
        clientKeyfile: pki.files.clientKeyfile,
      },
      onStart: (part) => book.addProcess(infraRecord(dir, part)),
      ...(signal ? { signal } : {}),
    });
    for (const [dc, pg, kafka] of [['dc-a', pair.pgA, pair.kafkaA], ['dc-b', pair.pgB, pair.kafkaB]] as const) {
      progress(`  ${dc}: PostgreSQL 127.0.0.1:${pg.port}, Kafka ${sslBootstrapOf(kafka)} (TLS, client certificates)`);
    }
    signal?.throwIfAborted();

    const ports = await distinctFreePorts(DATACENTERS.length * (MASTERS_PER_DATACENTER + WORKERS_PER_DATACENTER));
    const nextEndpoint = (): string => `https://127.0.0.1:${ports.shift()!}`;
    for (const dc of DATACENTERS) {
      const pg = dc === 'dc-a' ? pair.pgA : pair.pgB;
      const kafka = dc === 'dc-a' ? pair.kafkaA : pair.kafkaB;
      book.setDatacenter({
        name: dc,
        pgUrl: `postgresql://${SUPERUSER}@127.0.0.1:${pg.port}/postgres`,
        kafka: sslBootstrapOf(kafka),
        masters: Array.from({ length: MASTERS_PER_DATACENTER }, nextEndpoint),
        workers: Array.from({ length: WORKERS_PER_DATACENTER }, nextEndpoint),
        jwtSecret: pki.jwtSecrets[dc],
      });
    }

    progress(`starting ${MASTERS_PER_DATACENTER} masters and ${WORKERS_PER_DATACENTER} workers per datacenter…`);
    for (const dc of DATACENTERS) {
      const d = datacenterOf(book.state, dc);
      for (const [i, endpoint] of d.masters.entries()) {
        const name = `master-${LETTER[dc]}${i + 1}`;
        const keyfile = await pki.issueServerKeyfile(name);
        await startDaemon(book, { name, role: 'master', datacenter: dc, endpoint, args: masterArgs(book.state, d, endpoint, keyfile) }, pki.password);
      }
      for (const [i, endpoint] of d.workers.entries()) {
        const name = `worker-${LETTER[dc]}${i + 1}`;
        const keyfile = await pki.issueServerKeyfile(name);
        await startDaemon(book, { name, role: 'worker', datacenter: dc, endpoint, args: workerArgs(book.state, d, endpoint, keyfile) }, pki.password);
      }
    }

    const deadline = Date.now() + (opts.readyTimeoutMs ?? 180_000);
    const flow = waitMirrorFlow({
      sourceBootstrap: pair.kafkaA.bootstrap,
      targetBootstrap: pair.kafkaB.bootstrap,
      sourceAlias: 'A',
      policy: 'default',
      timeoutMs: Math.max(10_000, deadline - Date.now()),
      logger: log,
      ...(signal ? { signal } : {}),
    }).then((ms) => progress(`  MirrorMaker 2 A→B: a probe record crossed in ${(ms / 1000).toFixed(1)} s`));
    const ready = DATACENTERS.map((dc) =>
      waitDatacenterReady(book.state, dc, pki.password, deadline, signal).then((leader) => progress(`  ${dc}: ${MASTERS_PER_DATACENTER} masters (leader ${leader}), ${WORKERS_PER_DATACENTER} workers alive`)),
    );
    await settleAll([flow, ...ready]);
    book.setStatus('up');
    log.info('local deployment up', { processes: book.state.processes.length });

    if (opts.configure ?? true) {
      progress('configuring the sync A→B (dcsync configure sync)…');
      await configureLocalSync(book.state, pki.password, signal ? { signal } : {});
      progress('  sync configured');
    }
  } catch (err) {
    log.warn('local up failed; stopping what it started', { error: errorMessage(err) });
    progress(`${signal?.aborted ? 'interrupted' : `failed (${errorMessage(err).split('\n')[0]})`}; stopping what was started…`);
    await downLocal(dir, { logger: log }).catch((downErr: unknown) => log.error('stopping after a failed start failed', { error: errorMessage(downErr) }));
    // A cluster that started but could not be recorded: its data directory is ours whatever local.json says.
    for (const name of ['pg-a', 'pg-b']) await stopPgClusterIn(path.join(dir, name), log).catch(() => undefined);
    throw err;
  }
  return openLocal(dir);
}

/** Creates DIR (o+x: PostgreSQL runs as the postgres OS user inside it) and refuses one that holds a deployment. */
function prepareDir(dir: string): void {
  if (Buffer.byteLength(dir) > MAX_DIR_LENGTH) {
    throw new InvalidOptionError('dir', `'${dir}' is too long (at most ${MAX_DIR_LENGTH} bytes: PostgreSQL's socket path inside it must fit)`);
  }
  const existing = readLocalStateIfAny(dir);
  if (existing) {
    const running = localPs(existing).filter((p) => p.alive);
    throw new InvalidOptionError(
      'dir',
      running.length > 0
        ? `'${dir}' holds a running deployment (${running.length} processes): 'dcsync local down --dir ${dir}' first, or use another dir`
        : `'${dir}' holds an earlier deployment (status '${existing.status}'): remove it or use another dir`,
    );
  }
  if (!isFreshDir(dir)) throw new InvalidOptionError('dir', `'${dir}' is not empty: local up starts in a new or empty dir`);
  fs.mkdirSync(dir, { recursive: true });
  fs.chmodSync(dir, 0o755);
  fs.mkdirSync(path.join(dir, 'logs'), { recursive: true });
}

/** Missing, empty, or holding only the log of a set-up that failed (so that `local up` can be run again after it). */
function isFreshDir(dir: string): boolean {
  if (!fs.existsSync(dir)) return true;
  const entries = fs.readdirSync(dir);
  if (entries.length === 0) return true;
  return entries.length === 1 && entries[0] === 'logs' && fs.readdirSync(path.join(dir, 'logs')).every((f) => f === 'setup.log');
}

/** The state, kept in memory and written to local.json at every change (so a crash half-way still leaves the pids). */
class StateBook {
  #state: LocalState;

  constructor(initial: LocalState) {
    this.#state = initial;
    writeLocalState(initial);
  }

  get state(): LocalState {
    return this.#state;
  }

  #save(next: Omit<LocalState, 'updatedAt'>): void {
    this.#state = { ...next, updatedAt: new Date().toISOString() };
    writeLocalState(this.#state);
  }

  addProcess(p: LocalProcess): void {
    this.#save({ ...this.#state, processes: [...this.#state.processes.filter((x) => x.name !== p.name), p] });
  }

  setDatacenter(d: LocalDatacenter): void {
    this.#save({ ...this.#state, datacenters: { ...this.#state.datacenters, [d.name]: d } });
  }

  setStatus(status: LocalState['status']): void {
    this.#save({ ...this.#state, status });
  }
}

/** The record of a PostgreSQL, Kafka or MirrorMaker that startDatacenterPair reports, with its log linked into DIR/logs. */
function infraRecord(dir: string, part: PairPart): LocalProcess {
  const startedAt = new Date().toISOString();
  if (part.kind === 'postgres') {
    const name = `pg-${part.side.toLowerCase()}`;
    const pid = part.handle.pid();
    if (pid === undefined) throw new LocalStartError(`PostgreSQL ${name} reported started but has no live postmaster`);
    const logFile = linkLog(dir, name, path.join(part.handle.dir, 'postgres.log'));
    return { name, role: 'postgres', datacenter: part.side === 'A' ? 'dc-a' : 'dc-b', pid, port: part.handle.port, logFile, dir: part.handle.dir, startedAt };
  }
  if (part.kind === 'kafka') {
    const name = `kafka-${part.side.toLowerCase()}`;
    const logFile = linkLog(dir, name, part.handle.logFile);
    return { name, role: 'kafka', datacenter: part.side === 'A' ? 'dc-a' : 'dc-b', pid: part.handle.pid, port: part.handle.port, logFile, dir: part.handle.dir, startedAt };
  }
  const logFile = linkLog(dir, 'mm2', part.handle.logFile);
  return { name: 'mm2', role: 'mirrormaker', datacenter: 'dc-b', pid: part.handle.pid, port: null, logFile, dir: part.handle.dir, startedAt };
}

/** DIR/logs/NAME.log as a link to a log the program writes in its own directory. */
function linkLog(dir: string, name: string, target: string): string {
  const link = path.join(dir, 'logs', `${name}.log`);
  fs.rmSync(link, { force: true });
  fs.symlinkSync(path.relative(path.dirname(link), target), link);
  return link;
}

async function distinctFreePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

function portOf(endpoint: string): number {
  return Number(new URL(endpoint).port);
}

function masterArgs(state: LocalState, d: LocalDatacenter, endpoint: string, keyfile: string): string[] {
  return [
    'run', 'master',
    '--server.endpoint', endpoint,
    '--server.port', String(portOf(endpoint)),
    '--server.keyfile', keyfile,
    '--server.client-cafile', state.files.clientCaCert,
    '--cluster.endpoint', d.pgUrl,
    '--master.endpoint', d.masters.join(','),
    '--master.jwtSecret', d.jwtSecret,
    '--datacenter', d.name,
    '--mq.type', 'kafka',
    '--mq.kafka-addr', d.kafka,
    ...monitoringArgs(state),
  ];
}

function workerArgs(state: LocalState, d: LocalDatacenter, endpoint: string, keyfile: string): string[] {
  return [
    'run', 'worker',
    '--server.endpoint', endpoint,
    '--server.port', String(portOf(endpoint)),
    '--server.keyfile', keyfile,
    '--master.endpoint', d.masters.join(','),
    '--master.jwtSecret', d.jwtSecret,
    '--datacenter', d.name,
    '--cluster.endpoint', d.pgUrl,
    '--mq.kafka-addr', d.kafka,
    '--mq.kafka-cacert', state.files.tlsCaCert,
    '--mq.kafka-client-keyfile', state.files.clientKeyfile,
    ...monitoringArgs(state),
  ];
}

/** The token's file, never the token: a command line is visible to every user of the host. */
function monitoringArgs(state: LocalState): string[] {
  return state.files.monitoringTokenFile === undefined ? [] : ['--monitoring.token-file', state.files.monitoringTokenFile];
}

interface DaemonSpec {
  name: string;
  role: 'master' | 'worker';
  datacenter: DatacenterName;
  endpoint: string;
  args: readonly string[];
}

/** Spawns a master or worker detached (the password in DCSYNC_CLUSTER_PASSWORD) and records it. */
async function startDaemon(book: StateBook, spec: DaemonSpec, password: string): Promise<LocalProcess> {
  const logFile = path.join(book.state.dir, 'logs', `${spec.name}.log`);
  const d = await spawnDcsync({ name: spec.name, args: spec.args, logFile, env: { DCSYNC_CLUSTER_PASSWORD: password }, cleanEnv: true, unref: true });
  const record: LocalProcess = {
    name: spec.name,
    role: spec.role,
    datacenter: spec.datacenter,
    pid: d.pid,
    port: portOf(spec.endpoint),
    logFile,
    args: [...spec.args],
    startedAt: new Date().toISOString(),
  };
  book.addProcess(record);
  return record;
}

/** Awaits every promise; the first rejection is rethrown after all have settled (so none is left unobserved). */
async function settleAll(ps: readonly Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(ps);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/** https://127.0.0.1:PORT of a master or worker (its --server.endpoint). */
function endpointOf(p: LocalProcess): string {
  return `https://127.0.0.1:${p.port ?? 0}`;
}

/**
 * Until `deadline`: every master of the datacenter answers /leader and they name the same leader, and /workers (with
 * the operator's credentials, as `dcsync get workers`) lists every worker alive. A master or worker that exits
 * meanwhile fails it at once, with the end of its log. Resolves with the leader's name.
 */
async function waitDatacenterReady(state: LocalState, dc: DatacenterName, password: string, deadline: number, signal?: AbortSignal): Promise<string> {
  const d = datacenterOf(state, dc);
  const daemons = state.processes.filter((p) => p.datacenter === dc && (p.role === 'master' || p.role === 'worker'));
  const ca = fs.readFileSync(state.files.tlsCaCert, 'utf8');
  const pub = new ControlClient({ endpoints: d.masters, ca, timeout: 3_000 });
  const ops = new ControlClient({ endpoints: d.masters, ca, timeout: 5_000, auth: { kind: 'basic', username: state.superuser, password } });
  let last = 'no answer yet';
  try {
    for (;;) {
      for (const p of daemons) {
        if (!isAlive(p.pid)) throw new LocalStartError(`${p.name} (pid ${p.pid}) exited while starting; ${p.logFile}:\n${logTail(p.logFile, 20)}`);
      }
      try {
        const views = await Promise.all(d.masters.map((m) => pub.requestAt<LeaderResponse>(m, 'GET', MASTER_PATHS.leader, signal ? { signal } : {})));
        const leaders = new Set(views.map((v) => v.leader?.endpoint ?? null));
        const leader = views[0]?.leader?.endpoint ?? null;
        if (leaders.size !== 1 || leader === null) {
          last = `masters do not agree on a leader yet (${views.map((v) => `${v.self.id}: ${v.leader?.id ?? 'none'}`).join(', ')})`;
        } else {
          const workers = (await ops.get<WorkersResponse>(MASTER_PATHS.workers, signal ? { signal } : {})).workers;
          const missing = d.workers.filter((w) => !workers.some((x) => x.endpoint === w && x.alive));
          if (missing.length === 0) return daemons.find((p) => endpointOf(p) === leader)?.name ?? leader;
          last = `workers not registered or not alive yet: ${missing.join(', ')}`;
        }
      } catch (err) {
        last = errorMessage(err);
      }
      if (Date.now() >= deadline) {
        const tails = daemons.map((p) => `--- ${p.logFile}\n${logTail(p.logFile, 8)}`).join('\n');
        throw new LocalStartError(`${dc} not ready in time: ${last}\n${tails}`);
      }
      await delay(500, signal);
    }
  } finally {
    pub.close();
    ops.close();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// ps, down, kill, restart

/** Whether the pid runs a program of this deployment: alive, not a zombie, and its command line names a path under DIR. */
export function isOurs(state: Pick<LocalState, 'dir'>, pid: number): boolean {
  if (!isAlive(pid)) return false;
  let cmdline: string;
  try {
    cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return false; // gone meanwhile, or no /proc: never signal what we cannot recognise
  }
  return cmdline.split('\0').some((arg) => arg.includes(state.dir + path.sep));
}

export function localPs(state: LocalState): LocalProcessStatus[] {
  return state.processes.map((p) => ({ ...p, alive: isOurs(state, p.pid) }));
}

/**
 * Stops every process recorded in DIR/local.json: masters and workers (SIGTERM, SIGKILL after 15 s), then MirrorMaker
 * and Kafka (20 s), then PostgreSQL (`pg_ctl stop -m fast` as its OS user). Idempotent: what is gone is skipped, and
 * a pid that now belongs to another program is left alone. A dir without local.json has nothing to stop.
 */
export async function downLocal(dirArg: string, opts: { logger?: Logger } = {}): Promise<StopResult[]> {
  const state = readLocalStateIfAny(dirArg);
  if (!state) return [];
  const log = (opts.logger ?? silentLogger).child({ component: 'local.deployment', dir: state.dir });
  const results: StopResult[] = [];
  const failures: unknown[] = [];
  for (const tier of STOP_ORDER) {
    const batch = state.processes.filter((p) => tier.includes(p.role));
    const settled = await Promise.allSettled(batch.map((p) => stopOne(state, p, log)));
    for (const [i, s] of settled.entries()) {
      if (s.status === 'fulfilled') results.push(s.value);
      else failures.push(new DcsyncError(`stopping ${batch[i]!.name} (pid ${batch[i]!.pid}) failed: ${errorMessage(s.reason)}`, { cause: s.reason }));
    }
  }
  writeLocalState({ ...state, status: 'down', updatedAt: new Date().toISOString() });
  if (failures.length > 0) throw failures.length === 1 ? failures[0] : new DcsyncError(failures.map(errorMessage).join('; '), { cause: failures[0] });
  return results;
}

async function stopOne(state: LocalState, p: LocalProcess, log: Logger): Promise<StopResult> {
  if (p.role === 'postgres') {
    // pg_ctl finds the postmaster through the data directory itself, whatever pid it has now.
    const pid = p.dir ? await stopPgClusterIn(p.dir, log) : undefined;
    return { name: p.name, pid: pid ?? p.pid, outcome: pid === undefined ? 'not-running' : 'stopped' };
  }
  if (!isAlive(p.pid)) return { name: p.name, pid: p.pid, outcome: 'not-running' };
  if (!isOurs(state, p.pid)) {
    log.warn('pid belongs to another program now; left alone', { name: p.name, pid: p.pid });
    return { name: p.name, pid: p.pid, outcome: 'not-ours' };
  }
  await stopPid(p.pid, p.role === 'kafka' || p.role === 'mirrormaker' ? KAFKA_GRACE_MS : DAEMON_GRACE_MS);
  if (p.role === 'kafka' && p.dir) fs.rmSync(path.join(p.dir, 'kafka.pid'), { force: true });
  if (p.role === 'mirrormaker' && p.dir) fs.rmSync(path.join(p.dir, 'mm2.pid'), { force: true });
  log.info('stopped', { name: p.name, pid: p.pid });
  return { name: p.name, pid: p.pid, outcome: 'stopped' };
}

/**
 * Sends `signal` (default SIGKILL) to one recorded process and its process group, and waits (up to 30 s) until it is
 * gone. PostgreSQL is refused (its backends are not in its group: stop it with `local down`).
 */
export async function killLocalProcess(dir: string, name: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  const state = readLocalState(dir);
  const p = processNamed(state, name);
  if (p.role === 'postgres') throw new InvalidOptionError('name', `'${name}' is PostgreSQL: kill a master, worker, Kafka or MirrorMaker`);
  if (!isOurs(state, p.pid)) return;
  signalPid(p.pid, signal);
  if (!(await waitGone(p.pid, 30_000))) throw new DcsyncError(`${name} (pid ${p.pid}) is still alive 30 s after ${signal}`);
}

/**
 * Starts a master or worker of the deployment again, with the arguments it was started with (after stopping it if it
 * still runs), records its new pid and waits (up to timeoutMs, default 60 s) until its /health answers.
 */
export async function restartLocalProcess(dir: string, name: string, timeoutMs = 60_000): Promise<LocalProcess> {
  const state = readLocalState(dir);
  const p = processNamed(state, name);
  if ((p.role !== 'master' && p.role !== 'worker') || !p.args) throw new InvalidOptionError('name', `'${name}' is a ${p.role}: only masters and workers are restarted`);
  if (isOurs(state, p.pid)) await stopPid(p.pid, DAEMON_GRACE_MS);
  const password = await readLocalPassword(state.files);
  const d = await spawnDcsync({ name, args: p.args, logFile: p.logFile, env: { DCSYNC_CLUSTER_PASSWORD: password }, cleanEnv: true, unref: true });
  const record: LocalProcess = { ...p, pid: d.pid, startedAt: new Date().toISOString() };
  const now = readLocalState(dir);
  writeLocalState({ ...now, processes: now.processes.map((x) => (x.name === name ? record : x)), updatedAt: new Date().toISOString() });

  const client = new ControlClient({ endpoints: endpointOf(p), ca: fs.readFileSync(state.files.tlsCaCert, 'utf8'), timeout: 2_000 });
  const until = Date.now() + timeoutMs;
  try {
    for (;;) {
      if (!isAlive(d.pid)) throw new LocalStartError(`${name} exited after its restart; ${p.logFile}:\n${logTail(p.logFile, 20)}`);
      try {
        await client.get('/health');
        return record;
      } catch (err) {
        if (Date.now() > until) throw new LocalStartError(`${name} did not answer /health within ${timeoutMs} ms after its restart: ${errorMessage(err)}`);
      }
      await delay(250);
    }
  } finally {
    client.close();
  }
}

/** The name of the master that leads `dc` now (from the public /leader of any master), waiting for one up to timeoutMs. */
export async function localLeader(dir: string, dc: DatacenterName, timeoutMs = 30_000): Promise<string> {
  const state = readLocalState(dir);
  const d = datacenterOf(state, dc);
  const client = new ControlClient({ endpoints: d.masters, ca: fs.readFileSync(state.files.tlsCaCert, 'utf8'), timeout: 2_000 });
  const until = Date.now() + timeoutMs;
  let last = 'no leader';
  try {
    for (;;) {
      try {
        const r = await client.get<LeaderResponse>(MASTER_PATHS.leader);
        const leader = r.leader;
        const p = leader ? state.processes.find((x) => x.role === 'master' && endpointOf(x) === leader.endpoint) : undefined;
        if (p) return p.name;
        last = leader ? `leader ${leader.endpoint} is not a master of this deployment` : 'no leader';
      } catch (err) {
        last = errorMessage(err);
      }
      if (Date.now() > until) throw new DcsyncError(`${dc} has no leader after ${timeoutMs} ms: ${last}`);
      await delay(250);
    }
  } finally {
    client.close();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// the handle

/** The handle of the deployment recorded in `dir` (started by upLocal here or by `dcsync local up` elsewhere). */
export async function openLocal(dirArg: string): Promise<LocalDeployment> {
  const dir = path.resolve(dirArg);
  const first = readLocalState(dir);
  const password = await readLocalPassword(first.files);
  const env = localEnv(first, password, await readLocalMonitoringToken(first.files));
  return {
    dir,
    state: () => readLocalState(dir),
    password,
    env,
    datacenter: (dc) => datacenterOf(first, dc),
    pgUrl: (dc, database = 'postgres') => {
      const u = new URL(withPassword(datacenterOf(first, dc).pgUrl, password));
      u.pathname = `/${encodeURIComponent(database)}`;
      return u.toString();
    },
    pgEnv: (dc) => {
      const u = new URL(datacenterOf(first, dc).pgUrl);
      return { PGHOST: u.hostname, PGPORT: u.port, PGUSER: decodeURIComponent(u.username), PGPASSWORD: password };
    },
    names: (role, dc) => first.processes.filter((p) => p.role === role && p.datacenter === dc).map((p) => p.name),
    leader: (dc, timeoutMs) => localLeader(dir, dc, timeoutMs),
    kill: (name, signal) => killLocalProcess(dir, name, signal),
    restart: (name) => restartLocalProcess(dir, name),
    ps: () => localPs(readLocalState(dir)),
    configure: (signal) => configureLocalSync(readLocalState(dir), password, signal ? { signal } : {}),
    status: (signal) => localSyncStatus(readLocalState(dir), password, signal ? { signal } : {}),
    down: () => downLocal(dir),
  };
}
