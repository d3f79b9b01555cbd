/**
 * `dcsync get status` for humans, as lines: pure functions of the status answer (and, with --watch, of the copy
 * rates measured between refreshes), so the command only fetches and writes.
 */
import type { StatusResponse, TableStatusView } from '../../../control/v1/sync.ts';
import { formatTable } from '../../output.ts';
import { failures } from './status-verdict.ts';

/** Per database during the initial copy: rows copied of the (estimated) total, with the measured rate. */
export interface CopyProgress {
  readonly database: string;
  readonly done: boolean;
  readonly rowsCopied: number;
  readonly rowsTotal: number;
  /** null until two refreshes measured it. */
  readonly rowsPerSecond: number | null;
  readonly secondsLeft: number | null;
}

/** How far back the rate looks: long enough to smooth a copy session's bursts, short enough to follow a change. */
const RATE_WINDOW_MS = 30_000;

/**
 * Rows per second of each database's copy, measured between refreshes of `--watch` (the status holds the rows
 * copied so far, not since when): the rows gained over the samples of the last RATE_WINDOW_MS.
 */
export class CopyRates {
  readonly #samples = new Map<string, { at: number; rows: number }[]>();

  update(nowMs: number, r: StatusResponse): ReadonlyMap<string, number | null> {
    const out = new Map<string, number | null>();
    for (const [database, rows] of copiedRows(r)) {
      const s = this.#samples.get(database) ?? [];
      if (s.length > 0 && rows < s.at(-1)!.rows) s.length = 0; // a copy started again
      s.push({ at: nowMs, rows });
      while (s.length > 2 && nowMs - s[0]!.at > RATE_WINDOW_MS) s.shift();
      this.#samples.set(database, s);
      const first = s[0]!;
      const seconds = (nowMs - first.at) / 1000;
      out.set(database, s.length >= 2 && seconds > 0 ? (rows - first.rows) / seconds : null);
    }
    return out;
  }
}

function copiedRows(r: StatusResponse): Map<string, number> {
  const rows = new Map<string, number>(r.databases.map((d) => [d.database, 0]));
  for (const t of r.tables) rows.set(t.database, (rows.get(t.database) ?? 0) + t.rowsCopied);
  return rows;
}

/** Whether any database of the incoming sync still copies (or waits to). */
export function copying(r: StatusResponse): boolean {
  return r.databases.some((d) => d.status === 'copying' || d.status === 'waiting');
}

export function copyProgress(r: StatusResponse, rates: ReadonlyMap<string, number | null> = new Map()): CopyProgress[] {
  return r.databases.map((d) => {
    const tables = r.tables.filter((t) => t.database === d.database);
    const rowsCopied = tables.reduce((n, t) => n + t.rowsCopied, 0);
    const rowsTotal = Math.max(rowsCopied, tables.reduce((n, t) => n + t.rowsTotal, 0));
    const done = d.status !== 'copying' && d.status !== 'waiting';
    const rate = done ? null : (rates.get(d.database) ?? null);
    const secondsLeft = rate !== null && rate > 0 ? (rowsTotal - rowsCopied) / rate : null;
    return { database: d.database, done, rowsCopied, rowsTotal, rowsPerSecond: rate, secondsLeft };
  });
}

/** `[█████░░░░░]` for a fraction in [0, 1]. */
export function progressBar(fraction: number, width: number): string {
  const f = Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0));
  const full = Math.round(f * width);
  return `[${'█'.repeat(full)}${'░'.repeat(width - full)}]`;
}

/** 75 → '1m15s', 7300 → '2h01m', 9 → '9s'. */
export function formatSeconds(s: number): string {
  const t = Math.round(s);
  if (t < 60) return `${t}s`;
  if (t < 3600) return `${Math.floor(t / 60)}m${String(t % 60).padStart(2, '0')}s`;
  return `${Math.floor(t / 3600)}h${String(Math.floor((t % 3600) / 60)).padStart(2, '0')}m`;
}

const count = (n: number): string => Math.round(n).toLocaleString('en-US');

const BAR_WIDTH = 30;

export function copyLines(progress: readonly CopyProgress[]): string[] {
  const nameWidth = Math.max(0, ...progress.map((p) => p.database.length));
  return progress.map((p) => {
    const name = p.database.padEnd(nameWidth);
    if (p.done) return `  ${name}  done (${count(p.rowsCopied)} rows)`;
    const fraction = p.rowsTotal > 0 ? p.rowsCopied / p.rowsTotal : 0;
    const rate = p.rowsPerSecond === null ? '- rows/s' : `${count(p.rowsPerSecond)} rows/s`;
    const left = p.secondsLeft === null ? '' : `  ${formatSeconds(p.secondsLeft)} left`;
    return `  ${name}  ${progressBar(fraction, BAR_WIDTH)} ${`${Math.floor(fraction * 100)}%`.padStart(4)}  ${count(p.rowsCopied)} / ${count(p.rowsTotal)} rows  ${rate}${left}`;
  });
}

