import type { Output } from '../../output.ts';
import { SYNC_PATHS, type StatusResponse, type TableStatusView } from '../../../control/v1/sync.ts';
import type { Command } from '../../command.ts';
import { failures, statusExitCode } from './status-verdict.ts';
import { ask, JSON_FIELD, MASTER_CLIENT_FIELDS, OPERATOR_FIELDS, operatorClient } from './common.ts';

function lag(seconds: number | null, bytes: number | null): string {
  if (seconds === null || bytes === null) return '-';
  return `${seconds.toFixed(1)} s / ${bytes} B`;
}

function progress(t: TableStatusView): string {
  if (t.status !== 'copying' && t.status !== 'copied') return '';
  return `${t.rowsCopied}/${t.rowsTotal}`;
}

function printHuman(r: StatusResponse, verbose: boolean, out: Output): void {
  if (r.sync) {
    out.line(`Sync '${r.sync.id}' (run ${r.sync.run ?? '-'}) into ${r.datacenter} from ${r.source.join(', ')}: ${r.status}`);
    if (r.sourceCheckedAt) out.line(`Source last heard from: ${r.sourceCheckedAt}`);
  } else {
    out.line(`No incoming sync in ${r.datacenter}: ${r.status}`);
  }
  if (r.error) out.line(`Error: ${r.error}`);
  // Failures come first, so that a failed table is never lost below a healthy-looking table of databases.
  for (const f of failures(r)) out.line(`FAILED: ${f}`);
  if (r.databases.length > 0) {
    out.line('');
    out.table(
      r.databases.map((d) => ({
        database: d.database,
        status: d.status,
        lag: lag(d.lagSeconds, d.lagBytes),
        'last message': d.lastMessageTime ?? '-',
        source: d.sourceTask ? `${d.sourceTask.state}@${d.sourceTask.workerId ?? '-'}` : '-',
        destination: d.destinationTask ? `${d.destinationTask.state}@${d.destinationTask.workerId ?? '-'}` : '-',
      })),
      ['database', 'status', 'lag', 'last message', 'source', 'destination'],
    );
  }
  const tables = verbose ? r.tables : r.tables.filter((t) => t.status !== 'running');
  if (tables.length > 0) {
    out.line('');
    out.table(
      tables.map((t) => ({ database: t.database, table: t.table, status: t.status, copied: progress(t), lag: lag(t.lagSeconds, t.lagBytes), error: t.error ?? '' })),
      ['database', 'table', 'status', 'copied', 'lag', 'error'],
    );
  } else if (r.tables.length > 0) {
    out.line(`All ${r.tables.length} table(s) running (-v lists them).`);
  }
  for (const o of r.outgoing) {
    out.line('');
    out.line(`Outgoing sync '${o.id}' (run ${o.run ?? '-'}) to ${o.destination.datacenter} (${o.destination.endpoints.join(', ')}): ${o.status}${o.cleanupPending > 0 ? `, ${o.cleanupPending} run(s) still to clean up` : ''}`);
    if (verbose || o.databases.some((d) => d.state !== 'running')) {
      out.table(
        o.databases.map((d) => ({ database: d.database, state: d.state, worker: d.workerId ?? '-', 'initial copy': d.snapshotComplete ? 'done' : 'running', error: d.error ?? '' })),
        ['database', 'state', 'worker', 'initial copy', 'error'],
      );
    }
  }
  if (r.warnings.length > 0) {
    out.line('');
    for (const w of r.warnings) out.line(`Warning: ${w}`);
  }
}

/**
 * `dcsync get status`: the incoming sync (per database and table) and the outgoing syncs of a datacenter.
 * Exits 0 when nothing failed, 3 when anything failed (status-verdict.ts), 1 when the masters cannot answer.
 */
export const getStatusCommand: Command = {
  path: ['get', 'status'],
  summary: 'Show the sync status (exit 0 ok, 3 something failed, 1 no answer)',
  fields: [...MASTER_CLIENT_FIELDS, ...OPERATOR_FIELDS, JSON_FIELD, { key: 'verbose', type: 'boolean', short: 'v', default: false, description: 'List every table and outgoing database' }],
  async action(v, { out, signal }) {
    const r = await ask(operatorClient(v), (c) => c.get<StatusResponse>(SYNC_PATHS.status, { signal }));
    if (v['json']) out.json(r);
    else printHuman(r, v['verbose'] === true, out);
    return statusExitCode(r);
  },
};
