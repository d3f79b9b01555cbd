/**
 * The state file of a `dcsync local` deployment, DIR/local.json: what `local up` started (pids, ports, roles), where
 * its files are, and the endpoints of both datacenters. `local env|ps|down` and the test helpers read it; nothing else
 * knows the pids. It holds no secret (the superuser password has its own 0600 file), and is written 0600 anyway.
 *
 * Pure parts (parse, validate, env lines) are here; the processes are handled in deployment.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { DcsyncError } from '../../src/core/errors.ts';

export const LOCAL_STATE_FILE = 'local.json';
export const LOCAL_STATE_VERSION = 1;

export const DATACENTERS = ['dc-a', 'dc-b'] as const;
export type DatacenterName = (typeof DATACENTERS)[number];

/** What a process is (`local down` stops them in the reverse order: daemons, MirrorMaker, Kafka, PostgreSQL). */
export const LOCAL_ROLES = ['postgres', 'kafka', 'mirrormaker', 'master', 'worker'] as const;
export type LocalRole = (typeof LOCAL_ROLES)[number];

/**
 * Where the deployment stands. `starting`: `local up` is under way (or died half-way: `local down` still stops what
 * is recorded); `up`: every process was ready when `local up` returned; `down`: `local down` ran.
 */
export const LOCAL_STATUSES = ['starting', 'up', 'down'] as const;
export type LocalStatus = (typeof LOCAL_STATUSES)[number];

export interface LocalProcess {
  /** Unique in the deployment: pg-a, kafka-b, mm2, master-a1, worker-b2, … */
  readonly name: string;
  readonly role: LocalRole;
  /** MirrorMaker 2 runs with its target, dc-b. */
  readonly datacenter: DatacenterName;
  readonly pid: number;
  /** The port it serves on (PostgreSQL, Kafka's client port, HTTPS of masters and workers); null for MirrorMaker. */
  readonly port: number | null;
  readonly logFile: string;
  /** PostgreSQL, Kafka, MirrorMaker: the directory it works in (PostgreSQL's is stopped with `pg_ctl -D DIR/data`). */
  readonly dir?: string;
  /** dcsync daemons: the arguments after `node` (no secret among them), so that one can be started again. */
  readonly args?: readonly string[];
  readonly startedAt: string;
}

export interface LocalDatacenter {
  readonly name: DatacenterName;
  /** postgresql://SUPERUSER@127.0.0.1:PORT/postgres (no password). */
  readonly pgUrl: string;
  /** Kafka bootstrap of its TLS listener (client certificates required: files.tlsCaCert, files.clientKeyfile), 127.0.0.1:PORT. */
  readonly kafka: string;
  /** https://127.0.0.1:PORT of its masters and workers. */
  readonly masters: readonly string[];
  readonly workers: readonly string[];
  /** The datacenter's JWT secret file (0600). */
  readonly jwtSecret: string;
}

export interface LocalFiles {
  /** The one TLS CA of both datacenters: every master and worker keyfile comes from it. */
  readonly tlsCaCert: string;
  readonly tlsCaKey: string;
  /** The client-auth CA the masters accept peers and configure calls with. */
  readonly clientCaCert: string;
  readonly clientCaKey: string;
  /** A client keyfile from the client-auth CA (`configure sync --master.keyfile`). */
  readonly clientKeyfile: string;
  /** The superuser password of both clusters (0600). */
  readonly passwordFile: string;
  /** The monitoring token of every master and worker (0600; absent in deployments made before it existed). */
  readonly monitoringTokenFile?: string;
}

export interface LocalState {
  readonly version: typeof LOCAL_STATE_VERSION;
  /** Absolute. */
  readonly dir: string;
  readonly status: LocalStatus;
  readonly createdAt: string;
  readonly updatedAt: string;
  /** The superuser of both clusters, also the operator user of the masters. */
  readonly superuser: string;
  readonly files: LocalFiles;
  /** Filled in once both datacenters' PostgreSQL and Kafka run and the ports of the daemons are chosen. */
  readonly datacenters: Readonly<Partial<Record<DatacenterName, LocalDatacenter>>>;
  readonly processes: readonly LocalProcess[];
}

