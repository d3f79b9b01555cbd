/**
 * deploy/systemd/*.service pass `systemd-analyze verify` (scripts/setup-deploy.sh installs it). verify checks that
 * ExecStart's program exists, so the copies under test point it at this checkout's bin/dcsync.js instead of the
 * installed /usr/local/bin/dcsync; nothing else is changed.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DCSYNC_BIN, REPO } from '../../../tools/local/dcsync-process.ts';

const UNITS = ['dcsync-master.service', 'dcsync-worker.service'];
let dir: string;

function verify(files: string[]): Promise<{ code: number; output: string }> {
  return new Promise((done) => {
    execFile('systemd-analyze', ['verify', '--man=no', ...files], { timeout: 60_000 }, (err, stdout, stderr) => {
      done({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, output: stdout + stderr });
    });
  });
}

async function copyUnit(name: string, edit: (text: string) => string = (t) => t): Promise<string> {
  const text = await readFile(join(REPO, 'deploy', 'systemd', name), 'utf8');
  assert.match(text, /^ExecStart=\/usr\/local\/bin\/dcsync run /m);
  const file = join(dir, name);
  await writeFile(file, edit(text.replace('ExecStart=/usr/local/bin/dcsync', `ExecStart=${DCSYNC_BIN}`)));
  return file;
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dcsync-systemd-'));
});
after(() => rm(dir, { recursive: true, force: true }));

for (const name of UNITS) {
  test(`systemd-analyze verify accepts ${name}`, async () => {
    const { code, output } = await verify([await copyUnit(name)]);
    assert.equal(code, 0, output);
    assert.equal(output.trim(), '', 'no warnings either');
  });

  test(`${name} is hardened and restarts on failure with a limit`, async () => {
    const text = await readFile(join(REPO, 'deploy', 'systemd', name), 'utf8');
    for (const line of [
      'User=dcsync',
      'NoNewPrivileges=yes',
      'ProtectSystem=strict',
      'ProtectHome=yes',
      'PrivateTmp=yes',
      'Restart=on-failure',
      'StartLimitBurst=5',
      'RestartPreventExitStatus=2',
      'EnvironmentFile=/etc/dcsync.env',
      'EnvironmentFile=-/etc/dcsync.env.local',
    ])
      assert.match(text, new RegExp(`^${line.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'), line);
  });
}

test('systemd-analyze verify reports a broken unit (the checks above can fail)', async () => {
  const typo = await verify([await copyUnit('dcsync-master.service', (t) => t.replace('Restart=on-failure', 'Restart=sometimes'))]);
  assert.match(typo.output, /restart specifier/, 'a bad value is a warning on stderr, which the first test refuses');
  const missing = await verify([await copyUnit('dcsync-worker.service', (t) => t.replace(`ExecStart=${DCSYNC_BIN}`, `ExecStart=${join(dir, 'absent')}`))]);
  assert.notEqual(missing.code, 0, missing.output);
});