function lag(seconds: number | null, bytes: number | null): string {
  if (seconds === null || bytes === null) return '-';
  return `${seconds.toFixed(1)} s / ${bytes} B`;
}

function tableProgress(t: TableStatusView): string {
  if (t.status !== 'copying' && t.status !== 'copied') return '';
  return `${t.rowsCopied}/${t.rowsTotal}`;
}

export interface StatusLinesOptions {
  readonly verbose: boolean;
  /** Rows per second per database (--watch); without them the copy shows no rate. */
  readonly rates?: ReadonlyMap<string, number | null>;
}

/** The whole status as `get status` prints it. */
export function statusLines(r: StatusResponse, o: StatusLinesOptions): string[] {
  const out: string[] = [];
  if (r.sync) {
    out.push(`Sync '${r.sync.id}' (run ${r.sync.run ?? '-'}) into ${r.datacenter} from ${r.source.join(', ')}: ${r.status}`);
    if (r.sourceCheckedAt) out.push(`Source last heard from: ${r.sourceCheckedAt}`);
  } else {
    out.push(`No incoming sync in ${r.datacenter}: ${r.status}`);
  }
  if (r.error) out.push(`Error: ${r.error}`);
  // Failures come first, so that a failed table is never lost below a healthy-looking table of databases.
  for (const f of failures(r)) out.push(`FAILED: ${f}`);
  if (copying(r)) out.push('', 'Initial copy:', ...copyLines(copyProgress(r, o.rates)));
  if (r.databases.length > 0) {
    out.push('');
    out.push(
      ...formatTable(
        r.databases.map((d) => ({
          database: d.database,
          status: d.status,
          lag: lag(d.lagSeconds, d.lagBytes),
          'last message': d.lastMessageTime ?? '-',
          source: d.sourceTask ? `${d.sourceTask.state}@${d.sourceTask.workerId ?? '-'}` : '-',
          destination: d.destinationTask ? `${d.destinationTask.state}@${d.destinationTask.workerId ?? '-'}` : '-',
          'app writes': d.readOnly === null ? '-' : d.readOnly ? 'refused' : 'ALLOWED',
        })),
        ['database', 'status', 'lag', 'last message', 'source', 'destination', 'app writes'],
      ),
    );
  }
  const tables = o.verbose ? r.tables : r.tables.filter((t) => t.status !== 'running');
  if (tables.length > 0) {
    out.push('');
    out.push(
      ...formatTable(
        tables.map((t) => ({ database: t.database, table: t.table, status: t.status, copied: tableProgress(t), lag: lag(t.lagSeconds, t.lagBytes), error: t.error ?? '' })),
        ['database', 'table', 'status', 'copied', 'lag', 'error'],
      ),
    );
  } else if (r.tables.length > 0) {
    out.push(`All ${r.tables.length} table(s) running (-v lists them).`);
  }
  for (const g of r.outgoing) {
    out.push('');
    out.push(`Outgoing sync '${g.id}' (run ${g.run ?? '-'}) to ${g.destination.datacenter} (${g.destination.endpoints.join(', ')}): ${g.status}${g.cleanupPending > 0 ? `, ${g.cleanupPending} run(s) still to clean up` : ''}`);
    if (o.verbose || g.databases.some((d) => d.state !== 'running')) {
      out.push(
        ...formatTable(
          g.databases.map((d) => ({ database: d.database, state: d.state, worker: d.workerId ?? '-', 'initial copy': d.snapshotComplete ? 'done' : 'running', error: d.error ?? '' })),
          ['database', 'state', 'worker', 'initial copy', 'error'],
        ),
      );
    }
  }
  if (r.warnings.length > 0) {
    out.push('');
    for (const w of r.warnings) out.push(`Warning: ${w}`);
  }
  return out;
}

/** The first line of each --watch frame: what refreshes, how often, when this answer came. */
export function watchHeader(intervalMs: number, at: Date): string {
  return `Every ${intervalMs / 1000} s: dcsync get status at ${at.toISOString().replace('T', ' ').slice(0, 19)} UTC (Ctrl-C stops)`;
}
