/**
 * Local Kafka for integration tests and `dcsync local`: single-node KRaft brokers and a dedicated-mode MirrorMaker 2,
 * run straight from the Maven Central jars that scripts/setup-kafka.sh puts in the cache (no tarball, no Docker).
 * See /work/shared/kafka/RECIPE.md for the background; where this file and the recipe differ, this file is right.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { INSTALL_DIR } from '../../src/core/install-dir.ts';
import { DcsyncError, InvalidOptionError, errorMessage } from '../../src/core/errors.ts';
import { silentLogger, type Logger } from '../../src/core/logger.ts';
import { AbortedError, delay } from '../../src/core/time.ts';
import { Partitioners } from 'kafkajs';
import { kafkaClient } from '../../src/transport/kafka/client.ts';
import { readCaCertificates, readKeyfile } from '../../src/tls/keyfile.ts';
import { freePort } from './ports.ts';
import { isAlive, spawnDaemon, type DaemonHandle } from './process.ts';

const execFileP = promisify(execFile);

/** The jars are missing: run scripts/setup-kafka.sh. */
export class KafkaSetupError extends DcsyncError {}
/** A broker or MirrorMaker did not start or did not become ready in time; the message ends with its log tail. */
export class KafkaStartError extends DcsyncError {}
/** A probe record did not cross from the source to the target cluster in time. */
export class MirrorFlowTimeoutError extends DcsyncError {}

export const MIB = 1024 * 1024;
/** Topic that waitMirrorFlow writes its probe records to (on the source cluster). */
export const MM2_PROBE_TOPIC = 'dcsync-mm2-probe';

/** $DCSYNC_CACHE_DIR, default <repo>/.cache (the same rule as scripts/setup-kafka.sh). */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(env.DCSYNC_CACHE_DIR || path.join(INSTALL_DIR, '.cache'));
}

/** Where scripts/setup-kafka.sh copies the Kafka + MirrorMaker 2 jars. */
export function kafkaLibsDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(cacheDir(env), 'kafka', 'libs');
}

const REQUIRED_JARS = ['kafka_2.13-', 'kafka-clients-', 'connect-mirror-', 'log4j-slf4j2-impl-'];

/** Throws KafkaSetupError unless the jar cache holds the broker, MirrorMaker 2 and the log binding. */
export function assertKafkaLibs(libs: string = kafkaLibsDir()): void {
  let names: string[] = [];
  try {
    names = fs.readdirSync(libs);
  } catch {
    // reported below
  }
  const missing = REQUIRED_JARS.filter((prefix) => !names.some((n) => n.startsWith(prefix) && n.endsWith('.jar')));
  if (missing.length > 0) {
    throw new KafkaSetupError(`Kafka jars missing in ${libs} (${missing.join(', ')}…): run 'bash scripts/setup-kafka.sh'`);
  }
}

function javaBin(): string {
  return process.env.JAVA_HOME ? path.join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
}

/** JVM flags for small, fast-starting test JVMs on 2 cores (recipe §2 and §5), plus the class-data archive flag. */
function jvmArgs(heapMb: number, log4jConfig: string, cds: ClassDataArchive): string[] {
  return [
    ...cds.args,
    '-Xlog:cds*=off', // the archive dump's long list of skipped classes
    `-Xms${Math.min(64, heapMb)}m`,
    `-Xmx${heapMb}m`,
    '-XX:+UseSerialGC',
    '-XX:TieredStopAtLevel=1',
    '-XX:+ExitOnOutOfMemoryError',
    '-XX:-UsePerfData',
    '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${log4jConfig}`,
    '-cp',
    path.join(kafkaLibsDir(), '*'), // the JVM expands the wildcard
  ];
}

interface ClassDataArchive {
  args: string[];
  /** Call once the JVM has exited: keeps the archive it wrote at exit, if any. */
  settle(): void;
}

/**
 * AppCDS: the first JVM of a kind writes a dynamic class-data archive when it exits (-XX:ArchiveClassesAtExit), later
 * ones map it (-XX:SharedArchiveFile), which shortens each later start (bench/RESULTS.md). The archive's name
 * hashes the jar list, so new jars get a new archive; a JVM that cannot use an archive just starts without it.
 * Each writer gets its own temporary file, renamed into place afterwards, so concurrent test runs do not collide.
 * DCSYNC_KAFKA_CDS=0 turns it off. A JVM whose exit we will not see (`unref`) only uses an existing archive.
 */
