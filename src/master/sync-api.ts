/**
 * The sync lifecycle routes (control/v1/sync.ts has the shapes, docs/api.md the reference).
 *
 * - operator: POST /syncs (configure, at the destination), GET /status (any master), POST /syncs/:id/stop and
 *   /syncs/:id/abort (destination), POST /outgoing-syncs/:id/abort (source), POST /tasks/:id/reset.
 * - peer (the destination's masters, client certificate): PUT, GET, DELETE /peer/outgoing-syncs/:id.
 *
 * Writes are the leader's. A follower answers 503 naming the leader, and the caller (ControlClient, the CLI and
 * the destination's leader alike) tries the next master; reads are answered by any master from PostgreSQL.
 */
import { randomBytes } from 'node:crypto';
import { newRecordKeyText } from '../transport/record-auth.ts';
import { HttpError, badRequest } from '../control/errors.ts';
import { route, type AuthContext, type Route, type RouteRequest, type RouteResponse } from '../control/router.ts';
import { errorMessage } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { delay } from '../core/time.ts';
import { expiresInMs, parseCaCertificates, parseKeyfile, validityAt } from '../tls/index.ts';
import type { LeaderElection } from './election.ts';
import { noLeader } from './forward.ts';
import { PeerClient, explainPeerFailure } from './peer-client.ts';
import type { SchedulerLoop } from './scheduler-loop.ts';
import { buildStatus, destinationOf } from './status.ts';
import {
  SYNC_PATHS,
  parseConfigureSyncRequest,
  parsePeerStartRequest,
  parseStopSyncRequest,
  parseSyncId,
  type ConfigureSyncResponse,
  type OutgoingSyncView,
  type ResetTaskResponse,
  type StatusResponse,
  type StopSyncResponse,
  type SyncSettings,
  type SyncSummary,
} from '../control/v1/sync.ts';
import type { SyncLoop } from './sync-loop.ts';
import { checkPeerBinding, isActive, type PeerIdentity, type SyncRecord, type SyncStore } from './sync-store.ts';

export interface SyncApiDeps {
  readonly syncs: SyncStore;
  readonly election: LeaderElection;
  readonly scheduler: SchedulerLoop;
  readonly syncLoop: SyncLoop;
  readonly self: { readonly id: string };
  readonly datacenter: string;
  /** Every master of this datacenter: what the source is told to call back. */
  readonly masterEndpoints: readonly string[];
  readonly log: Logger;
}

const CLIENT_AUTH_OID = '1.3.6.1.5.5.7.3.2';
const WARN_MS = 30 * 86_400_000;
const DEFAULT_STOP_TIMEOUT_MS = 60_000;

function newRun(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return [...randomBytes(6)].map((b) => alphabet[b % alphabet.length]).join('');
}

function summary(s: SyncRecord): SyncSummary {
  return { id: s.id, run: s.run, role: s.role, status: s.status, createdAt: s.createdAt.toISOString(), updatedAt: s.updatedAt.toISOString() };
}

function sameSettings(a: unknown, b: SyncSettings): boolean {
  if (typeof a !== 'object' || a === null) return false;
  const o = a as Record<string, unknown>;
  return (Object.keys(b) as (keyof SyncSettings)[]).every((k) => o[k] === b[k]);
}

function sameEndpoints(a: unknown, b: readonly string[]): boolean {
  return Array.isArray(a) && [...a].sort().join(',') === [...b].sort().join(',');
}

/** Runs the handler on the leader with its epoch; a follower answers 503 with the leader. */
export function leaderOnly<P, B>(d: Pick<SyncApiDeps, 'election' | 'self'>, handler: (req: RouteRequest<P, B>, epoch: number) => Promise<RouteResponse>): (req: RouteRequest<P, B>) => Promise<RouteResponse> {
  return async (req) => {
    const epoch = d.election.leaderEpoch;
    if (epoch !== undefined) return handler(req, epoch);
    const leader = d.election.knownLeader;
    return noLeader(leader && leader.id !== d.self.id ? `this master does not lead; the leader is ${leader.endpoint}` : 'no master leads right now; try again shortly', leader);
  };
}

/** Checks the client keyfile an incoming sync will present to the source. */
function checkClientKeyfile(pem: string): void {
  let kf;
  try {
    kf = parseKeyfile(pem);
  } catch (err) {
    throw badRequest(`'clientKeyfile' is not a keyfile (certificate and private key): ${errorMessage(err)}`);
  }
  const c = kf.certificate;
  if (!c.extendedKeyUsage.includes(CLIENT_AUTH_OID) || c.isCa) throw badRequest(`the client keyfile (${c.subject}) is not a client certificate: issue one with 'dcsync create client-auth keyfile' from the source's client-auth CA`);
  const v = validityAt(c);
  if (v !== 'valid') throw badRequest(`the client keyfile (${c.subject}) is ${v === 'expired' ? `expired since ${c.notAfter.toISOString()}` : `not valid before ${c.notBefore.toISOString()}`}`);
}

