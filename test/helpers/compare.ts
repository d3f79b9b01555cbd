/**
 * Compare the contents of two PostgreSQL databases table by table (tests and benchmarks).
 *
 * A table's fingerprint is its row count and md5(string_agg(t::text, E'\n' ORDER BY t::text COLLATE "C")): the
 * text of every whole row, sorted bytewise (so the databases' collations do not matter). Row text depends on
 * session settings, so every comparing session pins them (SESSION_SETTINGS below). Tables of more than
 * LARGE_TABLE_ROWS rows hash each row's md5 instead of its text (string_agg cannot exceed 1 GB).
 */
import { AssertionError } from 'node:assert';
import pg from 'pg';
import { delay } from '../../src/core/time.ts';

export interface TableFingerprint {
  rows: number;
  md5: string;
}

/**
 * Settings that change the text output of values. DateStyle, IntervalStyle and extra_float_digits as every
 * dcsync connection pins them; the others also change row text and would differ between clusters or roles:
 * TimeZone (timestamptz, tstzrange), bytea_output (bytea), lc_monetary (money).
 */
export const SESSION_SETTINGS: Readonly<Record<string, string>> = {
  DateStyle: 'ISO, MDY',
  IntervalStyle: 'postgres',
  extra_float_digits: '3',
  TimeZone: 'UTC',
  bytea_output: 'hex',
  lc_monetary: 'C',
};

/** Schemas that are never compared: the catalogs and dcsync's own state. */
const EXCLUDED_SCHEMAS = ['pg_catalog', 'information_schema', 'pg_toast', 'dcsync'];

/** Above this many rows a table's md5 is taken over its rows' md5s, not their text. */
const LARGE_TABLE_ROWS = 200_000;
/** Tables whose rows are listed in a failure message when both sides have at most this many. */
const SMALL_TABLE_ROWS = 200;
const MAX_ROWS_SHOWN = 5;
const MAX_ROW_CHARS = 300;

/**
 * Every table (ordinary tables and partitions; a partitioned parent holds no rows of its own) of every user
 * schema, keyed by its qualified name as format('%I.%I') writes it, e.g. public.all_types, inventory."Item".
 */