function classDataArchive(kind: 'broker' | 'mm2' | 'storage', canWrite = true): ClassDataArchive {
  if (process.env.DCSYNC_KAFKA_CDS === '0') return { args: [], settle: () => {} };
  const libs = kafkaLibsDir();
  const hash = createHash('sha256');
  for (const name of fs.readdirSync(libs).sort()) hash.update(`${name}:${fileSize(path.join(libs, name))}\n`);
  const dir = path.join(cacheDir(), 'kafka', 'cds');
  const file = path.join(dir, `${kind}-${hash.digest('hex').slice(0, 16)}.jsa`);
  if (fs.existsSync(file)) return { args: [`-XX:SharedArchiveFile=${file}`], settle: () => {} };
  if (!canWrite) return { args: [], settle: () => {} };
  fs.mkdirSync(dir, { recursive: true });
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  return {
    args: [`-XX:ArchiveClassesAtExit=${tmp}`],
    settle() {
      try {
        if (fileSize(tmp) > 0 && !fs.existsSync(file)) fs.renameSync(tmp, file);
      } catch {
        // another run won the race, or the dir is read-only: no archive this time
      }
      fs.rmSync(tmp, { force: true });
    },
  };
}

const LOG4J2_PROPERTIES = `# written by dcsync (tools/local/kafka.ts): console only, the process's stdout goes to its log file
status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = STDOUT
logger.clients.name = org.apache.kafka.clients
logger.clients.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
# the 'XxxConfig values:' dumps (hundreds of lines per client and start); unknown-key warnings stay
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = WARN
# MirrorMaker: one line per Connect plugin and alias
logger.isolation.name = org.apache.kafka.connect.runtime.isolation
logger.isolation.level = WARN
`;

function writeLog4j(dir: string): string {
  const file = path.join(dir, 'log4j2.properties');
  fs.writeFileSync(file, LOG4J2_PROPERTIES);
  return file;
}

function properties(entries: Record<string, string | number | boolean>): string {
  return Object.entries(entries).map(([k, v]) => `${k}=${String(v)}`).join('\n') + '\n';
}

/** The last `lines` lines of a log file, for error messages. */
export function logTail(file: string, lines = 40): string {
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const len = Math.min(size, 16_384);
      const buf = Buffer.alloc(len);
      fs.readSync(fd, buf, 0, len, size - len);
      return buf.toString('utf8').split('\n').slice(-lines).join('\n');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return '(no log)';
  }
}

function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}

function readFrom(file: string, offset: number): string {
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      if (size <= offset) return '';
      const buf = Buffer.alloc(size - offset);
      fs.readSync(fd, buf, 0, buf.length, offset);
      return buf.toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return '';
  }
}

/** Waits until `pattern` appears in the log after `offset`; fails early if the process exits. */
async function waitForLogLine(daemon: DaemonHandle, logFile: string, offset: number, pattern: RegExp, deadline: number, what: string): Promise<void> {
  for (;;) {
    if (pattern.test(readFrom(logFile, offset))) return;
    if (daemon.hasExited) {
      const code = await daemon.exited;
      throw new KafkaStartError(`${what} exited (code ${String(code)}) before it was ready; log ${logFile}:\n${logTail(logFile)}`);
    }
    if (Date.now() >= deadline) throw new KafkaStartError(`${what} not ready in time (no '${pattern.source}' in its log); log ${logFile}:\n${logTail(logFile)}`);
    await delay(200);
  }
}