/** Waits (up to timeoutMs) until the sync is `inactive`, then answers 200; still going on: 202. */
/** The incoming sync `id` of this datacenter, or a 404 (`where` tells the operator which side to ask). */
async function incomingSync(d: SyncApiDeps, id: string, where = ''): Promise<SyncRecord> {
  const cur = await d.syncs.get(id);
  if (!cur || cur.role !== 'incoming') throw new HttpError(404, 'not-found', `no incoming sync '${id}' in this datacenter${where}`);
  return cur;
}

async function answerWhenInactive(
  d: SyncApiDeps,
  cur: SyncRecord,
  timeoutMs: number | undefined,
  signal: AbortSignal,
  message: { done: string; pending: (after: SyncRecord | undefined) => string },
): Promise<RouteResponse> {
  const deadline = Date.now() + (timeoutMs ?? DEFAULT_STOP_TIMEOUT_MS);
  let after = await d.syncs.get(cur.id);
  while (after?.status !== 'inactive' && Date.now() < deadline && !signal.aborted) {
    await delay(500, signal).catch(() => {});
    after = await d.syncs.get(cur.id);
  }
  const cleaned = after?.status === 'inactive';
  const body: StopSyncResponse = { sync: summary(after ?? cur), sourceCleaned: cleaned, message: cleaned ? message.done : message.pending(after) };
  return { status: cleaned ? 200 : 202, body };
}

async function outgoingView(d: SyncApiDeps, s: SyncRecord): Promise<OutgoingSyncView> {
  const [tasks, cleanups, warnings, databases] = await Promise.all([d.syncs.tasksOf(s.id), d.syncs.cleanups(), d.syncs.warnings(), d.syncs.localDatabases()]);
  const live = tasks.filter((t) => t.state !== 'cancelled');
  return {
    id: s.id,
    run: s.run,
    status: s.status,
    destination: destinationOf(s),
    databases: isActive(s.status) ? databases : [],
    tasks: live.map((t) => ({ database: t.database, kind: t.kind, state: t.state, workerId: t.workerId, error: t.error, progress: t.progress })),
    warnings,
    cleanupPending: cleanups.filter((c) => c.syncId === s.id).length,
    updatedAt: s.updatedAt.toISOString(),
  };
}

/** The verified client certificate of a peer route's caller (the server sets both for access 'peer'). */
function peerIdentity(auth: AuthContext): PeerIdentity {
  if (auth.kind !== 'peer' || auth.fingerprint256 === undefined) throw new HttpError(403, 'forbidden', 'this route needs a client certificate');
  return { subject: auth.subject, fingerprint256: auth.fingerprint256 };
}

function clientKeyfileWarning(s: SyncRecord): string[] {
  if (s.secret === null) return [];
  try {
    const c = parseKeyfile(s.secret).certificate;
    if (validityAt(c) === 'expired') return [`the client keyfile of sync '${s.id}' (${c.subject}) expired on ${c.notAfter.toISOString()}: the source refuses it; stop the sync and configure it again with a new one`];
    const left = expiresInMs(c);
    if (left < WARN_MS) return [`the client keyfile of sync '${s.id}' (${c.subject}) expires on ${c.notAfter.toISOString()} (in ${Math.floor(left / 86_400_000)} day(s))`];
  } catch {
    return [];
  }
  return [];
}

/** What `GET /status` answers, read from this datacenter's PostgreSQL (any master can). */
export async function readStatus(d: Pick<SyncApiDeps, 'syncs' | 'datacenter' | 'self'>): Promise<StatusResponse> {
  const [syncs, cleanups, warnings] = await Promise.all([d.syncs.list(), d.syncs.cleanups(), d.syncs.warnings()]);
  const incomings = syncs.filter((s) => s.role === 'incoming').sort((a, b) => Number(isActive(b.status)) - Number(isActive(a.status)) || b.updatedAt.getTime() - a.updatedAt.getTime());
  const inc = incomings[0];
  const outgoing = await Promise.all(
    syncs.filter((s) => s.role === 'outgoing').map(async (s) => ({ sync: s, tasks: await d.syncs.tasksOf(s.id), cleanupPending: cleanups.filter((c) => c.syncId === s.id).length })),
  );
  return buildStatus({
    datacenter: d.datacenter,
    answeredBy: d.self.id,
    incoming: inc ? { sync: inc, tasks: await d.syncs.tasksOf(inc.id) } : undefined,
    outgoing,
    warnings: [...warnings, ...(inc && isActive(inc.status) ? clientKeyfileWarning(inc) : [])],
  });
}

