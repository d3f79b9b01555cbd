/**
 * Local PostgreSQL 15 clusters for tests, benchmarks and `dcsync local up`.
 *
 * Layout of a cluster directory `dir`:
 *   dir/data/            PGDATA (initdb'd once; re-running on the same dir reuses it)
 *   dir/cluster.json     name, port, superuser, password (mode 0600)
 *   dir/postgres.log     server log (pg_ctl -l)
 *   dir/.s.PGSQL.<port>  the Unix socket (unix_socket_directories = dir)
 * When we run as root the server runs as the `postgres` OS user (initdb refuses root) and owns `dir`;
 * `dir` is mode 0700, so the socket's `local … trust` lines admit only that user (and root).
 * TCP on 127.0.0.1 requires scram-sha-256 for normal and replication connections.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { DcsyncError, errorMessage, InvalidOptionError } from '../../src/core/errors.ts';
import { type Logger, silentLogger } from '../../src/core/logger.ts';
import { delay } from '../../src/core/time.ts';
import { freePort } from './ports.ts';

export const PG_BINDIR = '/usr/lib/postgresql/15/bin';

/** The path of a PostgreSQL 15 program, e.g. pgBin('pg_dump'). */
export function pgBin(name: string): string {
  return path.join(PG_BINDIR, name);
}

export interface PgClusterOptions {
  /** The cluster's directory; created if missing. */
  dir: string;
  /** Shown in logs and as the server's cluster_name. */
  name: string;
  /** Default: the port stored in the dir from an earlier start, else a free port. */
  port?: number;
  /** Default 'postgres'. Fixed at initdb: a reused dir must be asked for the same superuser. */
  superuser?: string;
  /** Default: the stored password of a reused dir, else a random one. A different password is applied with ALTER ROLE. */
  password?: string;
  /** postgresql.conf settings; they override dcsync's defaults (e.g. { fsync: 'off' }). */
  settings?: Record<string, string>;
  /** PEM files; copied into PGDATA (the server insists on owning its key). */
  ssl?: { certFile: string; keyFile: string; caFile?: string };
  logger?: Logger;
  /** How long to wait for the server to accept connections; default 60 s. */
  startTimeoutMs?: number;
}

export interface PgClusterHandle {
  readonly name: string;
  readonly dir: string;
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly superuser: string;
  readonly password: string;
  /** postgresql://user:password@127.0.0.1:port/database; user and password default to the superuser's. */
  url(database?: string, user?: string, password?: string): string;
  /** PGHOST/PGPORT/PGUSER/PGPASSWORD for psql, pg_dump, pgbench (merge into a child's env). */
  pgEnv(): Record<string, string>;
  /** pg_ctl stop -m fast; nothing to do when the server is not running. */
  stop(): Promise<void>;
  /** SIGKILL the postmaster and its whole process group (a crash), then wait until every process is gone. */
  kill9(): Promise<void>;
  /** Stop if running, then start again with the same settings and wait until it accepts connections. */
  restart(): Promise<void>;
  /** The postmaster's pid from postmaster.pid when that process is alive. */
  pid(): number | undefined;
}

/** The cluster did not start or stop; `logTail` holds the end of the server log. */
export class PgClusterError extends DcsyncError {
  constructor(message: string, readonly logTail: string, cause?: unknown) {
    super(logTail ? `${message}\n--- ${LOG_FILE} (tail) ---\n${logTail}` : message, { cause });
  }
}

interface StoredCluster {
  name: string;
  port: number;
  superuser: string;
  password: string;
}

const STATE_FILE = 'cluster.json';
const LOG_FILE = 'postgres.log';
const CONF_FILE = 'dcsync.conf';
const DATA_DIR = 'data';
/** Settings the handle relies on: its port, host and socket are what callers connect to. */
const RESERVED_SETTINGS = ['port', 'listen_addresses', 'unix_socket_directories'];
/** sun_path holds 107 bytes: dir + "/.s.PGSQL.65535" must fit. */
const MAX_SOCKET_DIR_LENGTH = 91;