/** A pid file whose process is still running this exact command line (guards against pid reuse). */
function runningPidFrom(pidFile: string, cmdlineMarker: string): number | undefined {
  let pid: number;
  try {
    pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
  } catch {
    return undefined;
  }
  if (!isAlive(pid)) return undefined;
  try {
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes(cmdlineMarker) ? pid : undefined;
  } catch {
    return pid; // no /proc: trust the pid file
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Broker

export interface KafkaBrokerOptions {
  /** Holds everything: server.properties, data/, kafka.log, kafka.pid, broker.json (ports, cluster id). */
  dir: string;
  /** For logs and errors, e.g. 'A'. */
  name: string;
  /** Client port; default a free one. Once the dir is formatted the stored ports win (passing others throws). */
  port?: number;
  controllerPort?: number;
  /** Default 384. */
  heapMb?: number;
  /** Default true. */
  autoCreateTopics?: boolean;
  /** Broker message.max.bytes; default 16 MiB. */
  messageMaxBytes?: number;
  /** Extra server.properties entries (win over ours). */
  extraProperties?: Record<string, string | number | boolean>;
  /** Also listen for clients with TLS (listener 'SSL'); the PLAINTEXT listener stays for the controller and MirrorMaker. */
  ssl?: KafkaBrokerTlsOptions;
  /** Default 90 s. */
  startTimeoutMs?: number;
  /** Let this Node process exit while the broker runs on (`dcsync local up`); see DaemonOptions.unref. */
  unref?: boolean;
  logger?: Logger;
}

/**
 * The broker's TLS listener, configured with PEM files as Kafka reads them (ssl.keystore.type=PEM: a dcsync keyfile is
 * certificate, chain and unencrypted PKCS#8 key in one file; ssl.truststore.type=PEM: CA certificates).
 */
export interface KafkaBrokerTlsOptions {
  /** The broker's keyfile (dcsync create tls keyfile --host 127.0.0.1 …). */
  keyfile: string;
  /** CA certificates that client certificates must chain to; required with requireClientAuth. */
  caFile?: string;
  /** ssl.client.auth=required (else none). */
  requireClientAuth?: boolean;
  /** TLS client port; default a free one, then stored like the other ports. */
  port?: number;
}

export interface KafkaBrokerHandle {
  readonly name: string;
  /** '127.0.0.1:PORT' */
  readonly bootstrap: string;
  /** '127.0.0.1:PORT' of the TLS listener, when started with `ssl`. */
  readonly sslBootstrap?: string;
  readonly port: number;
  readonly sslPort?: number;
  readonly controllerPort: number;
  readonly dir: string;
  readonly logFile: string;
  readonly pid: number;
  /** Settles when the JVM exits (exit code, or null after a signal). */
  readonly exited: Promise<number | null>;
  /** Clean shutdown (SIGTERM), SIGKILL after graceMs (default 20 s). The data stays: start again on the same dir. */
  stop(graceMs?: number): Promise<void>;
  /** Sends a signal without waiting, e.g. 'SIGKILL' to simulate a crash (then await `exited`). */
  kill(signal?: NodeJS.Signals): void;
}

interface BrokerState {
  port: number;
  controllerPort: number;
  clusterId: string;
  /** Set once the broker was started with a TLS listener. */
  sslPort?: number;
}

/**
 * Starts a single-node KRaft Kafka (combined broker + controller) in `dir`. The first call formats the storage;
 * a later call on the same dir restarts the same broker with its data and ports. Resolves once the broker logged
 * 'Kafka Server started' and answers a kafkajs admin call; rejects with KafkaStartError (with the log tail)
 * otherwise, after killing what it started.
 */
export async function startKafkaBroker(opts: KafkaBrokerOptions): Promise<KafkaBrokerHandle> {
  assertKafkaLibs();
  const started = Date.now();
  const dir = path.resolve(opts.dir);
  const log = (opts.logger ?? silentLogger).child({ component: 'local.kafka', broker: opts.name });
  const deadline = started + (opts.startTimeoutMs ?? 90_000);
  fs.mkdirSync(dir, { recursive: true });

  const propsFile = path.join(dir, 'server.properties');
  const pidFile = path.join(dir, 'kafka.pid');
  const logFile = path.join(dir, 'kafka.log');
  const dataDir = path.join(dir, 'data');
  const stateFile = path.join(dir, 'broker.json');

  const running = runningPidFrom(pidFile, propsFile);
  if (running !== undefined) throw new KafkaStartError(`broker ${opts.name} is already running in ${dir} (pid ${running})`);

  const state = await brokerState(stateFile, opts);
  const tlsProps = opts.ssl ? await tlsListenerProperties(opts.ssl) : undefined;
  const formatted = fs.existsSync(path.join(dataDir, 'meta.properties'));
  const heapMb = opts.heapMb ?? 384;
  const log4j = writeLog4j(dir);
  fs.writeFileSync(
    propsFile,
    properties({
      'process.roles': 'broker,controller',
      'node.id': 1,
      'controller.quorum.bootstrap.servers': `127.0.0.1:${state.controllerPort}`,
      listeners: `PLAINTEXT://127.0.0.1:${state.port},CONTROLLER://127.0.0.1:${state.controllerPort}${tlsProps ? `,SSL://127.0.0.1:${state.sslPort}` : ''}`,
      'advertised.listeners': `PLAINTEXT://127.0.0.1:${state.port},CONTROLLER://127.0.0.1:${state.controllerPort}${tlsProps ? `,SSL://127.0.0.1:${state.sslPort}` : ''}`,
      'controller.listener.names': 'CONTROLLER',
      'inter.broker.listener.name': 'PLAINTEXT',
      'listener.security.protocol.map': `CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT${tlsProps ? ',SSL:SSL' : ''}`,
      'log.dirs': dataDir,
      // single node: every internal topic RF=1 / min.isr=1
      'default.replication.factor': 1,
      'offsets.topic.replication.factor': 1,
      'transaction.state.log.replication.factor': 1,
      'transaction.state.log.min.isr': 1,
      'share.coordinator.state.topic.replication.factor': 1,
      'share.coordinator.state.topic.min.isr': 1,
      // fast tests
      'group.initial.rebalance.delay.ms': 0,
      'offsets.topic.num.partitions': 1,
      'transaction.state.log.num.partitions': 1,
      'share.coordinator.state.topic.num.partitions': 1,
      'num.partitions': 1,
      'num.network.threads': 2,
      'num.io.threads': 2,
      'num.recovery.threads.per.data.dir': 1,
      'background.threads': 2,
      // After a crash (kill -9) the restarted broker cannot register while its old incarnation's session lives
      // (DUPLICATE_BROKER_REGISTRATION): 4 s instead of 9 s
      'broker.session.timeout.ms': 4_000,
      'broker.heartbeat.interval.ms': 1_000,
      'auto.create.topics.enable': opts.autoCreateTopics ?? true,
      // large records
      'message.max.bytes': opts.messageMaxBytes ?? 16 * MIB,
      'replica.fetch.max.bytes': opts.messageMaxBytes ?? 16 * MIB,
      ...tlsProps,
      ...opts.extraProperties,
    }),
  );

  if (!formatted) {
    const fmtStart = Date.now();
    const cds = classDataArchive('storage');
    try {
      await execFileP(
        javaBin(),
        [...jvmArgs(256, log4j, cds), 'kafka.tools.StorageTool', 'format', '--standalone', '--cluster-id', state.clusterId, '--config', propsFile],
        { timeout: Math.max(1_000, deadline - Date.now()) },
      );
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string };
      throw new KafkaStartError(`formatting the storage of broker ${opts.name} failed: ${errorMessage(err)}\n${e.stdout ?? ''}${e.stderr ?? ''}`, { cause: err });
    } finally {
      cds.settle();
    }
    log.debug('storage formatted', { dir: dataDir, ms: Date.now() - fmtStart });
  }

  const logOffset = fileSize(logFile);
  const cds = classDataArchive('broker', !opts.unref);
  const daemon = await spawnDaemon({
    name: `kafka-${opts.name}`,
    command: javaBin(),
    args: [...jvmArgs(heapMb, log4j, cds), 'kafka.Kafka', propsFile],
    cwd: dir,
    logFile,
    unref: opts.unref ?? false,
  });
  void daemon.exited.then(() => cds.settle());
  fs.writeFileSync(pidFile, `${daemon.pid}\n`);
  const bootstrap = `127.0.0.1:${state.port}`;

  try {
    await waitForLogLine(daemon, logFile, logOffset, /Kafka Server started/, deadline, `broker ${opts.name}`);
    await waitAdminReady(bootstrap, deadline, log, () => daemon.hasExited);
    if (daemon.hasExited) throw new KafkaStartError(`broker ${opts.name} exited during start; log ${logFile}:\n${logTail(logFile)}`);
  } catch (err) {
    await daemon.stop(2_000);
    fs.rmSync(pidFile, { force: true });
    if (err instanceof KafkaStartError) throw err;
    throw new KafkaStartError(`broker ${opts.name} not ready: ${errorMessage(err)}; log ${logFile}:\n${logTail(logFile)}`, { cause: err });
  }
  log.info('kafka broker started', { bootstrap, pid: daemon.pid, newStorage: !formatted, ms: Date.now() - started });

  return {
    name: opts.name,
    bootstrap,
    ...(tlsProps ? { sslBootstrap: `127.0.0.1:${state.sslPort}`, sslPort: state.sslPort } : {}),
    port: state.port,
    controllerPort: state.controllerPort,
    dir,
    logFile,
    pid: daemon.pid,
    exited: daemon.exited,
    async stop(graceMs = 20_000) {
      await daemon.stop(graceMs);
      fs.rmSync(pidFile, { force: true });
      log.info('kafka broker stopped', { pid: daemon.pid });
    },
    kill: (signal = 'SIGTERM') => daemon.kill(signal),
  };
}

async function brokerState(stateFile: string, opts: KafkaBrokerOptions): Promise<BrokerState> {
  if (fs.existsSync(stateFile)) {
    const s = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as BrokerState;
    if (opts.port !== undefined && opts.port !== s.port) throw new InvalidOptionError('port', `must be ${s.port} (stored in ${stateFile}) or unset`);
    if (opts.controllerPort !== undefined && opts.controllerPort !== s.controllerPort) {
      throw new InvalidOptionError('controllerPort', `must be ${s.controllerPort} (stored in ${stateFile}) or unset`);
    }
    if (opts.ssl?.port !== undefined && s.sslPort !== undefined && opts.ssl.port !== s.sslPort) {
      throw new InvalidOptionError('ssl.port', `must be ${s.sslPort} (stored in ${stateFile}) or unset`);
    }
    if (opts.ssl && s.sslPort === undefined) {
      s.sslPort = opts.ssl.port ?? (await freePortExcept([s.port, s.controllerPort]));
      fs.writeFileSync(stateFile, JSON.stringify(s, null, 2) + '\n');
    }
    return s;
  }
  const port = opts.port ?? (await freePort());
  let controllerPort = opts.controllerPort ?? (await freePort());
  while (controllerPort === port) controllerPort = await freePort();
  const s: BrokerState = { port, controllerPort, clusterId: randomClusterId() };
  if (opts.ssl) s.sslPort = opts.ssl.port ?? (await freePortExcept([port, controllerPort]));
  fs.writeFileSync(stateFile, JSON.stringify(s, null, 2) + '\n');
  return s;
}

async function freePortExcept(taken: readonly number[]): Promise<number> {
  for (;;) {
    const p = await freePort();
    if (!taken.includes(p)) return p;
  }
}

/**
 * server.properties entries of the TLS listener 'SSL' (listener-scoped, so the PLAINTEXT listener is untouched).
 * The files are checked first, so that a wrong one fails here rather than in the broker's log.
 */
async function tlsListenerProperties(tls: KafkaBrokerTlsOptions): Promise<Record<string, string>> {
  await readKeyfile(tls.keyfile);
  if (tls.requireClientAuth && !tls.caFile) throw new InvalidOptionError('ssl.caFile', 'is required with requireClientAuth (the CA that issued the client certificates)');
  if (tls.caFile) await readCaCertificates(tls.caFile);
  const p = 'listener.name.ssl.';
  return {
    [`${p}ssl.keystore.type`]: 'PEM',
    [`${p}ssl.keystore.location`]: path.resolve(tls.keyfile),
    ...(tls.caFile ? { [`${p}ssl.truststore.type`]: 'PEM', [`${p}ssl.truststore.location`]: path.resolve(tls.caFile) } : {}),
    [`${p}ssl.client.auth`]: tls.requireClientAuth ? 'required' : 'none',
    [`${p}ssl.enabled.protocols`]: 'TLSv1.3,TLSv1.2',
  };
}

/**
 * A Kafka cluster id: 16 random bytes in unpadded base64url, as `StorageTool random-uuid` prints them. Like Kafka's
 * Uuid.randomUuid() we never return one that starts with '-': StorageTool's argument parser takes it for an option.
 */
export function randomClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

async function waitAdminReady(bootstrap: string, deadline: number, log: Logger, gone: () => boolean): Promise<void> {
  let last: unknown;
  while (Date.now() < deadline && !gone()) {
    const admin = kafkaClient(bootstrap, 'dcsync-local-ready', log, { retry: { retries: 0 } }).admin();
    try {
      await admin.connect();
      const cluster = await admin.describeCluster();
      if (cluster.brokers.length > 0 && cluster.controller !== null) return;
      last = new Error('no brokers in describeCluster');
    } catch (err) {
      last = err;
    } finally {
      await admin.disconnect().catch(() => {});
    }
    await delay(250);
  }
  throw new KafkaStartError(`admin client cannot reach ${bootstrap}: ${errorMessage(last)}`);
}

// ---------------------------------------------------------------------------------------------------------------
// MirrorMaker 2

export type ReplicationPolicyName = 'default' | 'identity';

export interface ClusterRef {
  /** MM2 cluster alias, e.g. 'A'; letters, digits, '_' and '-'. */
  alias: string;
  bootstrap: string;
  /** Connect to `bootstrap` with TLS (a broker's TLS listener), verifying the brokers with `caFile`. */
  tls?: MirrorMakerTlsOptions;
}

/** MirrorMaker 2's TLS to one cluster, with PEM files as Kafka reads them (as KafkaBrokerTlsOptions). */
export interface MirrorMakerTlsOptions {
  /** CA certificates that verify the brokers (host names are checked against their certificates). */
  caFile: string;
  /** A dcsync client keyfile (certificate, chain, unencrypted key) for brokers with ssl.client.auth=required. */
  keyfile?: string;
}

export interface MirrorMakerOptions {
  /** Holds mm2.properties, mm2.log, mm2.pid. MM2's own state lives in the clusters, so any dir restarts it. */
  dir: string;
  source: ClusterRef;
  target: ClusterRef;
  policy: ReplicationPolicyName;
  /** Topics to replicate (Java regex); default '.*' (MM2 still skips its internal topics). */
  topicsRegex?: string;
  /** Default 512. */
  heapMb?: number;
  /** Largest record that must cross; sets MM2's consumer fetch and producer request sizes. Default 16 MiB. */
  maxRecordBytes?: number;
  /** Extra mm2.properties entries (win over ours). */
  extraProperties?: Record<string, string | number | boolean>;
  /** Default 60 s, until 'Kafka MirrorMaker started' (not until data flows: see waitMirrorFlow). */
  startTimeoutMs?: number;
  /** Let this Node process exit while MM2 runs on (`dcsync local up`); see DaemonOptions.unref. */
  unref?: boolean;
  logger?: Logger;
}

export interface MirrorMakerHandle {
  readonly name: string;
  readonly dir: string;
  readonly logFile: string;
  readonly pid: number;
  readonly exited: Promise<number | null>;
  /** SIGTERM, SIGKILL after graceMs (default 20 s). */
  stop(graceMs?: number): Promise<void>;
  kill(signal?: NodeJS.Signals): void;
}

const ALIAS = /^[A-Za-z0-9_-]+$/;

/** The name of `topic` from cluster `sourceAlias` on the target cluster. */
export function remoteTopicName(policy: ReplicationPolicyName, sourceAlias: string, topic: string): string {
  return policy === 'identity' ? topic : `${sourceAlias}.${topic}`;
}

/** The mm2.properties for one source → target flow (exported for `dcsync local` and for review). */
export function mirrorMakerProperties(opts: Omit<MirrorMakerOptions, 'dir' | 'logger' | 'heapMb' | 'startTimeoutMs' | 'unref'>): string {
  const { source: s, target: t } = opts;
  if (!ALIAS.test(s.alias)) throw new InvalidOptionError('source.alias', `must match ${ALIAS.source}`);
  if (!ALIAS.test(t.alias)) throw new InvalidOptionError('target.alias', `must match ${ALIAS.source}`);
  if (s.alias === t.alias) throw new InvalidOptionError('target.alias', 'must differ from source.alias');
  const maxBytes = opts.maxRecordBytes ?? 16 * MIB;
  const flow = `${s.alias}->${t.alias}`;
  const back = `${t.alias}->${s.alias}`;
  return properties({
    clusters: `${s.alias}, ${t.alias}`,
    [`${s.alias}.bootstrap.servers`]: s.bootstrap,
    [`${t.alias}.bootstrap.servers`]: t.bootstrap,
    ...mirrorMakerTlsProperties(s),
    ...mirrorMakerTlsProperties(t),
    [`${flow}.enabled`]: true,
    [`${flow}.topics`]: opts.topicsRegex ?? '.*',
    [`${back}.enabled`]: false,
    [`${back}.emit.heartbeats.enabled`]: false,
    'replication.policy.class':
      opts.policy === 'identity' ? 'org.apache.kafka.connect.mirror.IdentityReplicationPolicy' : 'org.apache.kafka.connect.mirror.DefaultReplicationPolicy',
    // RF=1 everywhere (single-node clusters)
    'replication.factor': 1,
    'checkpoints.topic.replication.factor': 1,
    'heartbeats.topic.replication.factor': 1,
    'offset-syncs.topic.replication.factor': 1,
    'config.storage.replication.factor': 1,
    'offset.storage.replication.factor': 1,
    'status.storage.replication.factor': 1,
    'offset.storage.partitions': 1,
    'status.storage.partitions': 1,
    // fast discovery and sync
    'refresh.topics.interval.seconds': 2,
    'refresh.groups.interval.seconds': 2,
    'emit.checkpoints.interval.seconds': 1,
    'sync.group.offsets.enabled': true,
    'sync.group.offsets.interval.seconds': 1,
    'emit.heartbeats.interval.seconds': 1,
    'sync.topic.configs.interval.seconds': 10,
    'sync.topic.acls.enabled': false,
    'offset.lag.max': 0,
    'tasks.max': 1,
    // Find the Connect plugins through their ServiceLoader manifests only: the default (hybrid_warn) also scans the
    // whole classpath by reflection, once for MM2's config and once per herder, which takes seconds.
    'plugin.discovery': 'service_load',
    [`${t.alias}.plugin.discovery`]: 'service_load',
    // The Connect worker of the herder that targets t (keys prefixed with the target alias go to it).
    // Commit the source offsets every second, not every 60 s: after a kill -9, MM2 re-sends everything since the
    // last commit, up to a minute of records with the default.
    [`${t.alias}.offset.flush.interval.ms`]: 1_000,
    // Hand a departed worker's tasks to the others at once instead of holding them for up to 5 min. With a single
    // MM2 process this is not what delays a restart (the restarted worker is a new leader and assigns everything
    // at once); it matters when several MM2 processes share the work.
    [`${t.alias}.scheduled.rebalance.max.delay.ms`]: 0,
    // A killed MM2 stays a member of the Connect group until its session times out, and the restarted one cannot
    // join before that: 6 s (the brokers' default group.min.session.timeout.ms) instead of Connect's 10 s.
    [`${t.alias}.session.timeout.ms`]: 6_000,
    [`${t.alias}.heartbeat.interval.ms`]: 2_000,
    // Large records: the source consumer fetches them whole, the worker's producer may send them to t.
    [`${s.alias}.consumer.max.partition.fetch.bytes`]: maxBytes,
    [`${s.alias}.consumer.fetch.max.bytes`]: Math.max(maxBytes, 50 * MIB),
    [`${t.alias}.producer.max.request.size`]: maxBytes,
    [`${t.alias}.producer.buffer.memory`]: Math.max(4 * maxBytes, 32 * MIB),
    ...opts.extraProperties,
  });
}

/**
 * The `<alias>.`-prefixed client settings of a TLS cluster: in dedicated mode they apply to every client MirrorMaker
 * makes for that cluster (the mirror's consumer or producer, the admin clients, the Connect worker's own topics).
 */
function mirrorMakerTlsProperties(c: ClusterRef): Record<string, string> {
  if (!c.tls) return {};
  const p = `${c.alias}.`;
  return {
    [`${p}security.protocol`]: 'SSL',
    [`${p}ssl.truststore.type`]: 'PEM',
    [`${p}ssl.truststore.location`]: path.resolve(c.tls.caFile),
    ...(c.tls.keyfile ? { [`${p}ssl.keystore.type`]: 'PEM', [`${p}ssl.keystore.location`]: path.resolve(c.tls.keyfile) } : {}),
    [`${p}ssl.enabled.protocols`]: 'TLSv1.3,TLSv1.2',
  };
}

/**
 * Starts MirrorMaker 2 in dedicated mode for source → target only (`--clusters <target>`). Resolves once MM2 logged
 * 'Kafka MirrorMaker started', which only means its herders are up: use waitMirrorFlow to wait for data to flow.
 */
export async function startMirrorMaker(opts: MirrorMakerOptions): Promise<MirrorMakerHandle> {
  assertKafkaLibs();
  const started = Date.now();
  const dir = path.resolve(opts.dir);
  const name = `mm2-${opts.source.alias}-${opts.target.alias}`;
  const log = (opts.logger ?? silentLogger).child({ component: 'local.mm2', flow: `${opts.source.alias}->${opts.target.alias}` });
  const deadline = started + (opts.startTimeoutMs ?? 60_000);
  fs.mkdirSync(dir, { recursive: true });
  const propsFile = path.join(dir, 'mm2.properties');
  const pidFile = path.join(dir, 'mm2.pid');
  const logFile = path.join(dir, 'mm2.log');

  const running = runningPidFrom(pidFile, propsFile);
  if (running !== undefined) throw new KafkaStartError(`MirrorMaker is already running in ${dir} (pid ${running})`);
  fs.writeFileSync(propsFile, mirrorMakerProperties(opts));
  const log4j = writeLog4j(dir);

  const logOffset = fileSize(logFile);
  const cds = classDataArchive('mm2', !opts.unref);
  const daemon = await spawnDaemon({
    name,
    command: javaBin(),
    args: [...jvmArgs(opts.heapMb ?? 512, log4j, cds), 'org.apache.kafka.connect.mirror.MirrorMaker', propsFile, '--clusters', opts.target.alias],
    cwd: dir,
    logFile,
    unref: opts.unref ?? false,
  });
  void daemon.exited.then(() => cds.settle());
  fs.writeFileSync(pidFile, `${daemon.pid}\n`);
  try {
    await waitForLogLine(daemon, logFile, logOffset, /Kafka MirrorMaker started/, deadline, 'MirrorMaker');
  } catch (err) {
    await daemon.stop(2_000);
    fs.rmSync(pidFile, { force: true });
    throw err;
  }
  log.info('mirror maker started', { pid: daemon.pid, policy: opts.policy, ms: Date.now() - started });
  return {
    name,
    dir,
    logFile,
    pid: daemon.pid,
    exited: daemon.exited,
    async stop(graceMs = 20_000) {
      await daemon.stop(graceMs);
      fs.rmSync(pidFile, { force: true });
      log.info('mirror maker stopped', { pid: daemon.pid });
    },
    kill: (signal = 'SIGTERM') => daemon.kill(signal),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Readiness of the flow

export interface WaitForTopicOptions {
  bootstrap: string;
  topic: string;
  /** Also wait until the topic has at least this many partitions. */
  partitions?: number;
  /** Default 60 s. */
  timeoutMs?: number;
  logger?: Logger;
  signal?: AbortSignal;
}

/** Polls the cluster's metadata until the topic exists (without auto-creating it). */
export async function waitForTopic(opts: WaitForTopicOptions): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  const admin = kafkaClient(opts.bootstrap, 'dcsync-local-wait-topic', opts.logger, { retry: { retries: 1 } }).admin();
  try {
    for (;;) {
      try {
        await admin.connect(); // a no-op once connected; retried here while the broker is unreachable
        const topics = await admin.listTopics();
        if (topics.includes(opts.topic)) {
          if (opts.partitions === undefined) return;
          const md = await admin.fetchTopicMetadata({ topics: [opts.topic] });
          if ((md.topics[0]?.partitions.length ?? 0) >= opts.partitions) return;
        }
      } catch {
        // transient (e.g. broker restarting): poll again
      }
      if (Date.now() >= deadline) throw new MirrorFlowTimeoutError(`topic '${opts.topic}' did not appear on ${opts.bootstrap} in time`);
      await delay(300, opts.signal);
    }
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

export interface WaitMirrorFlowOptions {
  sourceBootstrap: string;
  targetBootstrap: string;
  sourceAlias: string;
  policy: ReplicationPolicyName;
  /** Default 120 s. */
  timeoutMs?: number;
  logger?: Logger;
  signal?: AbortSignal;
}

/**
 * Proves that MirrorMaker replicates right now: writes a unique probe record to MM2_PROBE_TOPIC on the source and
 * waits until it can be read on the target under its remote name. Resolves with the milliseconds it took.
 */
export async function waitMirrorFlow(opts: WaitMirrorFlowOptions): Promise<number> {
  const started = Date.now();
  const deadline = started + (opts.timeoutMs ?? 120_000);
  const log = (opts.logger ?? silentLogger).child({ component: 'local.mm2-probe' });
  const probe = `probe-${randomUUID()}`;
  const remote = remoteTopicName(opts.policy, opts.sourceAlias, MM2_PROBE_TOPIC);

  // 1. the probe record on the source (the topic is created on first use, with one partition)
  const source = kafkaClient(opts.sourceBootstrap, 'dcsync-local-probe', log);
  const admin = source.admin();
  const producer = source.producer({ allowAutoTopicCreation: false, idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
  try {
    await admin.connect();
    await producer.connect();
    for (;;) {
      try {
        const topics = await admin.listTopics();
        if (!topics.includes(MM2_PROBE_TOPIC)) await admin.createTopics({ topics: [{ topic: MM2_PROBE_TOPIC, numPartitions: 1 }], waitForLeaders: true });
        await producer.send({ topic: MM2_PROBE_TOPIC, acks: -1, messages: [{ key: probe, value: probe }] });
        break;
      } catch (err) {
        if (Date.now() >= deadline) throw new MirrorFlowTimeoutError(`cannot write the probe to ${opts.sourceBootstrap}: ${errorMessage(err)}`, { cause: err });
        await delay(500, opts.signal);
      }
    }
  } finally {
    await producer.disconnect().catch(() => {});
    await admin.disconnect().catch(() => {});
  }

  // 2. the remote topic on the target (never auto-created by us), then the probe record in it
  await waitForTopic({ bootstrap: opts.targetBootstrap, topic: remote, timeoutMs: Math.max(0, deadline - Date.now()), logger: log, ...(opts.signal ? { signal: opts.signal } : {}) });
  const target = kafkaClient(opts.targetBootstrap, 'dcsync-local-probe', log);
  const groupId = `dcsync-mm2-probe-${randomUUID()}`;
  const consumer = target.consumer({ groupId, allowAutoTopicCreation: false, sessionTimeout: 10_000, heartbeatInterval: 1_000, maxWaitTimeInMs: 500 });
  const stopTimer = new AbortController();
  const signal = opts.signal ? AbortSignal.any([stopTimer.signal, opts.signal]) : stopTimer.signal;
  let found!: () => void;
  const seen = new Promise<void>((resolve) => (found = resolve));
  try {
    await consumer.connect();
    await consumer.subscribe({ topic: remote, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ message }) => {
        if (message.value?.toString() === probe) found();
      },
    });
    const timeout = delay(Math.max(0, deadline - Date.now()), signal).then(
      () => 'timeout' as const,
      () => 'aborted' as const,
    );
    const outcome = await Promise.race([seen.then(() => 'seen' as const), timeout]);
    if (outcome === 'aborted') throw new AbortedError();
    if (outcome === 'timeout') {
      throw new MirrorFlowTimeoutError(`probe record did not reach '${remote}' on ${opts.targetBootstrap} within ${opts.timeoutMs ?? 120_000} ms`);
    }
  } finally {
    stopTimer.abort();
    await consumer.disconnect().catch(() => {});
    const targetAdmin = target.admin();
    await targetAdmin
      .connect()
      .then(() => targetAdmin.deleteGroups([groupId]))
      .catch(() => {})
      .finally(() => targetAdmin.disconnect().catch(() => {}));
  }
  const ms = Date.now() - started;
  log.info('mirror flow verified', { topic: remote, ms });
  return ms;
}
