/**
 * docs/openapi.yaml must list exactly the routes a master serves: every (method, path) of masterRoutes(),
 * syncRoutes(), checkRoutes(), statusPageRoutes(), metricsRoutes() and the routes ControlServer adds itself (GET /health,
 * GET /version), with the same access class
 * (`x-dcsync-access`). The routes are read from a ControlServer built with them (its constructor only checks
 * options: no files are read and nothing listens); the handlers are never called.
 *
 * No YAML parser is a dependency, so the paths section is read line by line: path keys at two spaces
 * (`  /tasks/{id}/reset:`), method keys at four (`    post:`), `x-dcsync-access:` at six.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ControlServer } from '../control/server.ts';
import { HTTP_METHODS, type Route } from '../control/router.ts';
import { masterRoutes, type MasterApiDeps } from './api.ts';
import { syncRoutes, type SyncApiDeps } from './sync-api.ts';
import { checkRoutes, type CheckApiDeps } from './check-api.ts';
import { statusPageRoutes, type StatusPageDeps } from './status-page/routes.ts';
import { metricsRoutes, type MetricsSource } from '../metrics/routes.ts';

const DOC = new URL('../../docs/openapi.yaml', import.meta.url);

/** '/tasks/:id/reset' → '/tasks/{id}/reset' */
function openApiPath(path: string): string {
  return path.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, '{$1}');
}

function key(method: string, path: string): string {
  return `${method.toUpperCase()} ${path}`;
}

/** The master's routes, as its ControlServer serves them (built-ins included). */
function servedRoutes(): readonly Route[] {
  // Only `method`, `path` and `access` of the routes are read; the handlers would need the real dependencies.
  const master = masterRoutes({} as unknown as MasterApiDeps);
  const sync = syncRoutes({} as unknown as SyncApiDeps);
  const server = new ControlServer({
    component: 'master',
    datacenter: 'dc-test',
    port: 0,
    keyfile: 'unused.keyfile',
    clientAuthCa: 'unused-client-ca.crt',
    jwtSecret: 'unused.secret',
    verifyOperator: async () => false,
    routes: [...master, ...sync, ...checkRoutes({} as unknown as CheckApiDeps), ...statusPageRoutes({} as unknown as StatusPageDeps), ...metricsRoutes({} as unknown as MetricsSource)],
  });
  return server.routes;
}

/** (method, path) → access class, from the `paths:` section of docs/openapi.yaml. */
function documentedRoutes(text: string): Map<string, string | undefined> {
  const out = new Map<string, string | undefined>();
  const methods = new Set(HTTP_METHODS.map((m) => m.toLowerCase()).concat(['head', 'options', 'trace']));
  let inPaths = false;
  let path: string | undefined;
  let op: string | undefined;
  for (const line of text.split(/\r?\n/)) {
    if (/^\S/.test(line)) {
      inPaths = /^paths:\s*$/.test(line);
      path = undefined;
      op = undefined;
      continue;
    }
    if (!inPaths) continue;
    const p = /^ {2}(\/\S*):\s*$/.exec(line);
    if (p) {
      path = p[1]!;
      op = undefined;
      continue;
    }
    if (/^ {2}\S/.test(line)) throw new Error(`unexpected key under paths: '${line.trim()}'`);
    const m = /^ {4}([a-z]+):\s*$/.exec(line);
    if (m && path !== undefined && methods.has(m[1]!)) {
      op = key(m[1]!, path);
      assert.ok(!out.has(op), `${op} is documented twice`);
      out.set(op, undefined);
      continue;
    }
    if (/^ {4}\S/.test(line)) {
      op = undefined; // a path-level key such as parameters
      continue;
    }
    const a = /^ {6}x-dcsync-access:\s*(\S+)\s*$/.exec(line);
    if (a && op !== undefined) out.set(op, a[1]!);
  }
  return out;
}

describe('docs/openapi.yaml', () => {
  const served = servedRoutes();
  const code = new Map(served.map((r) => [key(r.method, openApiPath(r.path)), r.access]));
  const doc = documentedRoutes(readFileSync(DOC, 'utf8'));

  it('finds the routes of the code, built-ins included', () => {
    assert.ok(code.size >= 10, `only ${code.size} routes built`);
    for (const k of ['GET /health', 'GET /version', 'GET /status', 'POST /workers/register', 'GET /status-page', 'GET /metrics']) assert.ok(code.has(k), `${k} is not among the built routes`);
  });

  it('documents every route the master serves', () => {
    const missing = [...code.keys()].filter((k) => !doc.has(k)).sort();
    assert.deepEqual(missing, [], `routes missing from docs/openapi.yaml (and docs/api.md): ${missing.join(', ')}`);
  });

  it('documents no route the master does not serve', () => {
    const extra = [...doc.keys()].filter((k) => !code.has(k)).sort();
    assert.deepEqual(extra, [], `routes in docs/openapi.yaml that the code does not have: ${extra.join(', ')}`);
  });

  it('gives the routes at the root of the port (not under /_api/v1) their own servers', () => {
    const text = readFileSync(DOC, 'utf8');
    const root = served.filter((r) => r.root).map((r) => openApiPath(r.path));
    assert.ok(root.length > 0);
    for (const p of root) assert.ok(text.includes(`\n  ${p}:\n    servers:\n      - url: https://{daemon}\n`), `${p} has a path-level servers entry`);
  });

  it("gives every operation the route's access class (x-dcsync-access)", () => {
    const wrong = [...code].filter(([k, access]) => doc.has(k) && doc.get(k) !== access).map(([k, access]) => `${k}: code ${access}, doc ${String(doc.get(k))}`);
    assert.deepEqual(wrong, []);
  });
});
