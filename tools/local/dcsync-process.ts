/**
 * dcsync itself as a child process (`node bin/dcsync.js …`): daemons in the background (masters, workers, tasks) for
 * the tests, the demo and `dcsync local up`, and one-shot commands (`configure sync`, `get status`). Passwords go in
 * the environment, never on a command line, where `ps` would show them.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { INSTALL_DIR } from '../../src/core/install-dir.ts';
import { DcsyncError } from '../../src/core/errors.ts';
import { spawnDaemon, type DaemonHandle } from './process.ts';

export const REPO = INSTALL_DIR;
export const DCSYNC_BIN = path.join(REPO, 'bin/dcsync.js');

/** A dcsync command exited with another code than 0; the message ends with its stderr. */
export class DcsyncCommandError extends DcsyncError {
  constructor(message: string, readonly exitCode: number | null, readonly stdout: string, readonly stderr: string, cause?: unknown) {
    super(message, { cause });
  }
}

/**
 * Takes the password out of every postgres:// URL among `args` and returns it as DCSYNC_CLUSTER_PASSWORD (the last
 * one wins: a daemon has one cluster).
 */
export function passwordsToEnv(args: readonly string[]): { args: string[]; env: Record<string, string> } {
  const env: Record<string, string> = {};
  const safe = args.map((a) => {
    if (!/^postgres(ql)?:\/\//.test(a)) return a;
    const u = new URL(a);
    if (!u.password) return a;
    env['DCSYNC_CLUSTER_PASSWORD'] = decodeURIComponent(u.password);
    u.password = '';
    return u.toString();
  });
  return { args: safe, env };
}

/**
 * The caller's DCSYNC_* variables unset (so that a sourced `dcsync local env`, or a test's settings, do not leak
 * into the options of the child), except DCSYNC_DEBUG.
 */
export function withoutDcsyncEnv(env: NodeJS.ProcessEnv = process.env): Record<string, undefined> {
  return Object.fromEntries(Object.keys(env).filter((k) => k.startsWith('DCSYNC_') && k !== 'DCSYNC_DEBUG').map((k) => [k, undefined]));
}

export interface DcsyncDaemonOptions {
  name: string;
  /** After `dcsync`, e.g. ['run', 'master', …]; passwords in postgres:// URLs move to the environment. */
  args: readonly string[];
  logFile: string;
  env?: Record<string, string | undefined>;
  /** Before bin/dcsync.js, e.g. ['--max-old-space-size=256']. */
  nodeArgs?: readonly string[];
  /** Drop the caller's DCSYNC_* variables (see withoutDcsyncEnv); default false. */
  cleanEnv?: boolean;
  /** Let this process exit while the daemon runs on (`dcsync local up`). */
  unref?: boolean;
}

/**
 * V8 flags of dcsync's daemons, as bin/dcsync.js's `#!` line gives them: a young generation large enough that the
 * short-lived objects of a batch (decoded rows, statement parameters) die there instead of being promoted (about
 * 15 % faster decoding and planning of change batches in a microbenchmark).
 */
export const DAEMON_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=64'];

/** Starts `node bin/dcsync.js ARGS` in the background, in its own process group, output appended to logFile. */
export async function spawnDcsync(opts: DcsyncDaemonOptions): Promise<DaemonHandle> {
  const { args, env: secretEnv } = passwordsToEnv(opts.args);
  return spawnDaemon({
    name: opts.name,
    command: process.execPath,
    args: [...DAEMON_NODE_FLAGS, ...(opts.nodeArgs ?? []), DCSYNC_BIN, ...args],
    cwd: REPO,
    env: { ...(opts.cleanEnv ? withoutDcsyncEnv() : {}), ...secretEnv, ...opts.env },
    logFile: opts.logFile,
    unref: opts.unref ?? false,
  });
}

export interface DcsyncRunOptions {
  /** Added to a copy of the caller's environment without its DCSYNC_* variables. */
  env?: Record<string, string>;
  /** Default 120 s; then the command is killed. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Runs `node bin/dcsync.js ARGS` to the end; resolves with its stdout, rejects with DcsyncCommandError unless it exits 0. */
export function runDcsync(args: readonly string[], opts: DcsyncRunOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [DCSYNC_BIN, ...args],
      {
        cwd: REPO,
        env: { ...process.env, ...withoutDcsyncEnv(), ...opts.env },
        timeout: opts.timeoutMs ?? 120_000,
        killSignal: 'SIGKILL',
        maxBuffer: 16 * 1024 * 1024,
        ...(opts.signal ? { signal: opts.signal } : {}),
      },
      (err, stdout, stderr) => {
        if (!err) return resolve(stdout);
        const code = typeof err.code === 'number' ? err.code : null;
        const what = `dcsync ${args.slice(0, 2).join(' ')}`;
        const why = code !== null ? `exited with code ${code}` : err.killed ? 'was killed (timeout or abort)' : err.message;
        const said = stderr.trim().split('\n');
        const shown = said.length > 12 ? [...said.slice(0, 12), `… (${said.length - 12} more lines)`].join('\n') : said.join('\n');
        reject(new DcsyncCommandError(`${what} ${why}${shown ? `: ${shown}` : ''}`, code, stdout, stderr, err));
      },
    );
  });
}
