/**
 * `check sync` routes (control/v1/check.ts has the shapes, docs/check.md the operator's view).
 *
 * - operator, at the destination: POST /syncs/:id/checks starts a check on the leader, GET /syncs/:id/checks/:check
 *   reads its progress and result. Checks live in the leader's memory: a failover ends them (run the check again).
 * - peer, at the source: POST /peer/outgoing-syncs/:id/checks takes a database's cut; POST …/checks/:check hashes in
 *   it; DELETE …/checks/:check releases it. Only the leader holds cuts, so every peer call goes to it.
 */
import { randomBytes } from 'node:crypto';
import { HttpError } from '../control/errors.ts';
import { route, type AuthContext, type Route } from '../control/router.ts';
import { errorMessage } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { CheckJob } from '../check/check-job.ts';
import type { RowDigest } from '../check/chunk-compare.ts';
import { SourceChecks } from '../check/source-checks.ts';
import type { TableCheckOptions } from '../check/table-check.ts';
import { CHECK_PATHS, parseCheckId, parsePeerCutRequest, parsePeerHashRequest, parseStartCheckRequest, type PeerCutResponse, type PeerHashResponse } from '../control/v1/check.ts';
import { parseSyncId, streamName } from '../control/v1/sync.ts';
import type { LeaderElection } from './election.ts';
import { PeerClient, peerTargetOf } from './peer-client.ts';
import { leaderOnly, readStatus } from './sync-api.ts';
import { checkPeerBinding, isActive, type PeerIdentity, type SyncStore } from './sync-store.ts';

export interface CheckApiDeps {
  readonly syncs: SyncStore;
  readonly election: LeaderElection;
  readonly self: { readonly id: string };
  readonly datacenter: string;
  /** This datacenter's PostgreSQL: where the master hashes (A: the source databases, B: the target databases). */
  readonly clusterUrl: string;
  readonly sourceChecks: SourceChecks;
  readonly log: Logger;
  /** How long the destination may take to reach a check's marker. */
  readonly reachTimeoutMs?: number;
  readonly table?: TableCheckOptions;
}

/** Finished checks kept for their result. */
const KEEP_FINISHED = 20;
/** A peer call may hash a large table whole. */
const PEER_TIMEOUT_MS = 30 * 60_000;

function newCheckId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return `c-${[...randomBytes(10)].map((b) => alphabet[b % alphabet.length]).join('')}`;
}

function peerIdentity(auth: AuthContext): PeerIdentity {
  if (auth.kind !== 'peer' || auth.fingerprint256 === undefined) throw new HttpError(403, 'forbidden', 'this route needs a client certificate');
  return { subject: auth.subject, fingerprint256: auth.fingerprint256 };
}

/** The destination's checks, newest last. */
class CheckJobs {
  readonly #jobs = new Map<string, CheckJob>();

