import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { runCli } from './index.ts';
import type { Output } from './output.ts';

/** An Output that keeps what the CLI writes. */
function recordingOutput(): Output & { lines: string[]; errors: string[]; values: unknown[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  const values: unknown[] = [];
  return {
    lines,
    errors,
    values,
    line: (t) => void lines.push(t),
    json: (v) => void values.push(v),
    table: (rows) => void values.push(rows),
    error: (t) => void errors.push(t),
  };
}

const run = (argv: string[], env: NodeJS.ProcessEnv = {}) => {
  const out = recordingOutput();
  return runCli(argv, env, new AbortController().signal, out).then((code) => ({ code, out }));
};

test('dcsync --version and -V print the package version and exit 0', async () => {
  const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  for (const flag of ['--version', '-V']) {
    const { code, out } = await run([flag]);
    assert.equal(code, 0);
    assert.deepEqual(out.lines, [`dcsync ${version}`]);
  }
});
