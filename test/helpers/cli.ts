/**
 * Runs the `dcsync` command as an operator would, for tests that check exit codes and output: the test runner's
 * own DCSYNC_* variables never reach it, only the ones passed in `env`.
 */
import { execFile } from 'node:child_process';
import { DCSYNC_BIN, REPO } from '../../tools/local/dcsync-process.ts';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Every DCSYNC_* variable of the test runner, unset (for spawned daemons' environments). */
export const CLEAN_ENV: Record<string, string | undefined> = Object.fromEntries(Object.keys(process.env).filter((k) => k.startsWith('DCSYNC_')).map((k) => [k, undefined]));

export function dcsyncCli(args: readonly string[], env: Record<string, string> = {}, timeoutMs = 60_000): Promise<CliRun> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DCSYNC_')));
  return new Promise((done) => {
    execFile(process.execPath, [DCSYNC_BIN, ...args], { cwd: REPO, env: { ...base, ...env }, timeout: timeoutMs }, (err, stdout, stderr) => {
      done({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}