export async function databaseFingerprint(url: string): Promise<Map<string, TableFingerprint>> {
  return withClient(url, async (client) => {
    const out = new Map<string, TableFingerprint>();
    for (const table of await listTables(client)) {
      const counted = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`);
      const rows = Number(counted.rows[0]?.n ?? 0);
      // string_agg is limited to 1 GB: big tables aggregate each row's md5 instead of its text. The count
      // decides, so two tables with equal contents always use the same formula.
      const text = rows > LARGE_TABLE_ROWS ? 'md5(t::text)' : 't::text';
      const sep = rows > LARGE_TABLE_ROWS ? "''" : "E'\\n'";
      const { rows: r } = await client.query<{ md5: string | null }>(
        `SELECT md5(string_agg(${text}, ${sep} ORDER BY t::text COLLATE "C")) AS md5 FROM ${table} AS t`,
      );
      out.set(table, { rows, md5: r[0]?.md5 ?? EMPTY_MD5 });
    }
    return out;
  });
}

/** md5 of no rows: string_agg gives NULL; this stands for it. */
const EMPTY_MD5 = 'empty';

/** The databases that accept connections and are not templates, sorted. */
export async function listUserDatabases(url: string): Promise<string[]> {
  return withClient(url, async (client) => {
    const { rows } = await client.query<{ datname: string }>(
      'SELECT datname FROM pg_catalog.pg_database WHERE NOT datistemplate AND datallowconn ORDER BY datname COLLATE "C"',
    );
    return rows.map((r) => r.datname);
  });
}

/**
 * Throws an AssertionError naming each table whose rows differ (or that exists on one side only), with both
 * row counts and, for small tables, the first rows found on only one side.
 */
export async function assertDatabasesEqual(sourceUrl: string, targetUrl: string): Promise<void> {
  const [source, target] = await Promise.all([databaseFingerprint(sourceUrl), databaseFingerprint(targetUrl)]);
  const tables = [...new Set([...source.keys(), ...target.keys()])].sort();
  const differing = tables.filter((t) => source.get(t)?.md5 !== target.get(t)?.md5 || source.get(t)?.rows !== target.get(t)?.rows);
  if (differing.length === 0) return;

  const lines: string[] = [];
  for (const table of differing) {
    const s = source.get(table);
    const t = target.get(table);
    const count = (f: TableFingerprint | undefined): string => (f ? `${f.rows} rows` : 'missing');
    lines.push(`${table}: source ${count(s)}, target ${count(t)}${s && t && s.rows === t.rows ? ' (contents differ)' : ''}`);
    if (s && t && s.rows <= SMALL_TABLE_ROWS && t.rows <= SMALL_TABLE_ROWS) {
      lines.push(...(await rowDifferences(sourceUrl, targetUrl, table)).map((l) => '    ' + l));
    }
  }
  const summary = (m: Map<string, TableFingerprint>): Record<string, number | null> =>
    Object.fromEntries(differing.map((t) => [t, m.get(t)?.rows ?? null]));
  throw new AssertionError({
    message: `databases differ in ${differing.length} table(s):\n  ${lines.join('\n  ')}`,
    actual: summary(target),
    expected: summary(source),
    operator: 'databasesEqual',
  });
}

export interface WaitForOptions {
  timeoutMs: number;
  intervalMs?: number;
  /** Completes "timed out after … waiting for <what>". */
  what: string;
}

/**
 * Polls `fn` until it returns a value (not undefined). A throwing `fn` counts as no value; the last error becomes
 * the timeout error's cause (and is named in its message), followed by `context()` (e.g. the tails of the logs).
 */
export async function waitForValue<T>(fn: () => Promise<T | undefined>, opts: WaitForOptions & { context?: () => Promise<string> }): Promise<T> {
  const intervalMs = opts.intervalMs ?? 100;
  const deadline = Date.now() + opts.timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
      lastErr = undefined;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() >= deadline) {
      const why = lastErr === undefined ? '' : ` (last error: ${lastErr instanceof Error ? lastErr.message : String(lastErr)})`;
      const context = opts.context ? `\n${await opts.context()}` : '';
      throw new Error(`timed out after ${opts.timeoutMs} ms waiting for ${opts.what}${why}${context}`, lastErr === undefined ? undefined : { cause: lastErr });
    }
    await delay(Math.min(intervalMs, Math.max(0, deadline - Date.now())));
  }
}

/** Polls `cond` until it returns true (see waitForValue). */
export async function waitFor(cond: () => Promise<boolean>, opts: WaitForOptions): Promise<void> {
  await waitForValue(async () => ((await cond()) ? true : undefined), opts);
}

/** Waits until database `db` is equal at both ends (assertDatabasesEqual), naming the last difference on time-out. */
export async function databasesEqualSoon(source: { url(db: string): string }, target: { url(db: string): string }, db: string, timeoutMs: number): Promise<void> {
  await waitFor(
    async () => {
      await assertDatabasesEqual(source.url(db), target.url(db));
      return true;
    },
    { timeoutMs, intervalMs: 500, what: `database '${db}' equal at both ends` },
  );
}

/** The rows of one query on a short-lived session with the server's default settings (search_path included). */
export async function queryRows<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(sql)).rows;
  } finally {
    await c.end();
  }
}

// ---------------------------------------------------------------------------------------------------------------

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, application_name: 'dcsync-compare' });
  await client.connect();
  try {
    for (const [name, value] of Object.entries(SESSION_SETTINGS)) {
      await client.query('SELECT pg_catalog.set_config($1, $2, false)', [name, value]);
    }
    // Qualified names everywhere; regclass-like output is printed relative to this.
    await client.query(`SELECT pg_catalog.set_config('search_path', 'pg_catalog', false)`);
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/** Quoted qualified names of the user tables (relkind r: ordinary tables and leaf partitions), sorted. */
async function listTables(client: pg.Client): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(
    `SELECT format('%I.%I', n.nspname, c.relname) AS name
       FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'r' AND NOT (n.nspname = ANY ($1)) AND n.nspname NOT LIKE 'pg\\_temp\\_%' AND n.nspname NOT LIKE 'pg\\_toast%'
      ORDER BY format('%I.%I', n.nspname, c.relname) COLLATE "C"`,
    [EXCLUDED_SCHEMAS],
  );
  return rows.map((r) => r.name);
}

async function tableRows(url: string, table: string): Promise<string[]> {
  return withClient(url, async (client) => {
    const { rows } = await client.query<{ r: string }>(`SELECT t::text AS r FROM ${table} AS t ORDER BY t::text COLLATE "C"`);
    return rows.map((x) => x.r);
  });
}

/** Rows present on one side only (as multisets: a duplicate counts), the first few of each. */
async function rowDifferences(sourceUrl: string, targetUrl: string, table: string): Promise<string[]> {
  const [s, t] = await Promise.all([tableRows(sourceUrl, table), tableRows(targetUrl, table)]);
  const remaining = new Map<string, number>();
  for (const r of t) remaining.set(r, (remaining.get(r) ?? 0) + 1);
  const onlySource: string[] = [];
  for (const r of s) {
    const n = remaining.get(r) ?? 0;
    if (n > 0) remaining.set(r, n - 1);
    else onlySource.push(r);
  }
  const onlyTarget = [...remaining].flatMap(([r, n]) => Array<string>(n).fill(r));
  const show = (label: string, rows: string[]): string[] =>
    rows.length === 0
      ? []
      : [
          `${label} (${rows.length}):`,
          ...rows.slice(0, MAX_ROWS_SHOWN).map((r) => '  ' + JSON.stringify(r.length > MAX_ROW_CHARS ? r.slice(0, MAX_ROW_CHARS) + '…' : r)),
          ...(rows.length > MAX_ROWS_SHOWN ? [`  … ${rows.length - MAX_ROWS_SHOWN} more`] : []),
        ];
  return [...show('only in source', onlySource), ...show('only in target', onlyTarget)];
}
