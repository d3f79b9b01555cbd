/**
 * A small typed router: routes are (method, path pattern, access class, handler), paths are relative to
 * API_PREFIX, and `:name` segments become typed `params`. Pure: no sockets, no HTTP objects.
 */
import { InvalidOptionError } from '../core/errors.ts';

/** Every control-plane route lives under this prefix; a new incompatible API gets /_api/v2. */
export const API_PREFIX = '/_api/v1';

export const HTTP_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

/**
 * Who may call a route:
 * - `public`: anyone (health, version); credentials are ignored.
 * - `operator`: HTTP basic auth checked by the injected verifier (or, when enabled, a client-auth certificate).
 * - `worker`: a bearer JWT signed with this datacenter's JWT secret, audience = this datacenter's id
 *   (the masters and workers of one datacenter).
 * - `peer`: a client certificate issued by the client-auth CA with O=dcsync, OU=client (the other datacenter's masters).
 * - `monitoring`: the bearer monitoring token (--monitoring.token); without a configured token such a route answers 404.
 */
export type RouteAccess = 'public' | 'operator' | 'worker' | 'peer' | 'monitoring';

/** How a request was authenticated; `anonymous` only on public routes. */
export type AuthKind = 'operator' | 'worker' | 'peer' | 'monitoring' | 'anonymous';

export interface AuthContext {
  readonly kind: AuthKind;
  /** Operator user name, the token's `sub` (or 'worker'), the certificate's CN; '' when anonymous. */
  readonly subject: string;
  readonly via: 'password' | 'certificate' | 'token' | 'none';
  /** SHA-256 fingerprint of the verified client certificate (via 'certificate' only): what binds a peer to its syncs. */
  readonly fingerprint256?: string;
}

type ParamNames<P extends string> = P extends `${infer Head}/${infer Tail}` ? ParamNames<Head> | ParamNames<Tail> : P extends `:${infer Name}` ? Name : never;

/** `PathParams<'/sync/:id/tasks/:task'>` is `{readonly id: string; readonly task: string}`. */
export type PathParams<P extends string> = { readonly [K in ParamNames<P>]: string };

export type Query = Readonly<Record<string, string>>;

export interface RouteRequest<P = Readonly<Record<string, string>>, B = unknown> {
  readonly params: P;
  /** Query parameters; the first value wins when a name repeats. A null-prototype object. */
  readonly query: Query;
  /** The parsed JSON body (passed through the route's `body` validator when it has one); undefined when none was sent. */
  readonly body: B;
  readonly auth: AuthContext;
  readonly remoteAddress: string;
  /** Aborts when the caller goes away before the answer was sent. */
  readonly signal: AbortSignal;
}

export interface RouteResponse {
  readonly status: number;
  /** Sent as JSON; omit for 204. */
  readonly body?: unknown;
  /** Sent as is with its content type instead of a JSON body (the status page's HTML, scripts and styles). */
  readonly raw?: { readonly contentType: string; readonly body: string };
  readonly headers?: Readonly<Record<string, string>>;
}

export type RouteHandler<P = Readonly<Record<string, string>>, B = unknown> = (req: RouteRequest<P, B>) => Promise<RouteResponse>;

export interface RouteDefinition<Path extends string, B> {
  readonly method: HttpMethod;
  /** Relative to API_PREFIX, e.g. '/sync/:id'. Literal segments: letters, digits, '.', '_', '~', '-'. */
  readonly path: Path;
  readonly access: RouteAccess;
  /** Validates and types the body; throw HttpError(400) (e.g. `badRequest(...)`) to refuse it. */
  readonly body?: (value: unknown) => B;
  readonly handler: RouteHandler<PathParams<Path>, B>;
  /** One line for documentation (an OpenAPI summary later). */
  readonly summary?: string;
  /**
   * Served at `path` itself instead of under API_PREFIX: for the paths other tools look at by convention (Prometheus
   * scrapes /metrics).
   */
  readonly root?: boolean;
}

/** A route with its types erased, as the server holds it. */
export interface Route {
  readonly method: HttpMethod;
  readonly path: string;
  readonly access: RouteAccess;
  /** True when `path` is absolute (not under API_PREFIX). */
  readonly root: boolean;
  readonly body?: (value: unknown) => unknown;
  readonly handler: RouteHandler;
  readonly summary?: string;
  readonly segments: readonly Segment[];
}

type Segment = { readonly kind: 'literal'; readonly value: string } | { readonly kind: 'param'; readonly name: string };

const LITERAL = /^[A-Za-z0-9._~-]+$/;
const PARAM = /^:([A-Za-z_][A-Za-z0-9_]*)$/;

function parsePattern(path: string): Segment[] {
  if (!path.startsWith('/') || path === '/') throw new InvalidOptionError('route.path', `'${path}' must start with '/' and name at least one segment`);
  const names = new Set<string>();
  return path
    .slice(1)
    .split('/')
    .map((s) => {
      const p = PARAM.exec(s);
      if (p) {
        if (names.has(p[1]!)) throw new InvalidOptionError('route.path', `'${path}' names the parameter '${p[1]}' twice`);
        names.add(p[1]!);
        return { kind: 'param', name: p[1]! } as const;
      }
      if (!LITERAL.test(s)) throw new InvalidOptionError('route.path', `'${path}' has an invalid segment '${s}'`);
      return { kind: 'literal', value: s } as const;
    });
}

