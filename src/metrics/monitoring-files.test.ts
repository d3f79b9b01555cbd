/**
 * deploy/monitoring/ must only use metric families the code registers: every `dcsync_…` name in the Grafana
 * dashboard's queries and in the Prometheus alert rules' expressions is one of the families of MasterMetrics or
 * WorkerMetrics (a renamed family fails here), and docs/monitoring.md lists every family.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { MasterMetrics } from './master-metrics.ts';
import { WorkerMetrics } from './worker-metrics.ts';

const root = new URL('../../', import.meta.url);
const read = (p: string): string => readFileSync(new URL(p, root), 'utf8');
const NAME = /\bdcsync_[a-z0-9_]+/g;

function registered(): Set<string> {
  const master = new MasterMetrics({ readStatus: async () => Promise.reject(new Error('not read')), isLeader: () => false, datacenter: 'dc', version: 'test' });
  const worker = new WorkerMetrics({ version: 'test', tasks: () => [] });
  return new Set([...master.registry.getMetricsAsArray(), ...worker.registry.getMetricsAsArray()].map((m) => m.name).filter((n) => n.startsWith('dcsync_')));
}

/** Every `expr` of the dashboard's panels (targets), wherever they nest. */
function dashboardExprs(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) for (const x of node) dashboardExprs(x, out);
  else if (typeof node === 'object' && node !== null) {
    for (const [k, v] of Object.entries(node)) {
      if ((k === 'expr' || k === 'query' || k === 'definition') && typeof v === 'string') out.push(v);
      else dashboardExprs(v, out);
    }
  }
  return out;
}

interface RuleFile {
  groups: { name: string; rules: { alert?: string; record?: string; expr: string }[] }[];
}

function alertExprs(): string[] {
  const f = parse(read('deploy/monitoring/alerts.yaml')) as RuleFile;
  assert.ok(Array.isArray(f.groups) && f.groups.length > 0, 'alerts.yaml has rule groups');
  return f.groups.flatMap((g) => g.rules.map((r) => {
    assert.ok(typeof r.expr === 'string' && (r.alert ?? r.record), `a rule of group ${g.name} has an alert name and an expr`);
    return r.expr;
  }));
}

const namesIn = (exprs: readonly string[]): Set<string> => new Set(exprs.flatMap((e) => e.match(NAME) ?? []));

describe('deploy/monitoring', () => {
  const families = registered();

  it('the code registers the families the files are checked against', () => {
    for (const f of ['dcsync_lag_seconds', 'dcsync_master_leader', 'dcsync_worker_changes_applied_total']) assert.ok(families.has(f), f);
  });

  it('the Grafana dashboard queries only registered families', () => {
    const dash = JSON.parse(read('deploy/monitoring/grafana-dashboard.json')) as { panels: unknown[] };
    const used = namesIn(dashboardExprs(dash));
    assert.ok(used.size >= 10, `the dashboard uses ${used.size} families`);
    assert.deepEqual([...used].filter((n) => !families.has(n)), []);
  });

  it('the alert rules use only registered families', () => {
    const exprs = alertExprs();
    const used = namesIn(exprs);
    assert.ok(exprs.length >= 8 && used.size >= 6, `${exprs.length} rules, ${used.size} families`);
    assert.deepEqual([...used].filter((n) => !families.has(n)), []);
  });

  it('docs/monitoring.md lists every family', () => {
    const documented = namesIn([read('docs/monitoring.md')]);
    assert.deepEqual([...families].filter((n) => !documented.has(n)), []);
    assert.deepEqual([...documented].filter((n) => !families.has(n)), [], 'docs name no family the code lacks');
  });
});