export function syncRoutes(d: SyncApiDeps): Route[] {
  return [
    route({
      method: 'POST',
      path: SYNC_PATHS.syncs,
      access: 'operator',
      body: parseConfigureSyncRequest,
      summary: 'configure the incoming sync from a source datacenter (asks the source to start it)',
      handler: leaderOnly(d, async (req, epoch) => {
        const r = req.body;
        checkClientKeyfile(r.clientKeyfile);
        try {
          parseCaCertificates(r.source.cacert);
        } catch (err) {
          throw badRequest(`'source.cacert' is not a CA certificate: ${errorMessage(err)}`);
        }
        const cur = await d.syncs.get(r.id);
        if (cur?.role === 'outgoing' && cur.status !== 'inactive') throw new HttpError(409, 'conflict', `sync '${r.id}' is an outgoing sync of this datacenter (it is the source of it)`);
        if (cur?.role === 'incoming' && cur.status === 'cancelling') throw new HttpError(409, 'conflict', `sync '${r.id}' is being stopped; wait for 'stop sync' to finish, or run 'dcsync abort sync'`);
        let run = newRun();
        let recordKey: string | undefined = newRecordKeyText();
        let same = false;
        if (cur?.role === 'incoming' && isActive(cur.status)) {
          const source = (cur.config['source'] ?? {}) as Record<string, unknown>;
          if (!sameEndpoints(source['endpoints'], r.source.endpoints) || !sameSettings(cur.config['settings'], r.settings)) {
            throw new HttpError(409, 'conflict', `sync '${r.id}' is already configured (source ${String(source['endpoints'])}, other settings); run 'dcsync stop sync' first to change it`);
          }
          run = cur.run ?? run;
          const stored = cur.config['recordKey'];
          recordKey = typeof stored === 'string' ? stored : undefined; // a run keeps its key; older runs have none
          same = true;
        }
        const client = new PeerClient({ endpoints: r.source.endpoints, cacert: r.source.cacert, keyfile: r.clientKeyfile });
        let view: OutgoingSyncView;
        try {
          view = await client.start(r.id, { run, destination: { datacenter: d.datacenter, endpoints: d.masterEndpoints }, settings: r.settings, ...(recordKey ? { recordKey } : {}) }, req.signal);
        } catch (err) {
          throw explainPeerFailure(err);
        } finally {
          client.close();
        }
        if (same && cur) {
          const body: ConfigureSyncResponse = { sync: summary(cur), created: false, databases: view.databases };
          return { status: 200, body };
        }
        const rec = await d.syncs.putIncoming(epoch, {
          id: r.id,
          run,
          config: { source: { endpoints: r.source.endpoints, cacert: r.source.cacert }, settings: r.settings, databases: [...view.databases].sort(), ...(recordKey ? { recordKey } : {}) },
          secret: r.clientKeyfile,
          peer: view as unknown as Record<string, unknown>,
        });
        d.log.info('sync configured', { syncId: r.id, run, source: r.source.endpoints, databases: view.databases, settings: r.settings });
        d.scheduler.poke();
        d.syncLoop.poke();
        const body: ConfigureSyncResponse = { sync: summary(rec), created: true, databases: view.databases };
        return { status: 201, body };
      }),
    }),
    route({
      method: 'GET',
      path: SYNC_PATHS.status,
      access: 'operator',
      summary: 'status of the incoming sync (per database and table) and of the outgoing syncs',
      handler: async () => ({ status: 200, body: await readStatus(d) }),
    }),
    route({
      method: 'POST',
      path: SYNC_PATHS.stopSync,
      access: 'operator',
      body: parseStopSyncRequest,
      summary: 'stop the incoming sync on both sides; the source drops its slots and publications',
      handler: leaderOnly(d, async (req, epoch) => {
        const id = parseSyncId(req.params.id);
        const cur = await incomingSync(d, id, " (stop sync runs against the destination's masters)");
        if (cur.status !== 'inactive' && cur.status !== 'cancelling') await d.syncs.setStatus(epoch, id, 'cancelling');
        d.log.info('sync stopping', { syncId: id });
        d.scheduler.poke();
        d.syncLoop.poke();
        return answerWhenInactive(d, cur, req.body.timeoutMs, req.signal, {
          done: 'stopped: the destination tasks ended and the source dropped its slots and publications',
          pending: (after) => `still stopping: the source did not confirm yet${after?.peerError ? ` (${after.peerError})` : ''}; the masters keep trying. 'dcsync abort sync' stops this side alone`,
        });
      }),
    }),
    route({
      method: 'POST',
      path: SYNC_PATHS.abortSync,
      access: 'operator',
      summary: 'stop the incoming sync at this side only (when the source cannot be reached)',
      handler: leaderOnly(d, async (req, epoch) => {
        const id = parseSyncId(req.params.id);
        const cur = await incomingSync(d, id);
        await d.syncs.setStatus(epoch, id, 'inactive');
        d.log.warn('sync aborted at the destination', { syncId: id });
        await d.syncLoop.releaseDatabases(cur);
        d.scheduler.poke();
        const after = (await d.syncs.get(id)) ?? cur;
        const body: StopSyncResponse = {
          sync: summary(after),
          sourceCleaned: false,
          message: "aborted at this side; the source keeps its slots (holding WAL) until 'dcsync abort outgoing sync' runs against the source's masters",
        };
        return { status: 200, body };
      }),
    }),
    route({
      method: 'POST',
      path: SYNC_PATHS.abortOutgoing,
      access: 'operator',
      body: parseStopSyncRequest,
      summary: 'end an outgoing sync at the source (its destination is gone): drops its slots and publications',
      handler: leaderOnly(d, async (req, epoch) => {
        const id = parseSyncId(req.params.id);
        const cur = await d.syncs.stopOutgoing(epoch, id, undefined, 'aborted at the source');
        if (!cur) throw new HttpError(404, 'not-found', `no outgoing sync '${id}' in this datacenter (abort outgoing sync runs against the source's masters)`);
        d.log.warn('outgoing sync aborted', { syncId: id });
        d.scheduler.poke();
        d.syncLoop.poke();
        return answerWhenInactive(d, cur, req.body.timeoutMs, req.signal, {
          done: 'aborted: the source tasks ended and their slots and publications are dropped',
          pending: () => 'still cleaning up: slots in use wait for their tasks to end; the masters keep trying',
        });
      }),
    }),
    route({
      method: 'POST',
      path: SYNC_PATHS.resetTask,
      access: 'operator',
      summary: 'restart a failed task (on any live worker)',
      handler: leaderOnly(d, async (req, epoch) => {
        const r = await d.syncs.resetTask(epoch, req.params.id);
        if (r.kind === 'not-found') throw new HttpError(404, 'not-found', `no task '${req.params.id}' ('dcsync get tasks' lists them)`);
        if (r.kind === 'not-failed') throw new HttpError(409, 'conflict', `task '${r.task.id}' is ${r.task.state}; only a failed task is reset`);
        d.log.info('task reset', { taskId: r.task.id, epoch: r.task.epoch });
        d.scheduler.poke();
        const body: ResetTaskResponse = { taskId: r.task.id, state: r.task.state, epoch: r.task.epoch };
        return { status: 200, body };
      }),
    }),
    route({
      method: 'PUT',
      path: SYNC_PATHS.peerOutgoing,
      access: 'peer',
      body: parsePeerStartRequest,
      summary: 'the destination starts (or confirms) an outgoing sync of this datacenter',
      handler: leaderOnly(d, async (req, epoch) => {
        const id = parseSyncId(req.params.id);
        const b = req.body;
        const { sync, replaced } = await d.syncs.putOutgoing(epoch, { id, run: b.run, config: { destination: b.destination, settings: b.settings, ...(b.recordKey ? { recordKey: b.recordKey } : {}) } }, peerIdentity(req.auth));
        if (replaced !== null) d.log.warn('outgoing sync replaced by a new run; the old run is cleaned up', { syncId: id, run: b.run, replaced });
        else d.log.info('outgoing sync started or confirmed', { syncId: id, run: b.run, destination: b.destination, by: req.auth.subject });
        d.scheduler.poke();
        d.syncLoop.poke();
        return { status: 200, body: await outgoingView(d, sync) };
      }),
    }),
    route({
      method: 'GET',
      path: SYNC_PATHS.peerOutgoing,
      access: 'peer',
      summary: "the source's view of an outgoing sync: databases, tasks and their progress",
      handler: async (req) => {
        const s = await d.syncs.get(parseSyncId(req.params.id));
        if (!s || s.role !== 'outgoing') throw new HttpError(404, 'not-found', `no outgoing sync '${req.params.id}' here`);
        checkPeerBinding(s, peerIdentity(req.auth));
        return { status: 200, body: await outgoingView(d, s) };
      },
    }),
    route({
      method: 'DELETE',
      path: SYNC_PATHS.peerOutgoing,
      access: 'peer',
      summary: 'the destination stops an outgoing sync (the run given by ?run=)',
      handler: leaderOnly(d, async (req, epoch) => {
        const id = parseSyncId(req.params.id);
        const run = req.query['run'];
        const s = await d.syncs.stopOutgoing(epoch, id, run, 'stopped by the destination', peerIdentity(req.auth));
        if (!s) throw new HttpError(404, 'not-found', `no outgoing sync '${id}' here`);
        d.scheduler.poke();
        d.syncLoop.poke();
        return { status: 200, body: await outgoingView(d, s) };
      }),
    }),
  ];
}
