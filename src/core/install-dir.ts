/**
 * The directory dcsync is installed in (the one holding its package.json): found from this module's file, which is
 * src/core/install-dir.ts when run from the sources and dist/dcsync.mjs when run from the bundle (bin/dcsync.js).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function find(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

export const INSTALL_DIR = find(path.dirname(fileURLToPath(import.meta.url)));
