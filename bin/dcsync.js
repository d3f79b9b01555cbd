#!/usr/bin/env -S node --max-semi-space-size=64
// --max-semi-space-size: see DAEMON_NODE_FLAGS in tools/local/dcsync-process.ts.
// Starts from dist/dcsync.mjs (scripts/bundle.mjs, built by `npm ci` and shipped in the npm package). In a checkout
// (src/ present) it does so only while the bundle is newer than every source file (src/, tools/), else it runs the
// TypeScript sources through tsx: `npx dcsync …` works right after `npm ci`, and an edited source is never shadowed
// by an older bundle. An installed package has no sources and no tsx: there the bundle is all there is.
import { existsSync, readdirSync, statSync } from 'node:fs';

const bundle = new URL('../dist/dcsync.mjs', import.meta.url);
const sources = [new URL('../src/', import.meta.url), new URL('../tools/', import.meta.url)].filter((dir) => existsSync(dir));

function newestMtimeMs(dir) {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = new URL(e.name + (e.isDirectory() ? '/' : ''), dir);
    newest = Math.max(newest, e.isDirectory() ? newestMtimeMs(p) : statSync(p).mtimeMs);
  }
  return newest;
}

function bundleIsFresh() {
  try {
    return statSync(bundle).mtimeMs >= Math.max(0, ...sources.map(newestMtimeMs));
  } catch {
    return false;
  }
}

if (bundleIsFresh()) await import(bundle.href);
else if (sources.length === 0) {
  process.stderr.write(`dcsync: ${bundle.pathname} is missing; reinstall the package (or run 'node scripts/bundle.mjs' in a checkout)\n`);
  process.exitCode = 1;
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/main.ts');
}
