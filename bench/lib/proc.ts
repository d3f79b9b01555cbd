/**
 * Short-lived child processes of the benchmark (pgbench, pg_dump pipelines), each in its own process group so
 * a shell pipeline can be stopped whole. Every child is tracked until it exits; killAll() ends the live ones
 * (by their own pids) on failure or Ctrl-C.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { AbortedError } from '../../src/core/time.ts';

export interface RunResult {
  stdout: string;
  stderr: string;
  ms: number;
}

export interface RunOptions {
  env?: Record<string, string>;
  signal?: AbortSignal;
}

export class Children {
  readonly #live = new Set<ChildProcess>();

  /** Runs a program to completion; rejects on a non-zero exit (with its stderr) or when `signal` aborts. */
  run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    if (opts.signal?.aborted) return Promise.reject(new AbortedError());
    const started = performance.now();
    const child = spawn(cmd, args, { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    this.#live.add(child);
    return new Promise<RunResult>((resolve, reject) => {
      let stdout = '';
      let stderr = '';
      child.stdout?.on('data', (b: Buffer) => (stdout += b.toString()));
      child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
      const onAbort = (): void => this.#kill(child, 'SIGTERM');
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      child.on('error', (err) => {
        this.#live.delete(child);
        opts.signal?.removeEventListener('abort', onAbort);
        reject(err);
      });
      child.on('close', (code, sig) => {
        this.#live.delete(child);
        opts.signal?.removeEventListener('abort', onAbort);
        if (opts.signal?.aborted) reject(new AbortedError());
        else if (code === 0) resolve({ stdout, stderr, ms: performance.now() - started });
        else reject(new Error(`${cmd} ${args.join(' ')} exited ${code ?? sig}: ${stderr.trim().slice(-2000)}`));
      });
    });
  }

  /** Runs a bash script with `set -eo pipefail` (for pipelines such as pg_dump | psql). */
  shell(script: string, opts: RunOptions = {}): Promise<RunResult> {
    return this.run('bash', ['-c', `set -eo pipefail\n${script}`], opts);
  }

  /** SIGTERM to every live child's process group, SIGKILL to those still alive 3 s later. */
  async killAll(): Promise<void> {
    const live = [...this.#live];
    if (live.length === 0) return;
    for (const c of live) this.#kill(c, 'SIGTERM');
    const deadline = Date.now() + 3_000;
    while (live.some((c) => this.#live.has(c)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    for (const c of live) if (this.#live.has(c)) this.#kill(c, 'SIGKILL');
  }

  #kill(child: ChildProcess, signal: NodeJS.Signals): void {
    const pid = child.pid;
    if (pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    try {
      process.kill(-pid, signal); // its group: bash and the programs of its pipeline
    } catch {
      try {
        process.kill(pid, signal);
      } catch {
        // gone already
      }
    }
  }
}

/** The 1, 5 and 15 minute load averages, as uptime prints them. */
export function loadAverage(): string {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    return '?';
  }
}
