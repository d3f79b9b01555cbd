/**
 * Sync master options: the loose input (what `dcsync run master` flags, DCSYNC_* variables and a config file
 * give, or a caller in code) compiled once into a strict form. Errors name the flag.
 */
import { daemonIdOf, endpointOption, portOption, requiredOption } from '../config/validate.ts';
import { resolvePgUrl } from '../postgres/url.ts';
import { resolveMonitoringToken } from '../config/monitoring-token.ts';
import { MASTER_PORT } from '../control/options.ts';
import { InvalidOptionError } from '../core/errors.ts';
import { createLogger, type Logger, type LogLevel } from '../core/logger.ts';
import { DEFAULT_ELECTION_TIMINGS, checkElectionTimings, type ElectionTimings } from './election.ts';
import { DEFAULT_WORKER_TIMEOUT_MS } from './scheduler.ts';
import { dcsyncVersion } from '../core/version.ts';

export const MQ_TYPES = ['kafka'] as const;
export type MqType = (typeof MQ_TYPES)[number];
export const DEFAULT_DATACENTER = 'default';
const DATACENTER = /^[A-Za-z0-9._-]{1,64}$/;

export interface MasterOptions {
  /** --server.endpoint: where the other masters, the workers and the CLI reach this master (https://host:port). */
  readonly serverEndpoint: string;
  /** --server.port: port to listen on (all addresses); default 8629. */
  readonly serverPort?: number;
  /** --server.keyfile: TLS keyfile (certificate, chain, key). */
  readonly serverKeyfile: string;
  /** --server.client-cafile: the client-auth CA (for the other datacenter's masters). */
  readonly serverClientCafile?: string;
  /** --cluster.endpoint: this datacenter's PostgreSQL URL; the state lives in its `postgres` database. */
  readonly clusterEndpoint: string;
  /** --cluster.password-file: else DCSYNC_CLUSTER_PASSWORD or PGPASSWORD (or the URL's own password). */
  readonly clusterPasswordFile?: string;
  /** --cluster.cacert: CA that verifies PostgreSQL (sslmode=verify-full). */
  readonly clusterCacert?: string;
  /** --master.endpoint: the endpoints of every master of this datacenter (this one included). */
  readonly masterEndpoints?: readonly string[];
  /** --master.jwtSecret: the datacenter's JWT secret file (masters and workers). */
  readonly jwtSecretFile: string;
  /** --datacenter: this datacenter's name, the audience of the JWTs; default 'default'. */
  readonly datacenter?: string;
  /** --mq.type; default 'kafka'. */
  readonly mqType?: string;
  /** --mq.kafka-addr: this datacenter's Kafka bootstrap servers (told to workers). */
  readonly kafkaAddr?: readonly string[];
  readonly logLevel?: LogLevel;
  /** --monitoring.token: the bearer token of /metrics; without one (or a token file) the metrics routes are off. */
  readonly monitoringToken?: string;
  /** --monitoring.token-file: a file holding it (one line). */
  readonly monitoringTokenFile?: string;
  /** Database of the state; default 'postgres'. */
  readonly stateDatabase?: string;
  readonly election?: Partial<ElectionTimings>;
  /** A worker silent this long loses its tasks; default 15 s. */
  readonly workerTimeoutMs?: number;
  /** What workers are told to keep between heartbeats; default 3 s. */
  readonly heartbeatIntervalMs?: number;
  /** Between scheduling rounds on the leader; default 2 s. */
  readonly scheduleIntervalMs?: number;
  /** stop() without graceMs waits this long; default 10 s. */
  readonly stopGraceMs?: number;
  readonly logger?: Logger;
}

export interface CompiledMasterOptions {
  /** Stable across restarts: host:port of serverEndpoint. */
  readonly id: string;
  readonly serverEndpoint: string;
  readonly serverPort: number;
  readonly serverKeyfile: string;
  readonly serverClientCafile: string | undefined;
  /** With the password filled in: never log it (redactUrl). */
  readonly clusterUrl: string;
  readonly stateDatabase: string;
  readonly masterEndpoints: readonly string[];
  readonly jwtSecretFile: string;
  readonly datacenter: string;
  readonly mqType: MqType;
  readonly kafkaAddr: readonly string[];
  readonly election: ElectionTimings;
  readonly workerTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  readonly scheduleIntervalMs: number;
  readonly stopGraceMs: number;
  /** Never log it. */
  readonly monitoringToken: string | undefined;
  readonly version: string;
  readonly logger: Logger;
}

