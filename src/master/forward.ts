/**
 * Followers pass worker requests on to the leader. The follower has already authenticated the worker (its
 * token was signed with the datacenter's JWT secret), so it calls the leader with a fresh short-lived token for
 * the same subject, signed with the same secret, and marks the request as forwarded (query `forwarded-by`), so a
 * master that receives a forwarded request while it does not lead answers 503 instead of forwarding again.
 *
 * The leader's certificate is verified against the CA at the end of this master's own keyfile chain: the
 * masters of a datacenter have keyfiles from the same TLS CA.
 *
 * When no leader is known, or it does not answer, the answer is 503 with the leader's endpoint (when known) in
 * the body and in the `x-dcsync-leader` header: clients then try the next master of their list (ControlClient
 * does this by itself for 503).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { ControlClient } from '../control/client.ts';
import { ControlHttpError, EndpointUnreachableError, EndpointsUnreachableError, ServerCertificateError } from '../control/errors.ts';
import type { HttpMethod, RouteResponse } from '../control/router.ts';
import { errorMessage } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { signJwt, type JwtSecret } from '../tls/index.ts';
import { FORWARDED_QUERY } from '../control/v1/cluster.ts';

export interface ForwarderOptions {
  /** PEM of the CA that issued the masters' certificates. */
  readonly ca: string;
  readonly jwtSecret: JwtSecret;
  readonly datacenter: string;
  /** This master's id (the `forwarded-by` value and the tokens' issuer). */
  readonly selfId: string;
  /** Per forwarded request; default 10 s. */
  readonly timeoutMs?: number;
  readonly log: Logger;
}

/** The body of a 503 that names the leader. */
export interface NoLeaderBody {
  readonly error: { readonly code: 'unavailable'; readonly message: string };
  readonly leader: { readonly id: string; readonly endpoint: string } | null;
}

export function noLeader(message: string, leader: { id: string; endpoint: string } | undefined): RouteResponse {
  const body: NoLeaderBody = { error: { code: 'unavailable', message }, leader: leader ? { id: leader.id, endpoint: leader.endpoint } : null };
  return { status: 503, body, headers: { 'retry-after': '1', ...(leader ? { 'x-dcsync-leader': leader.endpoint } : {}) } };
}

export class LeaderForwarder {
  readonly #o: ForwarderOptions;
  readonly #log: Logger;
  readonly #clients = new Map<string, ControlClient>();
  /** The subject of the request being forwarded: the client's token function runs inside forward(). */
  readonly #subject = new AsyncLocalStorage<string>();

  constructor(o: ForwarderOptions) {
    this.#o = o;
    this.#log = o.log.child({ component: 'master.forward' });
  }

  /** Sends the request to the leader and answers with what the leader answered. */
  async forward(leader: { id: string; endpoint: string }, req: { method: HttpMethod; path: string; body: unknown; subject: string; signal: AbortSignal }): Promise<RouteResponse> {
    const client = this.#client(leader.endpoint);
    const sep = req.path.includes('?') ? '&' : '?';
    const path = `${req.path}${sep}${FORWARDED_QUERY}=${encodeURIComponent(this.#o.selfId)}`;
    this.#log.debug('request forwarded', { leader: leader.endpoint, path: req.path });
    try {
      const body = await this.#subject.run(req.subject, () =>
        client.requestAt<unknown>(leader.endpoint, req.method, path, { ...(req.body !== undefined ? { body: req.body } : {}), signal: req.signal, idempotent: false }),
      );
      return { status: 200, body };
    } catch (err) {
      if (err instanceof ControlHttpError) {
        if (err.status === 503) return noLeader(`the leader ${leader.endpoint} is not available: ${err.serverMessage}`, undefined);
        return { status: err.status, body: { error: { code: err.code, message: err.serverMessage } } };
      }
      if (err instanceof EndpointUnreachableError || err instanceof EndpointsUnreachableError || err instanceof ServerCertificateError) {
        this.#log.warn('leader unreachable', { leader: leader.endpoint, error: errorMessage(err) });
        return noLeader(`the leader ${leader.endpoint} does not answer`, leader);
      }
      throw err;
    }
  }

  close(): void {
    for (const c of this.#clients.values()) c.close();
    this.#clients.clear();
  }

  #client(endpoint: string): ControlClient {
    let c = this.#clients.get(endpoint);
    if (!c) {
      const o = this.#o;
      c = new ControlClient({
        endpoints: endpoint,
        ca: o.ca,
        timeout: o.timeoutMs ?? 10_000,
        auth: { kind: 'bearer', token: () => this.#token() },
      });
      this.#clients.set(endpoint, c);
    }
    return c;
  }

  #token(): string {
    const subject = this.#subject.getStore() ?? 'worker';
    return signJwt(this.#o.jwtSecret, { audience: this.#o.datacenter, subject, issuer: `master:${this.#o.selfId}`, expiresInMs: 60_000 });
  }
}
