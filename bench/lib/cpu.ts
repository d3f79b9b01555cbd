/**
 * CPU seconds used by each part of the deployment between two samples, from /proc (Linux): each group is a
 * process and its descendants, sampled while they run. Children that exited in between (PostgreSQL's autovacuum
 * workers) are counted through their parent's reaped-children time, under `exited`.
 * Diagnostic, for the report: which part of the pipeline a drain keeps busy.
 */
import { readdirSync, readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100;

export interface CpuGroup {
  name: string;
  /** The root process; its descendants are counted with it unless `split` claims them. */
  pid: () => number | undefined;
  /** Descendants whose command line matches go to the first of these that matches instead (e.g. the walsender). */
  split?: { name: string; cmdline: RegExp }[];
  /** Where the CPU time of the root's children that exited goes (when absent: to `name`). */
  exited?: string;
}

type Sample = Map<string, number>;

function stat(pid: number): { ppid: number; ticks: number; reaped: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // utime + stime, and cutime + cstime (children the process waited for)
    return { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]), reaped: Number(fields[13]) + Number(fields[14]) };
  } catch {
    return undefined;
  }
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

export function sampleCpu(groups: readonly CpuGroup[]): Sample {
  const children = new Map<number, number[]>();
  const ticks = new Map<number, number>();
  const reaped = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const s = stat(Number(entry));
    if (!s) continue;
    ticks.set(Number(entry), s.ticks);
    reaped.set(Number(entry), s.reaped);
    const list = children.get(s.ppid) ?? [];
    list.push(Number(entry));
    children.set(s.ppid, list);
  }
  const out: Sample = new Map();
  const add = (name: string, t: number): void => void out.set(name, (out.get(name) ?? 0) + t);
  for (const g of groups) {
    const root = g.pid();
    if (root === undefined || !ticks.has(root)) continue;
    add(g.exited ?? g.name, reaped.get(root) ?? 0);
    const stack = [root];
    while (stack.length > 0) {
      const pid = stack.pop()!;
      const line = pid !== root && g.split ? cmdline(pid) : '';
      const name = g.split?.find((s) => s.cmdline.test(line))?.name ?? g.name;
      add(name, ticks.get(pid) ?? 0);
      stack.push(...(children.get(pid) ?? []));
    }
  }
  return out;
}

/** "source 6.1 s, walsender 2.0 s, …", largest first. */
export function cpuBetween(before: Sample, after: Sample): string {
  const rows: [string, number][] = [];
  for (const [name, t] of after) {
    const d = (t - (before.get(name) ?? 0)) / TICKS_PER_SECOND;
    if (d >= 0.05) rows.push([name, d]);
  }
  rows.sort((a, b) => b[1] - a[1]);
  const total = rows.reduce((s, r) => s + r[1], 0);
  return `${rows.map(([n, d]) => `${n} ${d.toFixed(1)} s`).join(', ')} (total ${total.toFixed(1)} s)`;
}
