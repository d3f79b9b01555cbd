/**
 * The status page's routes, behind the same operator authentication as `GET /status` (a browser sends the
 * operator's PostgreSQL user and password as HTTP basic auth; a client certificate works where the masters accept
 * operator certificates): the page, its files, and the lag history its charts draw.
 */
import { HttpError } from '../../control/errors.ts';
import { route, type Route } from '../../control/router.ts';
import { SYNC_PATHS } from '../../control/v1/sync.ts';
import type { StatusPageAsset } from './assets.ts';
import type { LagHistory } from './lag-history.ts';

/** The page, under /_api/v1 as every route. */
export const STATUS_PAGE_PATH = '/status-page';
const PAGE_FILE = 'index.html';

/** Everything the page loads comes from this master; nothing inline runs, nothing frames it. */
const PAGE_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};

export interface StatusPageDeps {
  readonly history: LagHistory;
  readonly assets: ReadonlyMap<string, StatusPageAsset>;
  readonly self: { readonly id: string };
  readonly now?: () => number;
}

function serve(asset: StatusPageAsset | undefined, name: string): { status: number; raw: StatusPageAsset; headers: Record<string, string> } {
  if (!asset) throw new HttpError(404, 'not-found', `the status page has no file '${name}'`);
  return { status: 200, raw: asset, headers: PAGE_HEADERS };
}

export function statusPageRoutes(d: StatusPageDeps): Route[] {
  const now = d.now ?? Date.now;
  return [
    route({
      method: 'GET',
      path: STATUS_PAGE_PATH,
      access: 'operator',
      summary: 'the status page (HTML): the sync, its databases and tables, lag charts of the last hour',
      handler: async () => serve(d.assets.get(PAGE_FILE), PAGE_FILE),
    }),
    route({
      method: 'GET',
      path: `${STATUS_PAGE_PATH}/:file`,
      access: 'operator',
      summary: "the status page's scripts and styles",
      handler: async (req) => serve(req.params.file === PAGE_FILE ? undefined : d.assets.get(req.params.file), req.params.file),
    }),
    route({
      method: 'GET',
      path: SYNC_PATHS.lagHistory,
      access: 'operator',
      summary: 'the lag of each database over the last hour, as this master sampled it',
      handler: async () => ({ status: 200, body: d.history.snapshot(now(), d.self.id) }),
    }),
  ];
}
