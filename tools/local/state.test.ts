import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { exportLines, localEnv, LocalStateError, parseLocalState, readLocalState, readLocalStateIfAny, shellQuote, writeLocalState, type LocalState } from './state.ts';

const DIR = '/tmp/dcsync-local-x';

function sample(): LocalState {
  const proc = (name: string, role: 'postgres' | 'kafka' | 'mirrormaker' | 'master' | 'worker', datacenter: 'dc-a' | 'dc-b', pid: number, port: number | null) => ({
    name,
    role,
    datacenter,
    pid,
    port,
    logFile: `${DIR}/logs/${name}.log`,
    startedAt: '2026-01-01T00:00:00.000Z',
    ...(role === 'master' || role === 'worker' ? { args: ['run', role, '--server.port', String(port)] } : {}),
    ...(role === 'postgres' || role === 'kafka' ? { dir: `${DIR}/${name}` } : {}),
  });
  const dc = (name: 'dc-a' | 'dc-b', base: number) => ({
    name,
    pgUrl: `postgresql://postgres@127.0.0.1:${base}/postgres`,
    kafka: `127.0.0.1:${base + 1}`,
    masters: [`https://127.0.0.1:${base + 2}`, `https://127.0.0.1:${base + 3}`, `https://127.0.0.1:${base + 4}`],
    workers: [`https://127.0.0.1:${base + 5}`, `https://127.0.0.1:${base + 6}`],
    jwtSecret: `${DIR}/secrets/jwt-${name}.secret`,
  });
  return {
    version: 1,
    dir: DIR,
    status: 'up',
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:01.000Z',
    superuser: 'postgres',
    files: {
      tlsCaCert: `${DIR}/tls-ca.crt`,
      tlsCaKey: `${DIR}/secrets/tls-ca.key`,
      clientCaCert: `${DIR}/client-auth-ca.crt`,
      clientCaKey: `${DIR}/secrets/client-auth-ca.key`,
      clientKeyfile: `${DIR}/secrets/client.keyfile`,
      passwordFile: `${DIR}/secrets/superuser.password`,
    },
    datacenters: { 'dc-a': dc('dc-a', 20000), 'dc-b': dc('dc-b', 30000) },
    processes: [proc('pg-a', 'postgres', 'dc-a', 100, 20000), proc('mm2', 'mirrormaker', 'dc-b', 101, null), proc('master-a1', 'master', 'dc-a', 102, 20002)],
  };
}

/** The sample as JSON with one change applied to its parsed form. */
function variant(change: (s: Record<string, any>) => void): string {
  const s = JSON.parse(JSON.stringify(sample())) as Record<string, any>;
  change(s);
  return JSON.stringify(s);
}

describe('parseLocalState', () => {
  it('reads back what was written', () => {
    assert.deepEqual(parseLocalState(JSON.stringify(sample())), sample());
  });

  const bad: [string, (s: Record<string, any>) => void, RegExp][] = [
    ['another version', (s) => (s['version'] = 2), /version must be 1/],
    ['an unknown status', (s) => (s['status'] = 'running'), /status must be one of starting, up, down/],
    ['a relative dir', (s) => (s['dir'] = 'rel/dir'), /dir must be an absolute path/],
    ['a pid that is no pid', (s) => (s['processes'][0].pid = 1), /processes\[0\]\.pid must be a process id/],
    ['a fractional pid', (s) => (s['processes'][0].pid = 10.5), /processes\[0\]\.pid/],
    ['an unknown role', (s) => (s['processes'][1].role = 'zookeeper'), /processes\[1\]\.role must be one of/],
    ['an unknown datacenter', (s) => (s['processes'][1].datacenter = 'dc-c'), /processes\[1\]\.datacenter/],
    ['a port out of range', (s) => (s['processes'][0].port = 70000), /processes\[0\]\.port must be a port number/],
    ['a master without its arguments', (s) => delete s['processes'][2].args, /processes\[2\]\.args is required for a master/],
    ['a postgres without its dir', (s) => delete s['processes'][0].dir, /processes\[0\]\.dir is required for postgres/],
    ['a name twice', (s) => (s['processes'][1].name = 'pg-a'), /name 'pg-a' twice/],
    ['a password in a URL', (s) => (s['datacenters']['dc-a'].pgUrl = 'postgresql://postgres:secret@127.0.0.1:1/postgres'), /must not hold a password/],
    ['a master endpoint over http', (s) => (s['datacenters']['dc-b'].masters[1] = 'http://127.0.0.1:1'), /datacenters\.dc-b\.masters\[1\] must be https/],
    ['a datacenter missing once up', (s) => delete s['datacenters']['dc-b'], /datacenters\.dc-b is required once the status is 'up'/],
    ['a datacenter under another name', (s) => (s['datacenters']['dc-a'].name = 'dc-b'), /datacenters\.dc-a\.name must be 'dc-a'/],
    ['a missing file path', (s) => delete s['files'].clientKeyfile, /files\.clientKeyfile must be a non-empty string/],
  ];
  for (const [what, change, message] of bad) {
    it(`refuses ${what}`, () => {
      assert.throws(() => parseLocalState(variant(change), 'local.json'), (err: unknown) => err instanceof LocalStateError && message.test(err.message) && err.message.startsWith('local.json: '));
    });
  }

  it('accepts a deployment that is still starting, without its datacenters', () => {
    const s = parseLocalState(variant((x) => ((x['status'] = 'starting'), (x['datacenters'] = {}))));
    assert.equal(s.status, 'starting');
    assert.deepEqual(s.datacenters, {});
  });

  it('says when the file is not JSON', () => {
    assert.throws(() => parseLocalState('{"version":', 'f.json'), /f\.json: not JSON/);
  });
});

