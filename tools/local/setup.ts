/**
 * What `dcsync local up` needs on the machine (PostgreSQL 15, the Kafka and MirrorMaker 2 jars), and the repository's
 * set-up script that installs it (scripts/setup.sh: Debian's packages, Maven Central; idempotent, needs root).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs';
import path from 'node:path';
import { DcsyncError } from '../../src/core/errors.ts';
import { REPO } from './dcsync-process.ts';
import { assertKafkaLibs, logTail } from './kafka.ts';
import { pgBin } from './postgres.ts';

/** scripts/setup.sh failed; the message ends with its output. */
export class SetupError extends DcsyncError {}

export const SETUP_SCRIPT = path.join(REPO, 'scripts', 'setup.sh');

/** What is missing for a local deployment: e.g. ['PostgreSQL 15', 'Kafka jars']; empty when all is there. */
export function missingForLocal(): string[] {
  const missing: string[] = [];
  if (!existsSync(pgBin('pg_ctl'))) missing.push('PostgreSQL 15');
  try {
    assertKafkaLibs();
  } catch {
    missing.push('Kafka jars');
  }
  return missing;
}

/**
 * Runs scripts/setup.sh when something is missing, its output appended to `logFile`. Resolves with what was missing
 * (empty: nothing ran); rejects with SetupError when the script fails or the pieces are still missing afterwards.
 */
export async function ensureLocalSetup(opts: { logFile: string; signal?: AbortSignal }): Promise<string[]> {
  const missing = missingForLocal();
  if (missing.length === 0) return [];
  fs.mkdirSync(path.dirname(opts.logFile), { recursive: true });
  const fd = fs.openSync(opts.logFile, 'a');
  let code: number | null;
  try {
    code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn('bash', [SETUP_SCRIPT], { cwd: REPO, stdio: ['ignore', fd, fd], ...(opts.signal ? { signal: opts.signal } : {}) });
      child.once('error', reject);
      child.once('exit', (c) => resolve(c));
    });
  } catch (err) {
    throw new SetupError(`cannot run ${SETUP_SCRIPT}: ${(err as Error).message}`, { cause: err });
  } finally {
    fs.closeSync(fd);
  }
  if (code !== 0) throw new SetupError(`${SETUP_SCRIPT} failed (exit ${String(code)}); ${opts.logFile}:\n${logTail(opts.logFile)}`);
  const still = missingForLocal();
  if (still.length > 0) throw new SetupError(`${SETUP_SCRIPT} ran, but ${still.join(' and ')} ${still.length > 1 ? 'are' : 'is'} still missing; see ${opts.logFile}`);
  return missing;
}
