import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidOptionError } from '../core/errors.ts';
import { compileFields, formatDuration, InvalidOptionsError, type Field } from './fields.ts';
import { parseDuration } from '../core/time.ts';

const FIELDS: readonly Field[] = [
  { key: 'cluster.endpoint', type: 'string', required: true, description: '' },
  { key: 'master.jwtSecret', type: 'string', required: true, description: '' },
  { key: 'server.port', type: 'number', default: 8629, description: '' },
  { key: 'timeout', type: 'duration', default: 10_000, description: '' },
  { key: 'force', type: 'boolean', default: false, commandLineOnly: true, description: '' },
];

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof InvalidOptionsError, String(err));
    assert.ok(err instanceof InvalidOptionError, 'the CLI maps it to exit code 2');
    return err.problems.map((p) => p.message);
  }
  assert.fail('no error');
}

test('every missing required option is reported at once, each by its flag and variable', () => {
  assert.deepEqual(problems(() => compileFields(FIELDS, {})), [
    "'--cluster.endpoint' is required (or DCSYNC_CLUSTER_ENDPOINT)",
    "'--master.jwtSecret' is required (or DCSYNC_MASTER_JWT_SECRET)",
  ]);
});

test('bad values and missing options are collected together; a value from the environment says so', () => {
  const msgs = problems(() => compileFields(FIELDS, { 'server.port': 'eighty', timeout: '10 parsecs' }, { DCSYNC_CLUSTER_ENDPOINT: 'postgres://x' }));
  assert.deepEqual(msgs, [
    "'--master.jwtSecret' is required (or DCSYNC_MASTER_JWT_SECRET)",
    "'--server.port' must be a number",
    "'--timeout' must be a duration such as '500ms', '10s', '5m', '2y'",
  ]);
  assert.deepEqual(problems(() => compileFields(FIELDS, { 'cluster.endpoint': 'x', 'master.jwtSecret': 'y' }, { DCSYNC_SERVER_PORT: 'x' })), [
    "'--server.port' must be a number (from DCSYNC_SERVER_PORT)",
  ]);
});

test('one problem is its own message; several are listed one per line', () => {
  assert.throws(() => compileFields(FIELDS, { 'cluster.endpoint': 'x' }), { message: "'--master.jwtSecret' is required (or DCSYNC_MASTER_JWT_SECRET)" });
  assert.throws(() => compileFields(FIELDS, {}), { message: /^2 problems with the options:\n {2}'--cluster\.endpoint'.*\n {2}'--master\.jwtSecret'/ });
});

test('a destructive flag is taken from the command line only: the environment or a config file is refused, never applied', () => {
  const base = { 'cluster.endpoint': 'x', 'master.jwtSecret': 'y' };
  assert.equal(compileFields(FIELDS, { ...base, force: true })['force'], true);
  assert.equal(compileFields(FIELDS, base)['force'], false);
  assert.deepEqual(problems(() => compileFields(FIELDS, base, { DCSYNC_FORCE: '1' })), ["'--force' is taken from the command line only; unset DCSYNC_FORCE"]);
  assert.deepEqual(problems(() => compileFields(FIELDS, base, {}, { force: true })), ["'--force' is taken from the command line only; remove 'force' from the config file"]);
  assert.equal(compileFields(FIELDS, { ...base, force: 'false' }, { DCSYNC_FORCE: '1' })['force'], false, 'the command line wins');
});

test('formatDuration gives the largest whole unit, which parseDuration reads back', () => {
  for (const [ms, text] of [[10_000, '10s'], [60_000, '1m'], [1_500, '1500ms'], [0, '0ms'], [7_200_000, '2h'], [86_400_000, '1d']] as const) {
    assert.equal(formatDuration(ms), text);
    assert.equal(parseDuration(text), ms);
  }
});