export async function startPgCluster(opts: PgClusterOptions): Promise<PgClusterHandle> {
  const log = (opts.logger ?? silentLogger).child({ component: 'local.postgres', cluster: opts.name });
  const dir = path.resolve(opts.dir);
  const dataDir = path.join(dir, DATA_DIR);
  const superuser = opts.superuser ?? 'postgres';
  const startTimeoutMs = opts.startTimeoutMs ?? 60_000;

  if (!existsSync(pgBin('pg_ctl'))) {
    throw new DcsyncError(`PostgreSQL 15 is not installed (${pgBin('pg_ctl')} is missing): run scripts/setup-postgres.sh`);
  }
  if (Buffer.byteLength(dir) > MAX_SOCKET_DIR_LENGTH) {
    throw new DcsyncError(`cluster dir '${dir}' is too long for a Unix socket path (max ${MAX_SOCKET_DIR_LENGTH} bytes)`);
  }
  for (const key of RESERVED_SETTINGS) {
    if (opts.settings && key in opts.settings) throw new InvalidOptionError(`settings.${key}`, 'is set by startPgCluster itself (use the port option)');
  }
  const owner = await serverOwner();
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  await fs.chmod(dir, 0o700);
  if (owner) await fs.chown(dir, owner.uid, owner.gid);
  if (owner) await assertReachable(dir, owner);

  const stored = await readStored(dir);
  const initialized = existsSync(path.join(dataDir, 'PG_VERSION'));
  if (initialized && stored && stored.superuser !== superuser) {
    throw new DcsyncError(`cluster in '${dir}' was initialized with superuser '${stored.superuser}', not '${superuser}'`);
  }
  const password = opts.password ?? stored?.password ?? randomBytes(18).toString('base64url');

  if (!initialized) {
    log.info('initializing cluster', { dir });
    const pwfile = path.join(dir, '.initdb-pw');
    await fs.writeFile(pwfile, password + '\n', { mode: 0o600 });
    try {
      if (owner) await fs.chown(pwfile, owner.uid, owner.gid);
      await run(
        pgBin('initdb'),
        ['-D', dataDir, '-U', superuser, `--pwfile=${pwfile}`, '--auth-local=trust', '--auth-host=scram-sha-256',
          '--encoding=UTF8', '--locale=C', '--lc-monetary=C', '--no-instructions'],
        { owner, cwd: dir, timeoutMs: 120_000 },
      );
    } finally {
      await fs.rm(pwfile, { force: true });
    }
  }

  const cluster = new LocalCluster({
    name: opts.name,
    dir,
    dataDir,
    owner,
    superuser,
    password,
    // After initdb the stored password (if any) belongs to a former cluster: the new one has `password`.
    storedPassword: initialized ? stored?.password : password,
    port: opts.port ?? stored?.port ?? (await freePort()),
    portFixed: opts.port !== undefined || (initialized && stored !== undefined),
    settings: opts.settings ?? {},
    ssl: opts.ssl,
    log,
    startTimeoutMs,
  });
  await cluster.start();
  return cluster;
}

/**
 * Stops the cluster in `dir` that an earlier process started (`dcsync local down`): `pg_ctl stop -m fast` as the
 * server's OS user, as PgClusterHandle.stop does; if that fails, the postmaster and its children get SIGKILL. Only a
 * live `postgres` process named by the data directory's postmaster.pid is touched. Nothing to do when none runs.
 * Resolves with the postmaster's pid it stopped, or undefined.
 */
