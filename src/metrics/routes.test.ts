/**
 * The monitoring routes through a real ControlServer on loopback (in-process, a test PKI): 200 with the token, 401
 * without it or with another, 404 saying how to turn them on when the server has no token; nothing of the token in
 * the server's log.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import https from 'node:https';
import { after, before, describe, it } from 'node:test';
import { ControlServer } from '../control/server.ts';
import { createLogger } from '../core/logger.ts';
import { createTestPki, writeTestPki, type TestPkiFiles } from '../../test/helpers/tls-fixtures.ts';
import { metricsRoutes } from './routes.ts';
import { WorkerMetrics } from './worker-metrics.ts';

const TOKEN = 'c0ffee'.repeat(8);

function get(port: number, path: string, ca: string, authorization?: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    https
      .get({ host: '127.0.0.1', port, path, ca, headers: authorization === undefined ? {} : { authorization } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
      })
      .on('error', reject);
  });
}

describe('GET /metrics and /metrics.json', () => {
  let files: TestPkiFiles;
  let ca: string;
  const servers: ControlServer[] = [];
  const logLines: string[] = [];

  const start = async (monitoringToken?: string): Promise<number> => {
    const metrics = new WorkerMetrics({ version: 'test', tasks: () => [{ kind: 'destination', state: 'running' }] });
    metrics.applied('shop', 5, 100);
    const s = new ControlServer({
      component: 'worker',
      datacenter: 'dc-test',
      host: '127.0.0.1',
      port: 0,
      keyfile: files.serverKeyfile,
      routes: metricsRoutes(metrics),
      logger: createLogger({ level: 'debug', sink: (line) => logLines.push(line) }),
      ...(monitoringToken !== undefined ? { monitoringToken } : {}),
    });
    await s.start();
    servers.push(s);
    return s.address().port;
  };

  before(async () => {
    const pki = await createTestPki();
    files = await writeTestPki(pki);
    ca = pki.tlsCa.certPem;
  });

  after(async () => {
    for (const s of servers) await s.stop();
    await rm(files.dir, { recursive: true, force: true });
  });

  it('answers the bearer of the token, at the root of the port', async () => {
    const port = await start(TOKEN);
    const r = await get(port, '/metrics', ca, `Bearer ${TOKEN}`);
    assert.equal(r.status, 200);
    assert.match(r.type, /^text\/plain; version=0\.0\.4/);
    assert.match(r.body, /^dcsync_worker_changes_applied_total\{database="shop"\} 5$/m);
    assert.match(r.body, /^dcsync_worker_tasks\{kind="destination",state="running"\} 1$/m);
    const j = await get(port, '/metrics.json', ca, `Bearer ${TOKEN}`);
    assert.equal(j.status, 200);
    assert.ok((JSON.parse(j.body) as { name: string }[]).some((m) => m.name === 'dcsync_worker_applied_wal_bytes_total'));
    assert.equal((await get(port, '/_api/v1/metrics', ca, `Bearer ${TOKEN}`)).status, 404, 'not under the API prefix');
  });

  it('refuses a missing token, another token, and another scheme with 401', async () => {
    const port = await start(TOKEN);
    for (const auth of [undefined, `Bearer ${TOKEN.slice(1)}`, `Bearer ${TOKEN}x`, `Basic ${Buffer.from(`u:${TOKEN}`).toString('base64')}`]) {
      const r = await get(port, '/metrics', ca, auth);
      assert.equal(r.status, 401, String(auth));
      assert.doesNotMatch(r.body, /dcsync_worker/);
    }
    assert.ok(logLines.length > 0, 'the refusals are logged');
    assert.ok(logLines.every((l) => !l.includes(TOKEN.slice(1, 20))), 'no part of the token is logged');
  });

  it('answers 404 with how to turn it on when the server has no token', async () => {
    const port = await start();
    const r = await get(port, '/metrics', ca, `Bearer ${TOKEN}`);
    assert.equal(r.status, 404);
    assert.match(r.body, /--monitoring\.token-file/);
  });
});