const required = requiredOption;
const endpoint = endpointOption;

function positive(key: string, v: number | undefined, fallback: number): number {
  const n = v ?? fallback;
  if (!Number.isFinite(n) || n <= 0) throw new InvalidOptionError(key, 'must be a positive number of milliseconds');
  return n;
}

export const masterIdOf = daemonIdOf;

export function compileMasterOptions(raw: MasterOptions, env: NodeJS.ProcessEnv): CompiledMasterOptions {
  const serverEndpoint = endpoint('server.endpoint', required('server.endpoint', raw.serverEndpoint));
  const serverPort = portOption('server.port', raw.serverPort ?? MASTER_PORT);
  const masterEndpoints = [...new Set((raw.masterEndpoints?.length ? raw.masterEndpoints : [serverEndpoint]).map((e) => endpoint('master.endpoint', e)))];
  if (!masterEndpoints.includes(serverEndpoint)) {
    throw new InvalidOptionError('master.endpoint', `must list every master of this datacenter, this one's --server.endpoint (${serverEndpoint}) included`);
  }
  const datacenter = raw.datacenter ?? DEFAULT_DATACENTER;
  if (!DATACENTER.test(datacenter)) throw new InvalidOptionError('datacenter', "must be 1-64 letters, digits, '.', '_' or '-'");
  const mqType = raw.mqType ?? 'kafka';
  if (!(MQ_TYPES as readonly string[]).includes(mqType)) throw new InvalidOptionError('mq.type', `must be one of ${MQ_TYPES.join(', ')}`);
  const kafkaAddr = raw.kafkaAddr ?? [];
  if (mqType === 'kafka' && kafkaAddr.length === 0) throw new InvalidOptionError('mq.kafka-addr', 'is required with --mq.type=kafka');
  for (const a of kafkaAddr) if (!/^[^\s:/]+:\d{1,5}$|^\[[0-9A-Fa-f:.]+\]:\d{1,5}$/.test(a)) throw new InvalidOptionError('mq.kafka-addr', `'${a}' is not host:port`);
  let election: ElectionTimings;
  try {
    election = checkElectionTimings({ ...DEFAULT_ELECTION_TIMINGS, ...raw.election });
  } catch (err) {
    throw new InvalidOptionError('election', (err as Error).message);
  }
  const workerTimeoutMs = positive('workerTimeout', raw.workerTimeoutMs, DEFAULT_WORKER_TIMEOUT_MS);
  const heartbeatIntervalMs = positive('heartbeatInterval', raw.heartbeatIntervalMs, 3_000);
  if (heartbeatIntervalMs * 3 > workerTimeoutMs) throw new InvalidOptionError('heartbeatInterval', 'must allow at least three heartbeats within the worker timeout');
  const clusterUrl = resolvePgUrl('cluster.endpoint', required('cluster.endpoint', raw.clusterEndpoint), raw.clusterPasswordFile, env, { caFile: raw.clusterCacert });
  return {
    id: masterIdOf(serverEndpoint),
    serverEndpoint,
    serverPort,
    serverKeyfile: required('server.keyfile', raw.serverKeyfile),
    serverClientCafile: raw.serverClientCafile === undefined || raw.serverClientCafile === '' ? undefined : raw.serverClientCafile,
    clusterUrl,
    stateDatabase: raw.stateDatabase ?? 'postgres',
    masterEndpoints,
    jwtSecretFile: required('master.jwtSecret', raw.jwtSecretFile),
    datacenter,
    mqType: mqType as MqType,
    kafkaAddr,
    election,
    workerTimeoutMs,
    heartbeatIntervalMs,
    scheduleIntervalMs: positive('scheduleInterval', raw.scheduleIntervalMs, 2_000),
    stopGraceMs: positive('stopGrace', raw.stopGraceMs, 10_000),
    monitoringToken: resolveMonitoringToken(raw.monitoringToken, raw.monitoringTokenFile),
    version: dcsyncVersion(),
    logger: raw.logger ?? createLogger({ level: raw.logLevel ?? 'info' }),
  };
}
