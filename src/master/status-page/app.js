// The status page's script (runs in the browser, no build step). It asks the master it came from for
// GET /_api/v1/status and /_api/v1/status/lag-history every REFRESH_MS, with the browser's credentials for this
// origin, and draws them; uPlot (served by the same master) draws the charts. Texts from the API are only ever
// set as text, never as HTML.
'use strict';
(() => {
  const API = '/_api/v1';
  const REFRESH_MS = 5000;
  const CHART_HEIGHT = 220;
  const COLORS = ['#2e90fa', '#f79009', '#12b76a', '#9e77ed', '#f04438', '#0e9384', '#dd2590', '#667085'];

  const $ = (id) => document.getElementById(id);

  function el(tag, props, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props ?? {})) {
      if (v === undefined || v === null) continue;
      if (k === 'class') e.className = v;
      else if (k.startsWith('data-')) e.setAttribute(k, v);
      else e[k] = v;
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return e;
  }

  const state = (s) => el('span', { class: `state state-${s}` }, s);

  function bytes(n) {
    if (n === null || n === undefined) return '-';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let v = n;
    let i = 0;
    while (v >= 1024 && i < units.length - 1) {
      v /= 1024;
      i++;
    }
    return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
  }

  const lag = (seconds, b) => (seconds === null || b === null ? '-' : `${seconds.toFixed(1)} s / ${bytes(b)}`);
  const task = (t) => (t ? `${t.state} @ ${t.workerId ?? '-'}` : '-');
  const when = (iso) => (iso ? new Date(iso).toLocaleString() : '-');

  async function getJson(path) {
    const r = await fetch(API + path, { cache: 'no-store', credentials: 'same-origin' });
    if (!r.ok) {
      let message = `HTTP ${r.status}`;
      try {
        message = (await r.json()).error?.message ?? message;
      } catch {
        // not JSON: keep the status
      }
      throw new Error(`${API}${path}: ${message}`);
    }
    return r.json();
  }

  // ------------------------------------------------------------------------------------------- problems

  const RESET = 'fix what it names, then restart the task: dcsync reset failed task --task.id ID (dcsync get tasks lists the ids)';

  /** Every failed part of the status with what the operator can do about it (the CLI's get status lists the same). */
  function problems(s) {
    const out = [];
    let taskFailed = false;
    for (const d of s.databases) {
      if (d.sourceTask?.state === 'failed') {
        taskFailed = true;
        out.push({ message: `database '${d.database}': source task failed: ${d.sourceTask.error ?? 'unknown error'}`, advice: `At the source datacenter: ${RESET}, against its masters.` });
      }
      if (d.destinationTask?.state === 'failed') {
        taskFailed = true;
        out.push({ message: `database '${d.database}': destination task failed: ${d.destinationTask.error ?? 'unknown error'}`, advice: `In this datacenter: ${RESET}.` });
      }
    }
    for (const t of s.tables) {
      if (t.status === 'failed' && !taskFailed) {
        out.push({ message: `table ${t.database}.${t.table} failed: ${t.error ?? 'unknown error'}`, advice: "Its changes are no longer applied; the other tables go on. Fix what the error names; docs/sync.md ('Stop, abort, reset') says how to copy it again." });
      }
    }
    if (s.error && (!taskFailed || s.status !== 'failed')) {
      const unreachable = /cannot be reached/.test(s.error);
      out.push({
        message: s.error,
        advice: unreachable
          ? "The sync goes on once the source's masters answer again: check that they run and that this datacenter's masters reach them on their port (8629) with the client keyfile the sync was configured with."
          : "If the source ended the sync (abort outgoing sync), configure it again (dcsync configure sync); otherwise see docs/sync.md.",
      });
    }
    for (const o of s.outgoing) {
      for (const d of o.databases) {
        if (d.state === 'failed') out.push({ message: `outgoing sync '${o.id}', database '${d.database}': source task failed: ${d.error ?? 'unknown error'}`, advice: `In this datacenter: ${RESET}.` });
      }
    }
    return out;
  }

  // ------------------------------------------------------------------------------------------- status

  function copyProgress(s, database) {
    const tables = s.tables.filter((t) => t.database === database);
    const done = tables.reduce((n, t) => n + t.rowsCopied, 0);
    const total = tables.reduce((n, t) => n + t.rowsTotal, 0);
    const copying = tables.some((t) => t.status === 'copying' || t.status === 'waiting');
    if (!copying) return tables.length > 0 ? `done (${done.toLocaleString()} rows)` : '-';
    const bar = el('progress', { max: Math.max(total, 1), value: Math.min(done, Math.max(total, 1)) });
    return el('span', {}, bar, ` ${done.toLocaleString()} / ${total.toLocaleString()} rows`);
  }

  function fill(tbody, rows) {
    tbody.replaceChildren(...rows);
  }

  function renderStatus(s) {
    $('datacenter').textContent = `· ${s.datacenter}`;
    $('sync-line').replaceChildren(
      ...(s.sync
        ? [`Sync '${s.sync.id}' (run ${s.sync.run ?? '-'}) from ${s.source.join(', ') || '-'}: `, state(s.status), s.sourceCheckedAt ? ` · source last heard from ${when(s.sourceCheckedAt)}` : '']
        : [`No incoming sync in ${s.datacenter}: `, state(s.status)]),
    );

    const list = problems(s);
    $('problems').hidden = list.length === 0;
    $('problem-list').replaceChildren(...list.map((p) => el('li', { 'data-problem': '' }, el('div', {}, p.message), el('div', { class: 'advice' }, `What to do: ${p.advice}`))));

    fill(
      $('databases').tBodies[0],
      s.databases.map((d) =>
        el(
          'tr',
          { 'data-database': d.database, 'data-status': d.status },
          el('td', {}, d.database),
          el('td', {}, state(d.status)),
          el('td', {}, copyProgress(s, d.database)),
          el('td', { class: 'num' }, lag(d.lagSeconds, d.lagBytes)),
          el('td', {}, when(d.lastMessageTime)),
          el('td', {}, task(d.sourceTask)),
          el('td', {}, task(d.destinationTask)),
        ),
      ),
    );
    $('no-databases').hidden = s.databases.length > 0;

    fill(
      $('tables').tBodies[0],
      s.tables.map((t) =>
        el(
          'tr',
          { 'data-table': `${t.database}.${t.table}`, 'data-status': t.status },
          el('td', {}, t.database),
          el('td', {}, t.table),
          el('td', {}, state(t.status)),
          el('td', { class: 'num' }, t.status === 'copying' || t.status === 'copied' ? `${t.rowsCopied.toLocaleString()} / ${t.rowsTotal.toLocaleString()}` : t.rowsCopied.toLocaleString()),
          el('td', { class: 'num' }, lag(t.lagSeconds, t.lagBytes)),
          el('td', {}, t.error ?? ''),
        ),
      ),
    );

    $('outgoing-section').hidden = s.outgoing.length === 0;
    $('outgoing').replaceChildren(
      ...s.outgoing.map((o) =>
        el(
          'div',
          { 'data-outgoing': o.id },
          el('p', {}, `Sync '${o.id}' (run ${o.run ?? '-'}) to ${o.destination.datacenter} (${o.destination.endpoints.join(', ')}): `, state(o.status), o.cleanupPending > 0 ? ` · ${o.cleanupPending} run(s) still to clean up` : ''),
          el(
            'table',
            {},
            el('thead', {}, el('tr', {}, ...['database', 'state', 'worker', 'initial copy', 'error'].map((h) => el('th', {}, h)))),
            el('tbody', {}, ...o.databases.map((d) => el('tr', {}, el('td', {}, d.database), el('td', {}, state(d.state)), el('td', {}, d.workerId ?? '-'), el('td', {}, d.snapshotComplete ? 'done' : 'running'), el('td', {}, d.error ?? '')))),
          ),
        ),
      ),
    );

    $('warnings-section').hidden = s.warnings.length === 0;
    $('warnings').replaceChildren(...s.warnings.map((w) => el('li', {}, w)));
  }

  // ------------------------------------------------------------------------------------------- charts

  /** uPlot's columns: the union of the sample times (seconds), then one column per database (null where it has none). */
  function columns(h, pick) {
    const times = [...new Set(h.databases.flatMap((d) => d.samples.map((s) => s[0])))].sort((a, b) => a - b);
    const index = new Map(times.map((t, i) => [t, i]));
    const data = [times.map((t) => t / 1000)];
    for (const d of h.databases) {
      const col = new Array(times.length).fill(null);
      for (const s of d.samples) col[index.get(s[0])] = pick(s);
      data.push(col);
    }
    return data;
  }

  const charts = new Map();

  function drawChart(id, h, pick, formatValue) {
    const box = $(id);
    const names = h.databases.map((d) => d.database).join('\n');
    const data = columns(h, pick);
    let c = charts.get(id);
    const width = Math.max(300, box.clientWidth);
    if (c && c.names === names) {
      c.plot.setData(data);
      if (Math.abs(c.plot.width - width) > 4) c.plot.setSize({ width, height: CHART_HEIGHT });
    } else {
      c?.plot.destroy();
      const opts = {
        width,
        height: CHART_HEIGHT,
        scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(max ?? 0, pick === secondsOf ? 1 : 1024) * 1.1] } },
        axes: [{}, { values: (_u, ticks) => ticks.map(formatValue), size: 70 }],
        series: [{}, ...h.databases.map((d, i) => ({ label: d.database, stroke: COLORS[i % COLORS.length], width: 2, spanGaps: false, value: (_u, v) => (v === null ? '-' : formatValue(v)) }))],
      };
      box.replaceChildren();
      c = { names, plot: new uPlot(opts, data, box) };
      charts.set(id, c);
    }
    // What the chart holds, for scripts and tests: samples per database.
    box.setAttribute('data-samples', JSON.stringify(Object.fromEntries(h.databases.map((d) => [d.database, d.samples.filter((s) => pick(s) !== null).length]))));
  }

  const secondsOf = (s) => s[1];
  const bytesOf = (s) => s[2];

  function renderHistory(h) {
    const minutes = Math.round(h.windowMs / 60000);
    $('lag-note').textContent = `A sample every ${h.intervalMs / 1000} s over the last ${minutes} min, as master ${h.answeredBy} saw it (a master keeps its samples in memory: a restarted one starts afresh). Empty while the initial copy runs.`;
    drawChart('lag-seconds', h, secondsOf, (v) => `${Number(v).toFixed(1)} s`);
    drawChart('lag-bytes', h, bytesOf, (v) => bytes(Math.round(v)));
  }

  // ------------------------------------------------------------------------------------------- refresh

  async function refresh() {
    try {
      const [s, h] = await Promise.all([getJson('/status'), getJson('/status/lag-history')]);
      renderStatus(s);
      renderHistory(h);
      $('load-error').hidden = true;
      $('refresh-line').textContent = `Answered by ${s.answeredBy} at ${new Date().toLocaleTimeString()}; refreshes every ${REFRESH_MS / 1000} s.`;
      document.body.setAttribute('data-loaded', String(Date.now()));
    } catch (err) {
      $('load-error').hidden = false;
      $('load-error').textContent = `Cannot load the status: ${err instanceof Error ? err.message : String(err)} (retrying every ${REFRESH_MS / 1000} s).`;
    } finally {
      setTimeout(refresh, REFRESH_MS);
    }
  }

  void refresh();
})();
