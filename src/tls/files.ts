import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { DcsyncError } from '../core/errors.ts';
import { FileExistsError } from './errors.ts';

/** Mode of files that hold a private key or secret. */
export const SECRET_FILE_MODE = 0o600;
/** Mode of files that hold only public material (CA certificates). */
export const PUBLIC_FILE_MODE = 0o644;

export interface WriteFileOptions {
  readonly mode: number;
  /** Replace an existing file (atomically, through a temporary file and rename). Default false. */
  readonly force?: boolean;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path, constants.F_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Throws FileExistsError for the first path that exists, unless `force`. Call it before writing several
 * files that belong together (a CA certificate and its key), so that none is written when one would be refused.
 */
export async function assertCanCreate(paths: readonly string[], force = false): Promise<void> {
  if (force) return;
  for (const p of paths) if (await exists(p)) throw new FileExistsError(p);
}

/** Creates `path` with exactly `mode` (regardless of umask) and writes `content`; fails if it exists. */
async function createExclusive(path: string, content: string, mode: number): Promise<void> {
  const fh = await open(path, 'wx', mode);
  try {
    await fh.chmod(mode);
    await fh.writeFile(content, 'utf8');
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => undefined);
    await rm(path, { force: true });
    throw err;
  }
  await fh.close();
}

/**
 * Writes a new file with the given mode. Without `force` an existing file is never touched
 * (FileExistsError); with `force` the content goes to a temporary file in the same directory first,
 * which then replaces the old file, so readers never see a half-written file or a wider mode.
 */
export async function writeNewFile(path: string, content: string, opts: WriteFileOptions): Promise<void> {
  try {
    if (!opts.force) {
      await createExclusive(path, content, opts.mode);
      return;
    }
    const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      await createExclusive(tmp, content, opts.mode);
      await rename(tmp, path);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new FileExistsError(path);
    if (err instanceof DcsyncError) throw err;
    throw new DcsyncError(`cannot write ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/** Removes files written earlier in a step that then failed; ignores errors. */
export async function removeQuietly(paths: readonly string[]): Promise<void> {
  for (const p of paths) await rm(p, { force: true }).catch(() => undefined);
}