export async function stopPgClusterIn(dir: string, logger?: Logger): Promise<number | undefined> {
  const d = path.resolve(dir);
  const stored = await readStored(d);
  const cluster = new LocalCluster({
    name: stored?.name || path.basename(d),
    dir: d,
    dataDir: path.join(d, DATA_DIR),
    owner: await serverOwner(),
    superuser: stored?.superuser ?? 'postgres',
    password: stored?.password ?? '',
    storedPassword: stored?.password,
    port: stored?.port ?? 0,
    portFixed: true,
    settings: {},
    ssl: undefined,
    log: (logger ?? silentLogger).child({ component: 'local.postgres', cluster: stored?.name || path.basename(d) }),
    startTimeoutMs: 60_000,
  });
  const pid = cluster.pid();
  if (pid === undefined) return undefined;
  try {
    await cluster.stop();
  } catch {
    await cluster.kill9();
  }
  return pid;
}

interface Owner {
  uid: number;
  gid: number;
}

interface ClusterInit {
  name: string;
  dir: string;
  dataDir: string;
  owner: Owner | undefined;
  superuser: string;
  password: string;
  storedPassword: string | undefined;
  port: number;
  portFixed: boolean;
  settings: Record<string, string>;
  ssl: PgClusterOptions['ssl'];
  log: Logger;
  startTimeoutMs: number;
}

class LocalCluster implements PgClusterHandle {
  readonly name: string;
  readonly dir: string;
  readonly host = '127.0.0.1' as const;
  readonly superuser: string;
  readonly password: string;
  #port: number;
  readonly #init: ClusterInit;

  constructor(init: ClusterInit) {
    this.#init = init;
    this.name = init.name;
    this.dir = init.dir;
    this.superuser = init.superuser;
    this.password = init.password;
    this.#port = init.port;
  }

  get port(): number {
    return this.#port;
  }

  url(database = 'postgres', user?: string, password?: string): string {
    const u = user ?? this.superuser;
    const p = password ?? (u === this.superuser ? this.password : undefined);
    const auth = encodeURIComponent(u) + (p === undefined ? '' : ':' + encodeURIComponent(p));
    return `postgresql://${auth}@${this.host}:${this.port}/${encodeURIComponent(database)}`;
  }

  pgEnv(): Record<string, string> {
    return { PGHOST: this.host, PGPORT: String(this.port), PGUSER: this.superuser, PGPASSWORD: this.password };
  }

