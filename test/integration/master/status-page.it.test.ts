/**
 * The status page in a real browser: a local two-datacenter deployment (`dcsync local up`: PostgreSQL, Kafka and
 * MirrorMaker 2, 3 masters and 2 workers per datacenter) runs a sync of two databases while rows keep coming; Debian's
 * headless chromium (puppeteer-core) opens B's status page with the operator's password and shows both databases
 * and a lag series with samples for each. The screenshot goes to test-output/status-page/ (printed). Only the
 * masters' certificate is trusted, by its key's SPKI hash, after the test verified it against the test CA.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import https from 'node:https';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import puppeteer, { type Browser } from 'puppeteer-core';
import { upLocal, type LocalDeployment } from '../../../tools/local/deployment.ts';
import { REPO } from '../../../tools/local/dcsync-process.ts';
import { isAlive } from '../../../tools/local/process.ts';
import { waitFor } from '../../helpers/compare.ts';
import { queryRows } from '../../helpers/psql.ts';

const OUTPUT_DIR = path.join(REPO, 'test-output', 'status-page');
/** The sync covers every database of A, its `postgres` too. */
const DATABASES = ['inventory', 'postgres', 'shop'];

/** SHA-256 of the server key's SPKI, base64 (chromium's --ignore-certificate-errors-spki-list), of a server the CA verifies. */
function spkiHash(endpoint: string, ca: string): Promise<string> {
  const u = new URL(endpoint);
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: u.hostname, port: Number(u.port), ca, servername: u.hostname === '127.0.0.1' ? undefined : u.hostname }, () => {
      const cert = s.getPeerX509Certificate();
      s.end();
      if (!cert) return reject(new Error(`${endpoint} sent no certificate`));
      resolve(createHash('sha256').update(cert.publicKey.export({ type: 'spki', format: 'der' })).digest('base64'));
    });
    s.on('error', reject);
  });
}

interface Shown {
  databases: { name: string | null; status: string | null }[];
  tables: (string | null)[];
  samples: Record<string, number>;
  canvases: number;
  legend: (string | null)[];
  syncLine: string;
}

function statusWithoutCredentials(url: string, ca: string): Promise<number> {
  return new Promise((resolve, reject) => {
    https.get(url, { ca }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', reject);
  });
}

function chromiumPath(): string {
  return process.env['CHROMIUM'] ?? execFileSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).trim();
}