  add(job: CheckJob): void {
    this.#jobs.set(job.view.id, job);
    const finished = [...this.#jobs.values()].filter((j) => j.done);
    for (const j of finished.slice(0, Math.max(0, finished.length - KEEP_FINISHED))) this.#jobs.delete(j.view.id);
  }

  get(id: string): CheckJob | undefined {
    return this.#jobs.get(id);
  }
}

export function checkRoutes(d: CheckApiDeps): Route[] {
  const jobs = new CheckJobs();
  const lead = { election: d.election, self: d.self };
  return [
    route({
      method: 'POST',
      path: CHECK_PATHS.checks,
      access: 'operator',
      body: parseStartCheckRequest,
      summary: 'start a check of the incoming sync: both sides hashed at the same point of the stream',
      handler: leaderOnly(lead, async (req) => {
        const id = parseSyncId(req.params.id);
        const cur = await d.syncs.get(id);
        if (!cur || cur.role !== 'incoming') throw new HttpError(404, 'not-found', `no incoming sync '${id}' in this datacenter: 'check sync' runs against the destination's masters, once 'dcsync configure sync' set the sync up`);
        // The stored status says only that the sync is active; how far it got is derived from its tasks.
        const st = await readStatus(d);
        const status = st.sync?.id === id ? st.status : cur.status;
        if (status !== 'running') throw new HttpError(409, 'conflict', `sync '${id}' is ${status}: only a running sync (its initial copy done) can be checked`);
        const configured = Array.isArray(cur.config['databases']) ? (cur.config['databases'] as unknown[]).filter((x): x is string => typeof x === 'string') : [];
        const tasks = await d.syncs.tasksOf(id);
        const known = [...new Set([...configured, ...tasks.filter((t) => t.state !== 'cancelled').map((t) => t.database)])].sort();
        const unknown = req.body.databases.filter((db) => !known.includes(db));
        if (unknown.length > 0) throw new HttpError(404, 'not-found', `sync '${id}' has no database ${unknown.map((x) => `'${x}'`).join(', ')} (its databases: ${known.join(', ') || 'none yet'})`);
        const target = peerTargetOf(cur.config, cur.secret);
        if (!target) throw new HttpError(409, 'conflict', `sync '${id}' has no usable link to its source; configure it again`);
        const databases = req.body.databases.length > 0 ? [...new Set(req.body.databases)] : known;
        if (databases.length === 0) throw new HttpError(409, 'conflict', `sync '${id}' has no databases to check yet`);
        const job = new CheckJob({
          id: newCheckId(),
          syncId: id,
          databases,
          tables: req.body.tables,
          peer: new PeerClient(target, PEER_TIMEOUT_MS),
          targetUrl: d.clusterUrl,
          reachTimeoutMs: d.reachTimeoutMs ?? 600_000,
          ...(d.table ? { table: d.table } : {}),
          log: d.log,
        });
        jobs.add(job);
        d.log.info('check started', { syncId: id, checkId: job.view.id, databases, tables: req.body.tables });
        void job.run();
        return { status: 202, body: job.view };
      }),
    }),
    route({
      method: 'GET',
      path: CHECK_PATHS.check,
      access: 'operator',
      summary: "a check's progress, then its result",
      handler: leaderOnly(lead, async (req) => {
        const job = jobs.get(parseCheckId(req.params.check));
        if (!job || job.view.syncId !== req.params.id) throw new HttpError(404, 'not-found', `no check '${req.params.check}' of sync '${req.params.id}' on the leading master (a failover ends the checks in flight)`);
        return { status: 200, body: job.view };
      }),
    }),
    route({
      method: 'POST',
      path: CHECK_PATHS.peerChecks,
      access: 'peer',
      body: parsePeerCutRequest,
      summary: "the destination's check: take the cut in one database (lock, snapshot, marker)",
      handler: leaderOnly(lead, async (req) => {
        const id = parseSyncId(req.params.id);
        const s = await d.syncs.get(id);
        if (!s || s.role !== 'outgoing' || !isActive(s.status)) throw new HttpError(404, 'not-found', `no running outgoing sync '${id}' here`);
        checkPeerBinding(s, peerIdentity(req.auth));
        const b = req.body;
        if (!(await d.syncs.localDatabases()).includes(b.database)) throw new HttpError(404, 'not-found', `the source has no database '${b.database}'`);
        try {
          // The source task knows its sync by the stream name (id and run), as its slots and topics are named.
          const cut = await d.sourceChecks.open(streamName(id, s.run), b.checkId, b.database, b.tables, req.signal);
          const body: PeerCutResponse = cut;
          return { status: 200, body };
        } catch (err) {
          throw new HttpError(500, 'internal', `taking the check's cut in database '${b.database}' failed: ${errorMessage(err)}`);
        }
      }),
    }),
    route({
      method: 'POST',
      path: CHECK_PATHS.peerCheck,
      access: 'peer',
      body: parsePeerHashRequest,
      summary: "the destination's check: chunk summaries or rows at the cut",
      handler: leaderOnly(lead, async (req) => {
        const check = parseCheckId(req.params.check);
        const s = await d.syncs.get(parseSyncId(req.params.id));
        if (!s || s.role !== 'outgoing') throw new HttpError(404, 'not-found', `no outgoing sync '${req.params.id}' here`);
        checkPeerBinding(s, peerIdentity(req.auth));
        const b = req.body;
        const cut = d.sourceChecks.get(check, b.database);
        if (!cut) throw new HttpError(404, 'not-found', `check '${check}' holds no cut of database '${b.database}' here (released after being idle, or the master restarted): run the check again`);
        // Only the cut's tables, with the key the cut found: the peer names a table, it does not define one.
        const table = cut.tables.find((t) => t.schema === b.table.schema && t.name === b.table.name);
        if (!table) throw new HttpError(404, 'not-found', `check '${check}' does not cover ${b.table.schema}.${b.table.name} in database '${b.database}'`);
        const ranges = b.ranges.map(([lo, hi]) => ({ lo, hi }));
        let body: PeerHashResponse;
        try {
          if (b.what === 'stats') body = { stats: (await cut.hasher.stats(table, ranges)).map((c) => [c.rows, c.sum]) };
          else body = { rows: (await cut.hasher.rows(table, ranges)).map((r: RowDigest) => [r.key, r.hash, r.count]) };
        } catch (err) {
          throw new HttpError(500, 'internal', `hashing ${b.table.schema}.${b.table.name} at the source failed: ${errorMessage(err)}`);
        }
        return { status: 200, body };
      }),
    }),
    route({
      method: 'DELETE',
      path: CHECK_PATHS.peerCheck,
      access: 'peer',
      summary: "the destination's check is done: release its snapshots",
      handler: leaderOnly(lead, async (req) => {
        const s = await d.syncs.get(parseSyncId(req.params.id));
        if (s?.role === 'outgoing') checkPeerBinding(s, peerIdentity(req.auth));
        await d.sourceChecks.release(parseCheckId(req.params.check));
        return { status: 200, body: {} };
      }),
    }),
  ];
}
