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
    frame: (l) => void lines.push(...l),
    endFrames: () => {},
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

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { commands } from './commands/index.ts';
import type { Command } from './command.ts';

const dir = mkdtempSync(join(tmpdir(), 'dcsync-cli-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const runWith = (argv: string[], env: NodeJS.ProcessEnv = {}, prompt?: (q: string) => Promise<string>) => {
  const out = recordingOutput();
  return runCli(argv, env, new AbortController().signal, out, () => {}, prompt).then((code) => ({ code, out }));
};

test('every missing required flag is reported at once, by its flag, with exit code 2', async () => {
  const { code, out } = await runWith(['create', 'tls', 'keyfile']);
  assert.equal(code, 2);
  assert.equal(out.errors.length, 1);
  assert.match(out.errors[0]!, /3 problems with the options/);
  for (const flag of ['--cacert', '--cakey', '--keyfile']) assert.match(out.errors[0]!, new RegExp(`'${flag}' is required`));
});

test("an option compiler's error names the flag the operator typed", async () => {
  const secret = join(dir, 'jwt');
  writeFileSync(secret, 'x'.repeat(64));
  const { code, out } = await runWith(['run', 'master', '--server.endpoint', 'https://127.0.0.1:1', '--server.keyfile', join(dir, 'none'), '--cluster.endpoint', 'postgres://u@127.0.0.1/postgres', '--master.jwtSecret', secret]);
  assert.equal(code, 2, out.errors.join('\n'));
  assert.match(out.errors[0]!, /'--mq\.kafka-addr' is required with --mq\.type=kafka/);
});

test('help shows value placeholders and durations with their unit', async () => {
  const { code, out } = await runWith(['get', 'version', '--help']);
  assert.equal(code, 0);
  assert.match(out.lines[0]!, /--timeout <duration> {2}Per request and master \(default: 10s\)/);
  assert.match(out.lines[0]!, /--master\.endpoint <value,…>/);
  assert.match(out.lines[0]!, /--json {2}/);
});

test('DCSYNC_FORCE never turns on --force: refused with exit code 2, and nothing is written', async () => {
  const cert = join(dir, 'ca.crt');
  writeFileSync(cert, 'keep me');
  const { code, out } = await runWith(['create', 'tls', 'ca', '--cert', cert, '--key', join(dir, 'ca.key')], { DCSYNC_FORCE: 'true' });
  assert.equal(code, 2);
  assert.match(out.errors[0]!, /'--force' is taken from the command line only; unset DCSYNC_FORCE/);
  assert.equal(readFileSync(cert, 'utf8'), 'keep me');
  const help = await runWith(['create', 'tls', 'ca', '--help']);
  assert.match(help.out.lines[0]!, /--force .*\[command line only\]/);
});

/** A command's action sees the password the CLI resolved: get status with a fake action. */
async function passwordSeen(argv: string[], env: NodeJS.ProcessEnv, prompt?: (q: string) => Promise<string>): Promise<{ code: number; password: unknown; errors: string[] }> {
  const real = commands.find((c) => c.path.join(' ') === 'get status')!;
  let password: unknown;
  const fake: Command = { ...real, action: async (v) => ((password = v['auth.password']), 0) };
  const index = commands.indexOf(real);
  (commands as Command[])[index] = fake;
  try {
    const { code, out } = await runWith(['get', 'status', '--master.endpoint', 'https://127.0.0.1:1', '--master.cacert', 'ca.crt', '--auth.user', 'ops', ...argv], env, prompt);
    return { code, password, errors: out.errors };
  } finally {
    (commands as Command[])[index] = real;
  }
}

test('the password comes from --auth.password-file (first line), else a prompt; DCSYNC_AUTH_PASSWORD wins', async () => {
  const file = join(dir, 'pw');
  writeFileSync(file, 's3cret\nignored\n', { mode: 0o600 });
  assert.deepEqual(await passwordSeen(['--auth.password-file', file], {}), { code: 0, password: 's3cret', errors: [] });
  const asked: string[] = [];
  const prompted = await passwordSeen([], {}, async (q) => (asked.push(q), 'typed'));
  assert.equal(prompted.password, 'typed');
  assert.deepEqual(asked, ['Password of ops: ']);
  assert.equal((await passwordSeen(['--auth.password-file', file], { DCSYNC_AUTH_PASSWORD: 'env' })).password, 'env');
  assert.equal((await passwordSeen([], {})).password, undefined, 'no terminal: no prompt');
  const missing = await passwordSeen(['--auth.password-file', join(dir, 'absent')], {});
  assert.equal(missing.code, 2);
  assert.match(missing.errors[0]!, /'--auth\.password-file' cannot be read: ENOENT/);
});

test('every read command (get …, local ps) has --json', () => {
  const reads = commands.filter((c) => c.path[0] === 'get' || c.path.join(' ') === 'local ps');
  assert.ok(reads.length >= 6);
  assert.deepEqual(reads.filter((c) => !c.fields.some((f) => f.key === 'json')).map((c) => c.path.join(' ')), []);
});
