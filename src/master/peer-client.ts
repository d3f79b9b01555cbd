/**
 * The destination's leader talking to the source datacenter's masters: peer routes, authenticated by the client
 * keyfile from the source's client-auth CA that `configure sync` handed over, the source's certificates checked
 * against the source's TLS CA. The masters are tried in turn; a follower answers 503 and the next is tried.
 */
import { ControlClient } from '../control/client.ts';
import { ControlHttpError, EndpointsUnreachableError, HttpError } from '../control/errors.ts';
import { formatPath } from '../control/router.ts';
import { parseKeyfile } from '../tls/index.ts';
import { SYNC_PATHS, type OutgoingSyncView, type PeerStartRequest } from '../control/v1/sync.ts';
import { CHECK_PATHS, type PeerCutRequest, type PeerCutResponse, type PeerHashRequest, type PeerHashResponse } from '../control/v1/check.ts';

export interface PeerTarget {
  readonly endpoints: readonly string[];
  /** PEM of the source's TLS CA. */
  readonly cacert: string;
  /** PEM keyfile from the source's client-auth CA. */
  readonly keyfile: string;
}

/** Reads the source link of an incoming sync's stored config; undefined when it is incomplete. */
export function peerTargetOf(config: Readonly<Record<string, unknown>>, secret: string | null): PeerTarget | undefined {
  const source = config['source'];
  if (typeof source !== 'object' || source === null || secret === null) return undefined;
  const s = source as Record<string, unknown>;
  const endpoints = s['endpoints'];
  const cacert = s['cacert'];
  if (!Array.isArray(endpoints) || typeof cacert !== 'string') return undefined;
  return { endpoints: endpoints.filter((e): e is string => typeof e === 'string'), cacert, keyfile: secret };
}

export class PeerClient {
  readonly #client: ControlClient;

  constructor(t: PeerTarget, timeoutMs = 10_000) {
    this.#client = new ControlClient({ endpoints: t.endpoints, ca: t.cacert, keyfile: parseKeyfile(t.keyfile), timeout: timeoutMs });
  }

  start(id: string, body: PeerStartRequest, signal?: AbortSignal): Promise<OutgoingSyncView> {
    return this.#client.put<OutgoingSyncView>(formatPath(SYNC_PATHS.peerOutgoing, { id }), body, signal ? { signal } : {});
  }

  /** undefined when the source has no such sync (404). */
  async get(id: string, signal?: AbortSignal): Promise<OutgoingSyncView | undefined> {
    try {
      return await this.#client.get<OutgoingSyncView>(formatPath(SYNC_PATHS.peerOutgoing, { id }), signal ? { signal } : {});
    } catch (err) {
      if (err instanceof ControlHttpError && err.status === 404) return undefined;
      throw err;
    }
  }

  /** Asks the source to stop `run` of the sync; undefined when it has no such sync. */
  async stop(id: string, run: string | null, signal?: AbortSignal): Promise<OutgoingSyncView | undefined> {
    try {
      return await this.#client.delete<OutgoingSyncView>(formatPath(SYNC_PATHS.peerOutgoing, { id }), { ...(run !== null ? { query: { run } } : {}), ...(signal ? { signal } : {}) });
    } catch (err) {
      if (err instanceof ControlHttpError && err.status === 404) return undefined;
      throw err;
    }
  }

  /** check sync: the source takes the check's cut in one database. */
  checkCut(id: string, body: PeerCutRequest, signal?: AbortSignal): Promise<PeerCutResponse> {
    return this.#client.post<PeerCutResponse>(formatPath(CHECK_PATHS.peerChecks, { id }), body, signal ? { signal } : {});
  }

  /** check sync: chunk summaries or rows at the source's cut. */
  checkHash(id: string, check: string, body: PeerHashRequest, signal?: AbortSignal): Promise<PeerHashResponse> {
    return this.#client.post<PeerHashResponse>(formatPath(CHECK_PATHS.peerCheck, { id, check }), body, signal ? { signal } : {});
  }

  /** check sync: the source releases the check's snapshots. */
  async checkRelease(id: string, check: string): Promise<void> {
    await this.#client.delete(formatPath(CHECK_PATHS.peerCheck, { id, check }));
  }

  close(): void {
    this.#client.close();
  }
}

/** Turns a failed call to the source into an answer for the operator that names the source's endpoints. */
export function explainPeerFailure(err: unknown): HttpError {
  if (err instanceof EndpointsUnreachableError) {
    return new HttpError(502, 'bad-gateway', `the source datacenter's masters cannot be reached or refused the connection: ${err.message.replace(/^none of \d+ endpoint\(s\) answered: /, '')}`);
  }
  if (err instanceof ControlHttpError) {
    if (err.status === 401 || err.status === 403) {
      return new HttpError(502, 'bad-gateway', `the source master ${err.endpoint} refused the client certificate (${err.status}: ${err.serverMessage}); pass --master.keyfile issued by the SOURCE's client-auth CA`);
    }
    return new HttpError(502, 'bad-gateway', `the source master ${err.endpoint} answered ${err.status} ${err.code}: ${err.serverMessage}`);
  }
  if (err instanceof HttpError) return err;
  return new HttpError(502, 'bad-gateway', `calling the source datacenter failed: ${err instanceof Error ? err.message : String(err)}`);
}