describe('the status page in headless chromium', { timeout: 900_000 }, () => {
  let parent: string;
  let dep: LocalDeployment;
  let browser: Browser | undefined;
  let browserPid: number | undefined;
  let writing: Promise<void> | undefined;
  const stopWriting = new AbortController();

  before(async () => {
    parent = await mkdtemp(path.join(tmpdir(), 'dcsync-page-'));
    await chmod(parent, 0o755);
    dep = await upLocal({ dir: path.join(parent, 'local'), configure: false });
    await queryRows(dep.pgUrl('dc-a', 'postgres'), 'CREATE DATABASE shop');
    await queryRows(dep.pgUrl('dc-a', 'postgres'), 'CREATE DATABASE inventory');
    await queryRows(dep.pgUrl('dc-a', 'shop'), `CREATE TABLE orders (id bigserial PRIMARY KEY, note text NOT NULL); INSERT INTO orders (note) SELECT 'order ' || g FROM generate_series(1, 5000) g`);
    await queryRows(dep.pgUrl('dc-a', 'inventory'), `CREATE TABLE item (id bigint PRIMARY KEY, qty int NOT NULL); INSERT INTO item SELECT g, g % 100 FROM generate_series(1, 5000) g`);
    await dep.configure();
    await waitFor(async () => (await dep.status()).status === 'running', { timeoutMs: 240_000, intervalMs: 2_000, what: 'the sync to be running' });
    // Changes keep coming, so the lag is measured on a moving stream.
    writing = (async () => {
      while (!stopWriting.signal.aborted) {
        await queryRows(dep.pgUrl('dc-a', 'shop'), `INSERT INTO orders (note) SELECT 'more ' || g FROM generate_series(1, 50) g`).catch(() => undefined);
        await new Promise((r) => setTimeout(r, 1_000));
      }
    })();
  });

  after(async () => {
    stopWriting.abort();
    await writing;
    await browser?.close().catch(() => undefined);
    if (browserPid !== undefined && isAlive(browserPid)) process.kill(browserPid, 'SIGKILL');
    if (dep) await dep.down().catch(() => {});
    if (parent && !process.env['DCSYNC_KEEP_TEST_DIR']) await rm(parent, { recursive: true, force: true });
  });

  it("shows B's databases and a lag series of each, with the operator's password", async (t) => {
    const master = dep.datacenter('dc-b').masters[0]!;
    const ca = await readFile(dep.state().files.tlsCaCert, 'utf8');
    const spki = await Promise.all(dep.datacenter('dc-b').masters.map((m) => spkiHash(m, ca)));
    browser = await puppeteer.launch({
      executablePath: chromiumPath(),
      headless: true,
      // The tests run as root, where chromium's sandbox cannot start.
      args: ['--no-sandbox', `--ignore-certificate-errors-spki-list=${[...new Set(spki)].join(',')}`],
    });
    browserPid = browser.process()?.pid;
    t.diagnostic(`chromium ${await browser.version()} (pid ${browserPid})`);
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 1400 });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));

    // Without credentials the page is refused, as GET /status is (asked from node: the browser turns a 401 into an error).
    assert.equal(await statusWithoutCredentials(`${master}/_api/v1/status-page`, ca), 401);

    await page.authenticate({ username: dep.state().superuser, password: dep.password });
    const res = await page.goto(`${master}/_api/v1/status-page`);
    assert.equal(res?.status(), 200);
    assert.match(res?.headers()['content-security-policy'] ?? '', /default-src 'none'/);

    // Samples every 5 s: wait until each database's lag series holds at least two.
    await page.waitForFunction(
      `(() => {
        const raw = document.getElementById('lag-seconds')?.getAttribute('data-samples');
        if (!raw) return false;
        const samples = JSON.parse(raw);
        return ${JSON.stringify(DATABASES)}.every((d) => (samples[d] ?? 0) >= 2);
      })()`,
      { timeout: 120_000, polling: 1_000 },
    );
    // Read in the page (the test's TypeScript has no DOM types: the expression is the browser's).
    const shown = (await page.evaluate(`({
      databases: [...document.querySelectorAll('#databases tbody tr')].map((r) => ({ name: r.getAttribute('data-database'), status: r.getAttribute('data-status') })),
      tables: [...document.querySelectorAll('#tables tbody tr')].map((r) => r.getAttribute('data-table')),
      samples: JSON.parse(document.getElementById('lag-seconds')?.getAttribute('data-samples') ?? '{}'),
      canvases: document.querySelectorAll('#lag-seconds canvas, #lag-bytes canvas').length,
      legend: [...document.querySelectorAll('#lag-seconds .u-legend .u-series .u-label')].map((e) => e.textContent),
      syncLine: document.getElementById('sync-line')?.textContent ?? '',
    })`)) as Shown;
    mkdirSync(OUTPUT_DIR, { recursive: true });
    const shot = path.join(OUTPUT_DIR, 'status-page.png');
    await page.screenshot({ path: shot, fullPage: true });
    t.diagnostic(`screenshot: ${shot}`);
    console.log(`status page screenshot: ${shot}`);

    assert.deepEqual(shown.databases.map((d) => d.name), DATABASES);
    for (const d of shown.databases) assert.equal(d.status, 'running', `${d.name} is running`);
    assert.deepEqual(shown.tables.filter((t) => !t?.startsWith('postgres.')), ['inventory.public.item', 'shop.public.orders']);
    for (const db of DATABASES) assert.ok((shown.samples[db] ?? 0) >= 2, `${db} has ${shown.samples[db] ?? 0} lag sample(s)`);
    assert.equal(shown.canvases, 2, 'two uPlot charts drawn');
    assert.deepEqual(shown.legend.filter((l) => l !== 'Time'), DATABASES);
    assert.match(shown.syncLine, /Sync 'main'.*running/);
    assert.deepEqual(errors, [], 'no script errors');
  });
});