/** local.json is missing, unreadable or not what `local up` writes. */
export class LocalStateError extends DcsyncError {}

// ---------------------------------------------------------------------------------------------------------------
// parse and validate

type Json = Record<string, unknown>;

function fail(file: string, where: string, what: string): never {
  throw new LocalStateError(`${file}: ${where} ${what}`);
}

function obj(file: string, where: string, v: unknown): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(file, where, 'must be an object');
  return v as Json;
}

function str(file: string, where: string, v: unknown): string {
  if (typeof v !== 'string' || v === '') fail(file, where, 'must be a non-empty string');
  return v;
}

function absPath(file: string, where: string, v: unknown): string {
  const s = str(file, where, v);
  if (!path.isAbsolute(s)) fail(file, where, `must be an absolute path (got '${s}')`);
  return s;
}

function oneOf<T extends string>(file: string, where: string, v: unknown, choices: readonly T[]): T {
  if (typeof v !== 'string' || !(choices as readonly string[]).includes(v)) fail(file, where, `must be one of ${choices.join(', ')}`);
  return v as T;
}

function port(file: string, where: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65_535) fail(file, where, 'must be a port number (1-65535)');
  return v;
}

function strings(file: string, where: string, v: unknown, check: (w: string, s: unknown) => string = (w, s) => str(file, w, s)): string[] {
  if (!Array.isArray(v)) fail(file, where, 'must be an array');
  return v.map((s, i) => check(`${where}[${i}]`, s));
}

function httpsEndpoint(file: string, where: string, v: unknown): string {
  const s = str(file, where, v);
  if (!/^https:\/\/[^/\s]+:\d+$/.test(s)) fail(file, where, `must be https://HOST:PORT (got '${s}')`);
  return s;
}

function parseProcess(file: string, where: string, v: unknown): LocalProcess {
  const p = obj(file, where, v);
  const pid = p['pid'];
  if (typeof pid !== 'number' || !Number.isInteger(pid) || pid <= 1) fail(file, `${where}.pid`, 'must be a process id (an integer > 1)');
  const out: LocalProcess = {
    name: str(file, `${where}.name`, p['name']),
    role: oneOf(file, `${where}.role`, p['role'], LOCAL_ROLES),
    datacenter: oneOf(file, `${where}.datacenter`, p['datacenter'], DATACENTERS),
    pid,
    port: p['port'] === null ? null : port(file, `${where}.port`, p['port']),
    logFile: absPath(file, `${where}.logFile`, p['logFile']),
    startedAt: str(file, `${where}.startedAt`, p['startedAt']),
    ...(p['dir'] === undefined ? {} : { dir: absPath(file, `${where}.dir`, p['dir']) }),
    ...(p['args'] === undefined ? {} : { args: strings(file, `${where}.args`, p['args'], (w, s) => (typeof s === 'string' ? s : fail(file, w, 'must be a string'))) }),
  };
  if ((out.role === 'master' || out.role === 'worker') && out.args === undefined) fail(file, `${where}.args`, `is required for a ${out.role}`);
  if (out.role === 'postgres' && out.dir === undefined) fail(file, `${where}.dir`, 'is required for postgres (pg_ctl stops it by its directory)');
  return out;
}