  pid(): number | undefined {
    const pid = readPostmasterPid(this.#init.dataDir);
    return pid !== undefined && isLivePostgres(pid) ? pid : undefined;
  }

  async start(): Promise<void> {
    const { log, dataDir } = this.#init;
    if (this.pid() !== undefined) {
      log.warn('cluster already running; restarting it with the requested settings', { pid: this.pid() });
      await this.stop();
    }
    await this.#clearStaleLocks();
    for (let attempt = 1; ; attempt++) {
      await this.#writeConfig();
      const logOffset = await fileSize(path.join(this.dir, LOG_FILE));
      try {
        await run(pgBin('pg_ctl'), ['start', '-D', dataDir, '-l', path.join(this.dir, LOG_FILE), '-w', '-t', String(Math.ceil(this.#init.startTimeoutMs / 1000))], {
          owner: this.#init.owner,
          cwd: this.dir,
          timeoutMs: this.#init.startTimeoutMs + 10_000,
        });
      } catch (err) {
        const tail = await this.#logTail();
        const thisStart = await this.#logSince(logOffset);
        // Another process may have taken the port freePort() gave us; pick another one unless it was asked for.
        if (!this.#init.portFixed && attempt < 3 && /could not bind|Address already in use|could not create any TCP\/IP sockets/i.test(thisStart)) {
          log.warn('port taken, retrying with another one', { port: this.#port });
          await this.#killLeftovers();
          this.#port = await freePort();
          continue;
        }
        await this.#killLeftovers();
        throw new PgClusterError(`cluster '${this.name}' failed to start on port ${this.#port}: ${errorMessage(err)}`, tail, err);
      }
      break;
    }
    await this.#waitReady();
    await this.#applyPassword();
    await writeStored(this.dir, { name: this.name, port: this.#port, superuser: this.superuser, password: this.password });
    log.info('cluster started', { port: this.#port, pid: this.pid(), dir: this.dir });
  }

  async stop(): Promise<void> {
    const pid = this.pid();
    if (pid === undefined) return;
    try {
      await run(pgBin('pg_ctl'), ['stop', '-D', this.#init.dataDir, '-m', 'fast', '-w', '-t', '60'], {
        owner: this.#init.owner,
        cwd: this.dir,
        timeoutMs: 70_000,
      });
    } catch (err) {
      if (this.pid() === undefined) return; // it went away on its own meanwhile
      throw new PgClusterError(`cluster '${this.name}' failed to stop`, await this.#logTail(), err);
    }
    this.#init.log.info('cluster stopped', { pid });
  }

  async kill9(): Promise<void> {
    const pid = this.pid();
    if (pid === undefined) return;
    // Every backend calls setsid(), so the postmaster's process group holds only itself. Freeze the postmaster
    // (a stopped process cannot fork), then SIGKILL it and each child's group: no orphaned backend stays
    // attached to the old shared memory, which would make the next start refuse to run.
    signal(pid, 'SIGSTOP');
    for (let i = 0; i < 100 && procStat(pid)?.[0] !== 'T' && isLivePostgres(pid); i++) await delay(5);
    const victims = [pid, ...childrenOf(pid)];
    for (const child of victims.slice(1)) signal(-child, 'SIGKILL') || signal(child, 'SIGKILL');
    signal(pid, 'SIGKILL');
    const deadline = Date.now() + 30_000;
    while (victims.some(isLivePostgres)) {
      if (Date.now() > deadline) throw new DcsyncError(`cluster '${this.name}': processes of postmaster ${pid} survived SIGKILL`);
      await delay(20);
    }
    this.#init.log.info('cluster killed', { pid, processes: victims.length });
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async #writeConfig(): Promise<void> {
    const { dataDir, owner, ssl } = this.#init;
    const settings: Record<string, string> = {
      cluster_name: this.name,
      listen_addresses: '127.0.0.1',
      port: String(this.#port),
      unix_socket_directories: this.dir,
      password_encryption: 'scram-sha-256',
      wal_level: 'logical',
      max_replication_slots: '32',
      max_wal_senders: '32',
      ssl: 'off',
    };
    if (ssl) {
      await this.#copyOwned(ssl.certFile, 'server.crt', 0o644);
      await this.#copyOwned(ssl.keyFile, 'server.key', 0o600);
      Object.assign(settings, { ssl: 'on', ssl_cert_file: 'server.crt', ssl_key_file: 'server.key' });
      if (ssl.caFile) {
        await this.#copyOwned(ssl.caFile, 'root.crt', 0o644);
        settings['ssl_ca_file'] = 'root.crt';
      }
    }
    Object.assign(settings, this.#init.settings);
    const conf = [
      '# Written by dcsync (tools/local/postgres.ts) at every start; edits are overwritten.',
      ...Object.entries(settings).map(([k, v]) => `${k} = '${v.replaceAll("'", "''")}'`),
      '',
    ].join('\n');
    await writeOwned(path.join(dataDir, CONF_FILE), conf, owner, 0o600);

    const mainConf = path.join(dataDir, 'postgresql.conf');
    const text = await fs.readFile(mainConf, 'utf8');
    const include = `include '${CONF_FILE}'`;
    if (!text.split('\n').includes(include)) {
      await fs.appendFile(mainConf, `\n# dcsync: its settings come last so they win\n${include}\n`);
    }

    const hba = [
      '# Written by dcsync (tools/local/postgres.ts) at every start; edits are overwritten.',
      '# TYPE  DATABASE     USER  ADDRESS       METHOD',
      'local   all          all                 trust',
      'local   replication  all                 trust',
      'host    all          all   127.0.0.1/32  scram-sha-256',
      'host    replication  all   127.0.0.1/32  scram-sha-256',
      '',
    ].join('\n');
    await writeOwned(path.join(dataDir, 'pg_hba.conf'), hba, owner, 0o600);
  }

  /**
   * The server treats a lock file whose pid still exists as a running server, and a zombie exists: where pid 1
   * does not reap orphans (containers, sandboxes), a killed postmaster stays a zombie forever. So lock files
   * naming a pid that is not a live postgres are removed here; the server does the same for vanished pids.
   */
  async #clearStaleLocks(): Promise<void> {
    const locks = [path.join(this.#init.dataDir, 'postmaster.pid')];
    for (const entry of await fs.readdir(this.dir)) {
      if (/^\.s\.PGSQL\.\d+\.lock$/.test(entry)) locks.push(path.join(this.dir, entry));
    }
    for (const lock of locks) {
      const pid = readLockPid(lock);
      if (pid !== undefined && !isLivePostgres(pid)) {
        this.#init.log.debug('removing stale lock file', { lock, pid });
        await fs.rm(lock, { force: true });
      }
    }
  }

  async #copyOwned(from: string, to: string, mode: number): Promise<void> {
    await writeOwned(path.join(this.#init.dataDir, to), await fs.readFile(from), this.#init.owner, mode);
  }

  /** Ready means a real scram login over TCP works, not just that the postmaster wrote its pid file. */
  async #waitReady(): Promise<void> {
    const deadline = Date.now() + this.#init.startTimeoutMs;
    // Until the password is known to be the stored one, log in over the socket (trust).
    const viaSocket = this.#init.storedPassword !== this.password;
    let lastErr: unknown;
    while (Date.now() < deadline) {
      const client = new pg.Client(viaSocket ? this.#socketConfig() : { connectionString: this.url(), connectionTimeoutMillis: 5_000 });
      try {
        await client.connect();
        await client.query('SELECT 1');
        return;
      } catch (err) {
        lastErr = err;
        if (this.pid() === undefined) break;
      } finally {
        await client.end().catch(() => {});
      }
      await delay(100);
    }
    const tail = await this.#logTail();
    await this.#killLeftovers();
    throw new PgClusterError(`cluster '${this.name}' on port ${this.#port} did not accept connections: ${errorMessage(lastErr)}`, tail, lastErr);
  }

  /** A reused dir asked for a new password (or lost its cluster.json): set it through the trusted socket. */
  async #applyPassword(): Promise<void> {
    if (this.#init.storedPassword === this.password) return;
    const client = new pg.Client(this.#socketConfig());
    try {
      await client.connect();
      const quoted = (await client.query<{ q: string }>('SELECT quote_ident($1) AS q', [this.superuser])).rows[0]?.q;
      const literal = (await client.query<{ l: string }>('SELECT quote_literal($1) AS l', [this.password])).rows[0]?.l;
      await client.query(`ALTER ROLE ${quoted} PASSWORD ${literal}`);
    } finally {
      await client.end().catch(() => {});
    }
    this.#init.storedPassword = this.password;
    // Prove the TCP login works with it.
    const tcp = new pg.Client({ connectionString: this.url(), connectionTimeoutMillis: 5_000 });
    try {
      await tcp.connect();
    } finally {
      await tcp.end().catch(() => {});
    }
  }

  #socketConfig(): pg.ClientConfig {
    return { host: this.dir, port: this.#port, user: this.superuser, database: 'postgres', connectionTimeoutMillis: 5_000 };
  }

  async #logTail(lines = 40): Promise<string> {
    try {
      const text = await fs.readFile(path.join(this.dir, LOG_FILE), 'utf8');
      return text.split('\n').slice(-lines - 1).join('\n').trim();
    } catch {
      return '';
    }
  }

  async #logSince(offset: number): Promise<string> {
    try {
      return (await fs.readFile(path.join(this.dir, LOG_FILE))).subarray(offset).toString('utf8');
    } catch {
      return '';
    }
  }

  /** After a failed start, make sure nothing half-started stays behind. */
  async #killLeftovers(): Promise<void> {
    await this.kill9().catch(() => {});
  }
}

// ---------------------------------------------------------------------------------------------------------------
// processes, files, users

/** The OS user the server runs as: `postgres` when we are root (initdb refuses root), else ourselves (undefined). */
async function serverOwner(): Promise<Owner | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const [uid, gid] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])]);
    return { uid: Number(uid.trim()), gid: Number(gid.trim()) };
  } catch (err) {
    throw new DcsyncError('running as root needs the `postgres` OS user to run the server: run scripts/setup-postgres.sh', { cause: err });
  }
}

/** The server (as `postgres`) must be able to reach `dir`: every parent needs the x bit for it. */
async function assertReachable(dir: string, owner: Owner): Promise<void> {
  try {
    await run('test', ['-w', dir, '-a', '-x', dir], { owner });
  } catch {
    throw new DcsyncError(`the postgres OS user cannot reach '${dir}': a parent directory lacks o+x (e.g. a 0700 mkdtemp dir)`);
  }
}

function run(file: string, args: string[], opts: { owner?: Owner | undefined; cwd?: string; timeoutMs?: number } = {}): Promise<string> {
  const [cmd, argv] = opts.owner ? ['runuser', ['-u', 'postgres', '--', file, ...args]] : [file, args];
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      argv,
      { cwd: opts.cwd, timeout: opts.timeoutMs ?? 30_000, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024, env: { ...process.env, LC_ALL: 'C' } },
      (err, stdout, stderr) => {
        if (err) {
          const detail = (stderr || stdout).trim().split('\n').slice(-20).join('\n');
          reject(new DcsyncError(`${path.basename(file)} failed: ${detail || errorMessage(err)}`, { cause: err }));
        } else {
          resolve(stdout);
        }
      },
    );
  });
}

async function fileSize(file: string): Promise<number> {
  try {
    return (await fs.stat(file)).size;
  } catch {
    return 0;
  }
}

async function writeOwned(file: string, data: string | Buffer, owner: Owner | undefined, mode: number): Promise<void> {
  await fs.writeFile(file, data, { mode });
  await fs.chmod(file, mode);
  if (owner) await fs.chown(file, owner.uid, owner.gid);
}

async function readStored(dir: string): Promise<StoredCluster | undefined> {
  try {
    const s = JSON.parse(await fs.readFile(path.join(dir, STATE_FILE), 'utf8')) as Partial<StoredCluster>;
    if (typeof s.port === 'number' && typeof s.superuser === 'string' && typeof s.password === 'string') {
      return { name: String(s.name ?? ''), port: s.port, superuser: s.superuser, password: s.password };
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new DcsyncError(`unreadable ${STATE_FILE} in '${dir}'`, { cause: err });
  }
  return undefined;
}

async function writeStored(dir: string, s: StoredCluster): Promise<void> {
  const file = path.join(dir, STATE_FILE);
  await fs.writeFile(file + '.tmp', JSON.stringify(s, null, 2) + '\n', { mode: 0o600 });
  await fs.rename(file + '.tmp', file);
}

function readPostmasterPid(dataDir: string): number | undefined {
  return readLockPid(path.join(dataDir, 'postmaster.pid'));
}

/** The pid on the first line of postmaster.pid or a socket lock file. */
function readLockPid(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** /proc/<pid>/stat fields after the command: [state, ppid, pgrp, …]; undefined when the process is gone. */
function procStat(pid: number): string[] | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** Alive (a zombie is not: nobody may reap it here) and a postgres process (the pid was not reused). */
function isLivePostgres(pid: number): boolean {
  if (process.platform !== 'linux') {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }
  const stat = procStat(pid);
  if (!stat || stat[0] === 'Z') return false;
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'postgres';
  } catch {
    return false;
  }
}

/** Sends a signal; false when there is no such process (or group). */
function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

/** Live processes whose parent is `ppid` (Linux /proc; elsewhere none are found). */
function childrenOf(ppid: number): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const children: number[] = [];
  for (const entry of entries) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const stat = procStat(pid);
    if (stat && stat[0] !== 'Z' && Number(stat[1]) === ppid) children.push(pid);
  }
  return children;
}
