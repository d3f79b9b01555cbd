/**
 * The deploy/ templates against the declared options: every flag of `run master` and `run worker` appears in
 * deploy/env/dcsync.env (as a DCSYNC_* variable) or in its unit's ExecStart, no variable names an option that no
 * longer exists, and the units' command lines with the templates' values compile without a usage error.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { compileFields, envName, type Field } from '../../../config/fields.ts';
import { parseArgv } from '../../parse-argv.ts';
import { MASTER_FIELDS } from './master.ts';
import { WORKER_FIELDS } from './worker.ts';

const root = new URL('../../../../deploy/', import.meta.url);
const read = (p: string): string => readFileSync(new URL(p, root), 'utf8');

/** systemd's EnvironmentFile= syntax as the templates use it: KEY=value lines, # comments. */
function parseEnvFile(text: string): { set: Map<string, string>; commented: Set<string> } {
  const set = new Map<string, string>();
  const commented = new Set<string>();
  for (const line of text.split('\n')) {
    const on = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
    if (on) set.set(on[1]!, on[2]!);
    const off = /^#([A-Z_][A-Z0-9_]*)=/.exec(line);
    if (off) commented.add(off[1]!);
  }
  return { set, commented };
}

/** The unit's ExecStart= with its continuation lines joined and ${VAR} expanded from `env`. */
function execStart(unit: string, env: ReadonlyMap<string, string>): string[] {
  const joined = unit.replace(/\\\n\s*/g, ' ');
  const line = /^ExecStart=(.*)$/m.exec(joined);
  assert.ok(line, 'the unit has an ExecStart=');
  const words = line[1]!.trim().split(/\s+/);
  return words.map((w) =>
    w.replace(/\$\{([A-Z_][A-Z0-9_]*)\}/g, (_m, name: string) => {
      const v = env.get(name);
      assert.ok(v !== undefined, `ExecStart uses \${${name}}, which the env templates do not set`);
      return v;
    }),
  );
}

const shared = parseEnvFile(read('env/dcsync.env'));
const local = parseEnvFile(read('env/dcsync.env.local'));
const env = new Map([...shared.set, ...local.set]);
const roles: [string, readonly Field[]][] = [
  ['master', MASTER_FIELDS],
  ['worker', WORKER_FIELDS],
];

for (const [role, fields] of roles) {
  test(`deploy/env/dcsync.env or dcsync-${role}.service lists every flag of 'run ${role}'`, () => {
    const argv = execStart(read(`systemd/dcsync-${role}.service`), env);
    assert.deepEqual(argv.slice(1, 3), ['run', role]);
    const missing = fields.filter((f) => {
      const name = envName(f.key);
      return !shared.set.has(name) && !shared.commented.has(name) && !argv.some((a) => a.startsWith(`--${f.key}=`));
    });
    assert.deepEqual(missing.map((f) => f.key), [], 'options missing from the templates');
  });

  test(`dcsync-${role}.service with the templates' values compiles without a usage error`, () => {
    const argv = execStart(read(`systemd/dcsync-${role}.service`), env);
    const parsed = parseArgv(argv.slice(3), fields);
    assert.deepEqual(parsed.positionals, []);
    const values = compileFields(fields, parsed.flags, Object.fromEntries(env));
    assert.equal(values['server.endpoint'], `https://${env.get('PRIVATEIP')}:${role === 'master' ? 8629 : 8729}`);
  });
}

test('every DCSYNC_* variable of the templates names an option of run master or run worker', () => {
  const known = new Set([...MASTER_FIELDS, ...WORKER_FIELDS].map((f) => envName(f.key)));
  const names = [...shared.set.keys(), ...shared.commented, ...local.set.keys(), ...local.commented].filter((n) => n.startsWith('DCSYNC_'));
  assert.deepEqual(names.filter((n) => !known.has(n)), []);
});
