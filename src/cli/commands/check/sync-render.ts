/** `check sync` as text for the operator: a verdict line, then every checked table, differing ones with their key ranges. */
import type { CheckView, KeyRangeView, TableCheckView } from '../../../control/v1/check.ts';

/** Key ranges shown per kind and table (--json lists up to the check's own limit). */
const SHOWN_RANGES = 20;

const count = (n: number): string => n.toLocaleString('en-US');

function keyText(columns: readonly string[], values: readonly string[]): string {
  if (columns.length === 0) return `(${values.join(', ')})`;
  if (columns.length === 1) return `${columns[0]} ${values[0]}`;
  return `(${columns.join(', ')}) = (${values.join(', ')})`;
}

export function rangeText(columns: readonly string[], r: KeyRangeView): string {
  if (columns.length === 0) return `row ${r.from[0]}`;
  const same = r.from.length === r.to.length && r.from.every((v, i) => v === r.to[i]);
  if (same) return keyText(columns, r.from);
  return `${keyText(columns, r.from)}..${columns.length === 1 ? r.to[0] : `(${r.to.join(', ')})`} (${count(r.rows)} rows)`;
}

function tableLines(t: TableCheckView): string[] {
  const name = `${t.schema}.${t.name}`;
  const kind = t.keyColumns.length === 0 ? ', no key: compared as a multiset of rows' : '';
  if (t.equal) return [`  ${name}: equal (${count(t.rowsAtSource)} rows${kind})`];
  const parts = [`${count(t.missingAtDestination)} missing at B`, `${count(t.extraAtDestination)} extra at B`];
  if (t.keyColumns.length > 0) parts.push(`${count(t.different)} different`);
  const lines = [`  ${name}: DIFFERENT: ${parts.join(', ')} (rows at A ${count(t.rowsAtSource)}, at B ${count(t.rowsAtDestination)}${kind})`];
  const list = (label: string, ranges: readonly KeyRangeView[]): void => {
    if (ranges.length === 0) return;
    const shown = ranges.slice(0, SHOWN_RANGES).map((r) => rangeText(t.keyColumns, r));
    const more = ranges.length > SHOWN_RANGES ? `, and ${count(ranges.length - SHOWN_RANGES)} more` : '';
    lines.push(`    ${label}: ${shown.join(', ')}${more}`);
  };
  list('missing at B', t.ranges.missing);
  list('extra at B', t.ranges.extra);
  list('different', t.ranges.different);
  if (t.rangesOmitted > 0) lines.push(`    (${count(t.rangesOmitted)} more ranges; --json lists the first of each kind)`);
  if (!t.complete) lines.push('    (more rows differ than one check compares row by row: the counts cover the rows compared)');
  return lines;
}

export function checkLines(v: CheckView): string[] {
  const tables = v.databases.flatMap((d) => d.tables);
  const differing = tables.filter((t) => !t.equal);
  const head =
    v.state === 'failed'
      ? `check ${v.id} of sync '${v.syncId}' failed: ${v.error ?? 'unknown error'}`
      : differing.length === 0
        ? `sync '${v.syncId}': every checked table is equal (${tables.length} tables, ${count(tables.reduce((s, t) => s + t.rowsAtSource, 0))} rows; check ${v.id})`
        : `sync '${v.syncId}': ${differing.length} of ${tables.length} tables differ (check ${v.id})`;
  const lines = [head];
  for (const d of v.databases) {
    lines.push('', `database ${d.database} (compared at the marker ${d.markerLsn}):`);
    for (const t of d.tables) lines.push(...tableLines(t));
  }
  return lines;
}

/** One line of progress while the check runs. */
export function progressLine(v: CheckView): string {
  const p = v.progress;
  return `check ${v.id}: ${v.phase} [tables ${p.tablesDone}/${p.tablesTotal}, ${count(p.rowsHashed)} rows hashed]`;
}

/** 0: every checked table is equal; 3: differences found; 1: the check failed. */
export function checkExitCode(v: CheckView): number {
  return v.state === 'equal' ? 0 : v.state === 'different' ? 3 : 1;
}
