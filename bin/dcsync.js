#!/usr/bin/env -S node --max-semi-space-size=64
// --max-semi-space-size: see DAEMON_NODE_FLAGS in tools/local/dcsync-process.ts.
// Starts from dist/dcsync.mjs (scripts/bundle.mjs, built by `npm ci`) while it is newer than every source file (src/, tools/), else
// from the TypeScript sources through tsx: `npx dcsync …` works right after `npm ci`, and an edited source is never
// shadowed by an older bundle.
import { readdirSync, statSync } from 'node:fs';

const bundle = new URL('../dist/dcsync.mjs', import.meta.url);
const sources = [new URL('../src/', import.meta.url), new URL('../tools/', import.meta.url)];

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
    return statSync(bundle).mtimeMs >= Math.max(...sources.map(newestMtimeMs));
  } catch {
    return false;
  }
}

if (bundleIsFresh()) await import(bundle.href);
else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/main.ts');
}
