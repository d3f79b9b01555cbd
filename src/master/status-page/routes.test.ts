import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Route, RouteRequest } from '../../control/router.ts';
import type { LagHistoryResponse } from '../../control/v1/sync.ts';
import { loadStatusPageAssets } from './assets.ts';
import { LagHistory } from './lag-history.ts';
import { statusPageRoutes } from './routes.ts';

const history = new LagHistory({ intervalMs: 1_000, windowMs: 60_000 });
history.record(1_000, [{ database: 'shop', lagSeconds: 0.5, lagBytes: 10 }]);
const routes = statusPageRoutes({ history, assets: loadStatusPageAssets(), self: { id: 'master-1' }, now: () => 2_000 });

function find(path: string): Route {
  const r = routes.find((x) => x.path === path);
  assert.ok(r, path);
  return r;
}

const req = (params: Record<string, string> = {}): RouteRequest =>
  ({ params, query: {}, body: undefined, auth: { kind: 'operator', subject: 'ops', via: 'password' }, remoteAddress: '127.0.0.1', signal: new AbortController().signal }) as RouteRequest;

test('every status page route needs the operator, as GET /status does', () => {
  assert.deepEqual(
    routes.map((r) => [r.method, r.path, r.access]),
    [
      ['GET', '/status-page', 'operator'],
      ['GET', '/status-page/:file', 'operator'],
      ['GET', '/status/lag-history', 'operator'],
    ],
  );
});

test('the page is HTML that loads uPlot and its script from this master, with a strict CSP', async () => {
  const r = await find('/status-page').handler(req());
  assert.equal(r.status, 200);
  assert.equal(r.raw?.contentType, 'text/html; charset=utf-8');
  assert.match(r.raw?.body ?? '', /<script src="\/_api\/v1\/status-page\/uPlot\.iife\.min\.js"/);
  assert.match(r.raw?.body ?? '', /<script src="\/_api\/v1\/status-page\/app\.js"/);
  assert.match(r.headers?.['content-security-policy'] ?? '', /script-src 'self';/);
});

test("serves uPlot's script and the page's files; anything else is 404", async () => {
  const file = find('/status-page/:file');
  const uplot = await file.handler(req({ file: 'uPlot.iife.min.js' }));
  assert.equal(uplot.raw?.contentType, 'text/javascript; charset=utf-8');
  assert.match(uplot.raw?.body ?? '', /uPlot/);
  assert.match((await file.handler(req({ file: 'app.css' }))).raw?.contentType ?? '', /^text\/css/);
  await assert.rejects(file.handler(req({ file: '..%2Fpackage.json' })), { status: 404 });
  await assert.rejects(file.handler(req({ file: 'assets.json' })), { status: 404 });
});

test('the lag history answers the samples of this master', async () => {
  const r = await find('/status/lag-history').handler(req());
  const body = r.body as LagHistoryResponse;
  assert.equal(body.answeredBy, 'master-1');
  assert.deepEqual(body.databases, [{ database: 'shop', samples: [[1_000, 0.5, 10]] }]);
});