function parseDatacenter(file: string, where: string, name: DatacenterName, v: unknown): LocalDatacenter {
  const d = obj(file, where, v);
  if (d['name'] !== name) fail(file, `${where}.name`, `must be '${name}'`);
  const pgUrl = str(file, `${where}.pgUrl`, d['pgUrl']);
  let url: URL;
  try {
    url = new URL(pgUrl);
  } catch {
    fail(file, `${where}.pgUrl`, 'must be a postgresql:// URL');
  }
  if (!/^postgres(ql)?:$/.test(url.protocol)) fail(file, `${where}.pgUrl`, 'must be a postgresql:// URL');
  if (url.password !== '') fail(file, `${where}.pgUrl`, 'must not hold a password (it has its own file)');
  const kafka = str(file, `${where}.kafka`, d['kafka']);
  if (!/^[^:\s]+:\d+$/.test(kafka)) fail(file, `${where}.kafka`, `must be HOST:PORT (got '${kafka}')`);
  return {
    name,
    pgUrl,
    kafka,
    masters: strings(file, `${where}.masters`, d['masters'], (w, s) => httpsEndpoint(file, w, s)),
    workers: strings(file, `${where}.workers`, d['workers'], (w, s) => httpsEndpoint(file, w, s)),
    jwtSecret: absPath(file, `${where}.jwtSecret`, d['jwtSecret']),
  };
}

/** Checks local.json's text and returns it typed; LocalStateError names the first thing that is wrong. */
export function parseLocalState(text: string, file = LOCAL_STATE_FILE): LocalState {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new LocalStateError(`${file}: not JSON (${(err as Error).message})`, { cause: err });
  }
  const s = obj(file, 'the file', raw);
  if (s['version'] !== LOCAL_STATE_VERSION) fail(file, 'version', `must be ${LOCAL_STATE_VERSION} (this dcsync cannot read another layout)`);
  const f = obj(file, 'files', s['files']);
  const files: LocalFiles = {
    tlsCaCert: absPath(file, 'files.tlsCaCert', f['tlsCaCert']),
    tlsCaKey: absPath(file, 'files.tlsCaKey', f['tlsCaKey']),
    clientCaCert: absPath(file, 'files.clientCaCert', f['clientCaCert']),
    clientCaKey: absPath(file, 'files.clientCaKey', f['clientCaKey']),
    clientKeyfile: absPath(file, 'files.clientKeyfile', f['clientKeyfile']),
    passwordFile: absPath(file, 'files.passwordFile', f['passwordFile']),
    ...(f['monitoringTokenFile'] !== undefined ? { monitoringTokenFile: absPath(file, 'files.monitoringTokenFile', f['monitoringTokenFile']) } : {}),
  };
  const dcs = obj(file, 'datacenters', s['datacenters']);
  const datacenters: Partial<Record<DatacenterName, LocalDatacenter>> = {};
  for (const key of Object.keys(dcs)) {
    const name = oneOf(file, `datacenters key '${key}'`, key, DATACENTERS);
    datacenters[name] = parseDatacenter(file, `datacenters.${name}`, name, dcs[key]);
  }
  if (!Array.isArray(s['processes'])) fail(file, 'processes', 'must be an array');
  const processes = s['processes'].map((p, i) => parseProcess(file, `processes[${i}]`, p));
  const seen = new Set<string>();
  for (const p of processes) {
    if (seen.has(p.name)) fail(file, 'processes', `name '${p.name}' twice`);
    seen.add(p.name);
  }
  const status = oneOf(file, 'status', s['status'], LOCAL_STATUSES);
  if (status === 'up') {
    for (const dc of DATACENTERS) if (!datacenters[dc]) fail(file, `datacenters.${dc}`, "is required once the status is 'up'");
  }
  return {
    version: LOCAL_STATE_VERSION,
    dir: absPath(file, 'dir', s['dir']),
    status,
    createdAt: str(file, 'createdAt', s['createdAt']),
    updatedAt: str(file, 'updatedAt', s['updatedAt']),
    superuser: str(file, 'superuser', s['superuser']),
    files,
    datacenters,
    processes,
  };
}

export function localStatePath(dir: string): string {
  return path.join(path.resolve(dir), LOCAL_STATE_FILE);
}

