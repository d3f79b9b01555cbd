import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { DcsyncError, ShutdownTimeoutError } from '../../src/core/errors.ts';
import { delay } from '../../src/core/time.ts';

/** A background process could not be started (missing binary, bad cwd, ...). */
export class SpawnError extends DcsyncError {}

export interface DaemonOptions {
  /** Names the process in errors and in the log file's start banner. */
  name: string;
  command: string;
  args: readonly string[];
  cwd?: string;
  /** Added to (and overriding) the parent's environment. */
  env?: Record<string, string | undefined>;
  /** stdout and stderr are appended here; the directory is created if needed. */
  logFile: string;
  /**
   * Let the parent exit while the process runs on (a CLI that starts daemons and returns). Default false: the
   * child keeps the parent's event loop alive, so awaiting `exited` or `stop()` cannot be cut short.
   */
  unref?: boolean;
}

export interface DaemonHandle {
  readonly name: string;
  readonly pid: number;
  /** Settles when the process has exited: its exit code, or null if a signal ended it. Never rejects. */
  readonly exited: Promise<number | null>;
  /** True once the process has exited. */
  readonly hasExited: boolean;
  /** SIGTERM, then SIGKILL after graceMs; resolves once the process has exited. Safe to call more than once. */
  stop(graceMs?: number): Promise<void>;
  /** Sends a signal to the process (its process group) without waiting. No-op after exit. */
  kill(signal?: NodeJS.Signals): void;
}

/**
 * Starts a long-running process in the background, in its own process group (it survives a Ctrl-C of the
 * parent's terminal and can outlive the parent). Output is appended to `logFile`, after a banner line.
 * Resolves once the OS has started the process; a missing binary rejects with SpawnError.
 */
export async function spawnDaemon(opts: DaemonOptions): Promise<DaemonHandle> {
  fs.mkdirSync(path.dirname(opts.logFile), { recursive: true });
  fs.appendFileSync(
    opts.logFile,
    `\n--- ${new Date().toISOString()} starting ${opts.name}: ${opts.command} ${opts.args.map(redactArg).join(' ')}\n`,
  );
  const fd = fs.openSync(opts.logFile, 'a');
  let child;
  try {
    child = spawn(opts.command, opts.args, {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', fd, fd],
      detached: true,
    });
  } finally {
    fs.closeSync(fd); // the child has its own copy
  }

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(new SpawnError(`cannot start ${opts.name} (${opts.command}): ${err.message}`, { cause: err }));
    child.once('error', onError);
    child.once('spawn', () => {
      child.off('error', onError);
      resolve();
    });
  });
  const pid = child.pid;
  if (pid === undefined) throw new SpawnError(`cannot start ${opts.name}: no pid`);
  if (opts.unref) child.unref();

  let exitedFlag = false;
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      exitedFlag = true;
      resolve(code);
    });
  });
  // 'error' after spawn (e.g. a failed kill) must not become an uncaught exception.
  child.on('error', () => {});

  const kill = (signal: NodeJS.Signals = 'SIGTERM'): void => {
    if (exitedFlag) return;
    signalGroupOrPid(pid, signal, true);
  };

  return {
    name: opts.name,
    pid,
    exited,
    get hasExited() {
      return exitedFlag;
    },
    kill,
    async stop(graceMs = 10_000) {
      if (exitedFlag) return;
      child.ref(); // we wait for its exit now, even if it was unref'd
      kill('SIGTERM');
      const timer = new AbortController(); // cancels the grace timer, which would otherwise keep the event loop busy
      const outcome = await Promise.race([
        exited.then(() => 'exited' as const),
        delay(graceMs, timer.signal).then(
          () => 'timeout' as const,
          () => 'exited' as const,
        ),
      ]);
      timer.abort();
      if (outcome === 'timeout') {
        kill('SIGKILL');
        await exited;
      }
    },
  };
}

/**
 * Whether a process with this pid exists and is not a zombie. For processes known only by a pid file,
 * e.g. daemons a previous `dcsync local up` started.
 */
export function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  const stat = procStat(pid);
  return stat === undefined || stat.state !== 'Z';
}

/**
 * Stops a process known only by its pid: SIGTERM, then SIGKILL after graceMs, then waits until it is gone.
 * If the pid leads its own process group (as spawnDaemon's processes do) the whole group is signalled.
 * Throws ShutdownTimeoutError if the process still exists 5 s after SIGKILL.
 */
export async function stopPid(pid: number, graceMs = 10_000): Promise<void> {
  if (!isAlive(pid)) return;
  signalPid(pid, 'SIGTERM');
  if (await waitGone(pid, graceMs)) return;
  signalPid(pid, 'SIGKILL');
  if (await waitGone(pid, 5_000)) return;
  throw new ShutdownTimeoutError(`process ${pid} is still alive 5 s after SIGKILL`);
}

/**
 * Sends a signal to a process known only by its pid, and to its whole process group when it leads one (as
 * spawnDaemon's processes do). No-op when it is gone.
 */
export function signalPid(pid: number, signal: NodeJS.Signals): void {
  signalGroupOrPid(pid, signal, procStat(pid)?.pgid === pid);
}

/** Resolves true once the pid is gone (or a zombie), false when it still runs after `ms`. */
export async function waitGone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (!isAlive(pid)) return true;
    if (Date.now() >= deadline) return false;
    await delay(Math.min(100, Math.max(1, deadline - Date.now())));
  }
}

function signalGroupOrPid(pid: number, signal: NodeJS.Signals, group: boolean): void {
  try {
    process.kill(group ? -pid : pid, signal);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ESRCH' && group) {
      // The group is gone (or never existed): fall back to the pid itself.
      try {
        process.kill(pid, signal);
      } catch (err2) {
        if ((err2 as NodeJS.ErrnoException).code !== 'ESRCH') throw err2;
      }
    } else if (code !== 'ESRCH') {
      throw err;
    }
  }
}

/** State and process group from /proc/<pid>/stat (Linux); undefined elsewhere or when unreadable. */
function procStat(pid: number): { state: string; pgid: number } | undefined {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid pgrp ..."; comm may contain spaces and parentheses, so split after the last ')'.
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const state = rest[0];
    const pgid = Number(rest[2]);
    if (state === undefined || !Number.isFinite(pgid)) return undefined;
    return { state, pgid };
  } catch {
    return undefined;
  }
}

/** A URL's password never reaches a log file, even when a caller put it on a command line. */
export function redactArg(arg: string): string {
  return arg.replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)[^@\s]*@/gi, '$1***@');
}