/** Declares a route; the handler's `params` and `body` are typed from the path and the body validator. */
export function route<const Path extends string, B = unknown>(def: RouteDefinition<Path, B>): Route {
  if (!HTTP_METHODS.includes(def.method)) throw new InvalidOptionError('route.method', `'${String(def.method)}' is not supported`);
  return {
    method: def.method,
    path: def.path,
    access: def.access,
    root: def.root ?? false,
    ...(def.body ? { body: def.body } : {}),
    // The router only calls the handler with params named by the path and a body from the validator.
    handler: def.handler as unknown as RouteHandler,
    ...(def.summary !== undefined ? { summary: def.summary } : {}),
    segments: parsePattern(def.path),
  };
}

export type RouteMatch =
  | { readonly kind: 'found'; readonly route: Route; readonly params: Readonly<Record<string, string>> }
  | { readonly kind: 'method-not-allowed'; readonly allow: readonly HttpMethod[] }
  | { readonly kind: 'not-found' }
  | { readonly kind: 'bad-path'; readonly reason: string };

export interface Router {
  readonly routes: readonly Route[];
  /** Matches a request path (without the query string, still percent-encoded). */
  match(method: string, pathname: string): RouteMatch;
}

/** Literal segments before parameters, so '/tasks/failed' wins over '/tasks/:id'. */
function compareSpecificity(a: Route, b: Route): number {
  const n = Math.max(a.segments.length, b.segments.length);
  for (let i = 0; i < n; i++) {
    const sa = a.segments[i];
    const sb = b.segments[i];
    if (!sa || !sb) return sa ? 1 : -1;
    if (sa.kind !== sb.kind) return sa.kind === 'literal' ? -1 : 1;
  }
  return 0;
}

function shape(r: Route): string {
  return (r.root ? '' : API_PREFIX) + '/' + r.segments.map((s) => (s.kind === 'literal' ? s.value : ':')).join('/');
}

/** Builds a router; two routes with the same method and the same shape are a programming error. */
export function createRouter(routes: readonly Route[]): Router {
  const seen = new Map<string, Route>();
  for (const r of routes) {
    const key = `${r.method} ${shape(r)}`;
    const other = seen.get(key);
    if (other) throw new InvalidOptionError('routes', `'${r.method} ${r.path}' conflicts with '${other.method} ${other.path}'`);
    seen.set(key, r);
  }
  const sorted = [...routes].sort(compareSpecificity);
  return {
    routes: sorted,
    match(method, pathname) {
      const prefixed = pathname.startsWith(API_PREFIX + '/');
      const raw = (prefixed ? pathname.slice(API_PREFIX.length + 1) : pathname.slice(1)).split('/');
      const decoded: string[] = [];
      for (const s of raw) {
        try {
          decoded.push(decodeURIComponent(s));
        } catch {
          return { kind: 'bad-path', reason: 'the path is not valid percent-encoding' };
        }
      }
      const allow = new Set<HttpMethod>();
      for (const r of sorted) {
        if (r.root === prefixed) continue;
        const params = matchSegments(r.segments, decoded);
        if (!params) continue;
        if (r.method === method) return { kind: 'found', route: r, params };
        allow.add(r.method);
      }
      if (allow.size > 0) return { kind: 'method-not-allowed', allow: HTTP_METHODS.filter((m) => allow.has(m)) };
      return { kind: 'not-found' };
    },
  };
}

function matchSegments(pattern: readonly Segment[], segments: readonly string[]): Record<string, string> | undefined {
  if (pattern.length !== segments.length) return undefined;
  const params: Record<string, string> = Object.create(null) as Record<string, string>;
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    const s = segments[i]!;
    if (p.kind === 'literal') {
      if (p.value !== s) return undefined;
    } else {
      if (s === '') return undefined;
      params[p.name] = s;
    }
  }
  return params;
}

/** Parses a query string ('a=1&b=2', without '?') into a null-prototype object; the first value of a name wins. */
export function parseQuery(search: string): Query {
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [k, v] of new URLSearchParams(search)) if (!(k in out)) out[k] = v;
  return out;
}

/**
 * Builds a request path (relative to API_PREFIX, as the client takes it) from a route pattern:
 * `formatPath('/sync/:id', {id: 'a/b'}, {verbose: true})` is '/sync/a%2Fb?verbose=true'.
 */
export function formatPath<const P extends string>(pattern: P, params: PathParams<P>, query?: Readonly<Record<string, string | number | boolean | undefined>>): string {
  const values = params as Readonly<Record<string, string>>;
  const path = pattern.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, (_, name: string) => {
    const v = values[name];
    if (v === undefined || v === '') throw new RangeError(`path parameter '${name}' is missing`);
    return encodeURIComponent(v);
  });
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) qs.append(k, String(v));
  const q = qs.toString();
  return path + (q === '' ? '' : `?${q}`);
}