/** The state of the deployment in `dir`; undefined when there is no local.json (never started there). */
export function readLocalStateIfAny(dir: string): LocalState | undefined {
  const file = localStatePath(dir);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new LocalStateError(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  return parseLocalState(text, file);
}

/** The state of the deployment in `dir`; LocalStateError when there is none. */
export function readLocalState(dir: string): LocalState {
  const s = readLocalStateIfAny(dir);
  if (!s) throw new LocalStateError(`no dcsync local deployment in ${path.resolve(dir)} (no ${LOCAL_STATE_FILE}; start one with 'dcsync local up --dir ${dir}')`);
  return s;
}

/** Writes the state atomically (temporary file, then rename), mode 0600. */
export function writeLocalState(state: LocalState): void {
  const file = localStatePath(state.dir);
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
  fs.renameSync(tmp, file);
}

export function datacenterOf(state: LocalState, dc: DatacenterName): LocalDatacenter {
  const d = state.datacenters[dc];
  if (!d) throw new LocalStateError(`${localStatePath(state.dir)}: datacenter ${dc} was not started (status '${state.status}')`);
  return d;
}

export function processNamed(state: LocalState, name: string): LocalProcess {
  const p = state.processes.find((x) => x.name === name);
  if (!p) throw new LocalStateError(`no process '${name}' in ${localStatePath(state.dir)} (there are: ${state.processes.map((x) => x.name).join(', ')})`);
  return p;
}

// ---------------------------------------------------------------------------------------------------------------
// `dcsync local env`

/** The variables `dcsync local env` exports, in order. */
export interface LocalEnv {
  readonly DCSYNC_A_PG_URL: string;
  readonly DCSYNC_B_PG_URL: string;
  readonly DCSYNC_A_MASTERS: string;
  readonly DCSYNC_B_MASTERS: string;
  readonly DCSYNC_A_KAFKA: string;
  readonly DCSYNC_B_KAFKA: string;
  readonly DCSYNC_TLS_CACERT: string;
  readonly DCSYNC_CLIENT_KEYFILE: string;
  /** Also what `--auth.user`/`--auth.password` of every CLI command read from the environment. */
  readonly DCSYNC_AUTH_USER: string;
  readonly DCSYNC_AUTH_PASSWORD: string;
  /** The bearer token of every daemon's /metrics (what `run master|worker` read from the environment too). */
  readonly DCSYNC_MONITORING_TOKEN?: string;
}

/** The superuser URL of a datacenter with the password put in (the operator's local toy: `local env` prints it). */
export function withPassword(pgUrl: string, password: string): string {
  const u = new URL(pgUrl);
  u.password = encodeURIComponent(password);
  return u.toString();
}

export function localEnv(state: LocalState, password: string, monitoringToken?: string): LocalEnv {
  const a = datacenterOf(state, 'dc-a');
  const b = datacenterOf(state, 'dc-b');
  return {
    DCSYNC_A_PG_URL: withPassword(a.pgUrl, password),
    DCSYNC_B_PG_URL: withPassword(b.pgUrl, password),
    DCSYNC_A_MASTERS: a.masters.join(','),
    DCSYNC_B_MASTERS: b.masters.join(','),
    DCSYNC_A_KAFKA: a.kafka,
    DCSYNC_B_KAFKA: b.kafka,
    DCSYNC_TLS_CACERT: state.files.tlsCaCert,
    DCSYNC_CLIENT_KEYFILE: state.files.clientKeyfile,
    DCSYNC_AUTH_USER: state.superuser,
    DCSYNC_AUTH_PASSWORD: password,
    ...(monitoringToken !== undefined ? { DCSYNC_MONITORING_TOKEN: monitoringToken } : {}),
  };
}

const SAFE_SH = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** A word for POSIX sh: as is when it has only safe characters, else in single quotes (a ' becomes '\''). */
export function shellQuote(value: string): string {
  if (SAFE_SH.test(value)) return value;
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** `export NAME=value` lines, safe to `eval` in sh, bash and zsh. */
export function exportLines(vars: Readonly<Record<string, string>>): string[] {
  return Object.entries(vars).map(([name, value]) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new LocalStateError(`'${name}' is not a shell variable name`);
    return `export ${name}=${shellQuote(value)}`;
  });
}
