/** dcsync's version, from package.json (read once). Shown by /version, `dcsync get version` and the masters table. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { INSTALL_DIR } from './install-dir.ts';

let cached: string | undefined;

export function dcsyncVersion(): string {
  if (cached === undefined) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(INSTALL_DIR, 'package.json'), 'utf8')) as { version?: unknown };
      cached = typeof pkg.version === 'string' ? pkg.version : '0.0.0-dev';
    } catch {
      cached = '0.0.0-dev';
    }
  }
  return cached;
}
