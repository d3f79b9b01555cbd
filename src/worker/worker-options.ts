/**
 * The worker's options (`dcsync run worker` flags and env), compiled once: validated, secrets resolved, defaults
 * filled in. The daemon (worker.ts) takes only the compiled form.
 */
import type { Kafka } from 'kafkajs';
import { daemonIdOf, endpointOption, portOption, requiredOption } from '../config/validate.ts';
import { resolveMonitoringToken } from '../config/monitoring-token.ts';
import { WORKER_PORT } from '../control/options.ts';
import { dcsyncVersion } from '../core/version.ts';
import { InvalidOptionError } from '../core/errors.ts';
import { createLogger, type Logger, type LogLevel } from '../core/logger.ts';
import type { ApplyMode } from '../destination/apply-loop.ts';
import { resolvePgUrl } from '../postgres/url.ts';
import type { ReplicationPolicy } from '../transport/topics.ts';

export const DEFAULT_WORKER_DATACENTER = 'default';
const DATACENTER = /^[A-Za-z0-9._-]{1,64}$/;

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