describe('reading and writing local.json', () => {
  it('writes mode 0600 atomically and reads it back; a dir without one has none', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dcsync-state-test-'));
    try {
      assert.equal(readLocalStateIfAny(dir), undefined);
      assert.throws(() => readLocalState(dir), /no dcsync local deployment in/);
      const s = { ...sample(), dir };
      writeLocalState(s);
      assert.equal(fs.statSync(path.join(dir, 'local.json')).mode & 0o777, 0o600);
      assert.deepEqual(readLocalState(dir), s);
      assert.deepEqual(fs.readdirSync(dir), ['local.json']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('local env', () => {
  it('exports superuser URLs with the password, masters, files and credentials', () => {
    const env = localEnv(sample(), 'p@ss/w:rd');
    assert.equal(env.DCSYNC_A_PG_URL, 'postgresql://postgres:p%40ss%2Fw%3Ard@127.0.0.1:20000/postgres');
    assert.equal(env.DCSYNC_B_MASTERS, 'https://127.0.0.1:30002,https://127.0.0.1:30003,https://127.0.0.1:30004');
    assert.equal(env.DCSYNC_TLS_CACERT, `${DIR}/tls-ca.crt`);
    assert.equal(env.DCSYNC_CLIENT_KEYFILE, `${DIR}/secrets/client.keyfile`);
    assert.equal(env.DCSYNC_AUTH_USER, 'postgres');
    assert.equal(env.DCSYNC_AUTH_PASSWORD, 'p@ss/w:rd');
    assert.equal(env.DCSYNC_MONITORING_TOKEN, undefined);
    assert.equal(localEnv(sample(), 'x', 'f00d'.repeat(16)).DCSYNC_MONITORING_TOKEN, 'f00d'.repeat(16));
  });

  it('keeps the monitoring token file of the state, and reads a state without one', () => {
    const withToken = { ...sample(), files: { ...sample().files, monitoringTokenFile: `${DIR}/secrets/monitoring.token` } };
    assert.equal(parseLocalState(JSON.stringify(withToken), 'local.json').files.monitoringTokenFile, `${DIR}/secrets/monitoring.token`);
    assert.equal(parseLocalState(JSON.stringify(sample()), 'local.json').files.monitoringTokenFile, undefined);
  });

  it('needs both datacenters', () => {
    const s = { ...sample(), status: 'starting' as const, datacenters: { 'dc-a': sample().datacenters['dc-a']! } };
    assert.throws(() => localEnv(s, 'x'), /datacenter dc-b was not started/);
  });

  it('quotes for sh only where needed', () => {
    assert.equal(shellQuote('https://127.0.0.1:1,https://127.0.0.1:2'), 'https://127.0.0.1:1,https://127.0.0.1:2');
    assert.equal(shellQuote(''), "''");
    assert.equal(shellQuote('a b'), "'a b'");
    assert.equal(shellQuote("it's"), `'it'\\''s'`);
    assert.equal(shellQuote('$HOME `id` "x" \\ ; & | * ? ~ !'), `'$HOME \`id\` "x" \\ ; & | * ? ~ !'`);
  });

  it('refuses a name that is no shell variable', () => {
    assert.throws(() => exportLines({ 'A-B': 'x' }), /not a shell variable name/);
  });

  it('round-trips awkward values through a real sh', () => {
    const values: Record<string, string> = {
      V1: "it's $HOME and `id`",
      V2: 'line one\nline two',
      V3: '"double" \\back\\ \'single\' ;|&<>*?[]{}~!#',
      V4: '',
      V5: 'postgresql://postgres:a%2Fb@127.0.0.1:5432/postgres',
    };
    const script = `${exportLines(values).join('\n')}\nfor v in V1 V2 V3 V4 V5; do eval "printf '%s\\\\0' \\"\\$$v\\""; done`;
    const out = execFileSync('sh', ['-c', script], { encoding: 'utf8' });
    assert.deepEqual(out.split('\0').slice(0, 5), Object.values(values));
  });
});
