/**
 * What `dcsync get status` exits with, so scripts and monitors can rely on it without parsing the output:
 * 0 when nothing has failed, STATUS_FAILED_EXIT (3) when the sync, a database, a table, a task or an outgoing
 * sync has failed (1 stays "the command itself failed", 2 "usage or configuration error"). A failure anywhere
 * counts, even when the overall status still says `running`.
 */
import type { StatusResponse } from '../../../control/v1/sync.ts';

export const STATUS_FAILED_EXIT = 3;

/** Every failed part of the answer, one line each, naming it and its error. */
export function failures(r: StatusResponse): string[] {
  const out: string[] = [];
  if (r.status === 'failed') out.push(`sync${r.sync ? ` '${r.sync.id}'` : ''} failed${r.error ? `: ${r.error}` : ''}`);
  for (const d of r.databases) {
    if (d.status === 'failed') out.push(`database '${d.database}' failed`);
    for (const [side, t] of [['source', d.sourceTask], ['destination', d.destinationTask]] as const) {
      if (t?.state === 'failed') out.push(`database '${d.database}': ${side} task failed${t.error ? `: ${t.error}` : ''}`);
    }
  }
  for (const t of r.tables) if (t.status === 'failed') out.push(`table ${t.database}.${t.table} failed${t.error ? `: ${t.error}` : ''}`);
  for (const o of r.outgoing) {
    if (o.status === 'failed') out.push(`outgoing sync '${o.id}' failed`);
    for (const d of o.databases) if (d.state === 'failed') out.push(`outgoing sync '${o.id}', database '${d.database}': source task failed${d.error ? `: ${d.error}` : ''}`);
  }
  return out;
}

export function statusExitCode(r: StatusResponse): number {
  return failures(r).length > 0 ? STATUS_FAILED_EXIT : 0;
}
