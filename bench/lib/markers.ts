/**
 * Marker rows: inserted at the source with the source's clock_timestamp(), stamped again with the target's
 * clock_timestamp() by an ENABLE ALWAYS trigger (it fires in dcsync's and in the native apply worker's
 * session_replication_role = replica) when the replicated row is applied. Both clusters run on this machine, so
 * the two clocks are one. A batch of markers in one source transaction also serves as the "caught up" point:
 * 256 rows with distinct keys reach every partition of the changes topic.
 */
import { delay } from '../../src/core/time.ts';
import { Conn, exec } from './db.ts';

export const MARKER_TABLE = 'public.bench_marker';
/** Target-only schema (arrival stamps); ignored when comparing the databases. */
export const ARRIVAL_SCHEMA = 'bench_lag';

export const MARKER_DDL = `CREATE TABLE ${MARKER_TABLE} (id bigint PRIMARY KEY, phase text NOT NULL, sent_at timestamptz NOT NULL DEFAULT clock_timestamp())`;

const ARRIVAL_DDL = [
  `CREATE SCHEMA IF NOT EXISTS ${ARRIVAL_SCHEMA}`,
  `CREATE TABLE IF NOT EXISTS ${ARRIVAL_SCHEMA}.arrivals (id bigint PRIMARY KEY, arrived_at timestamptz NOT NULL)`,
  `CREATE OR REPLACE FUNCTION ${ARRIVAL_SCHEMA}.record_arrival() RETURNS trigger LANGUAGE plpgsql AS $$
   BEGIN
     INSERT INTO ${ARRIVAL_SCHEMA}.arrivals (id, arrived_at) VALUES (NEW.id, clock_timestamp()) ON CONFLICT (id) DO NOTHING;
     RETURN NULL;
   END $$`,
  `DROP TRIGGER IF EXISTS record_arrival ON ${MARKER_TABLE}`,
  `CREATE TRIGGER record_arrival AFTER INSERT ON ${MARKER_TABLE} FOR EACH ROW EXECUTE FUNCTION ${ARRIVAL_SCHEMA}.record_arrival()`,
  `ALTER TABLE ${MARKER_TABLE} ENABLE ALWAYS TRIGGER record_arrival`,
];

/** Rows in the catch-up marker transaction. */
export const CATCH_UP_ROWS = 256;

export class Markers {
  #next = 1;

  constructor(private readonly source: Conn) {}

  /** Installs the arrival trigger in a target database (after its bench_marker table exists). */
  static async installArrivalTrigger(targetUrl: string): Promise<void> {
    await exec(targetUrl, ...ARRIVAL_DDL);
  }

  /** One source transaction of CATCH_UP_ROWS marker rows. */
  async catchUp(phase: string): Promise<void> {
    const first = this.#next;
    this.#next += CATCH_UP_ROWS;
    await this.source.query(`INSERT INTO ${MARKER_TABLE} (id, phase) SELECT $1::bigint + g, $2 FROM generate_series(0, $3::int - 1) g`, [first, phase, CATCH_UP_ROWS]);
  }

  /** Inserts one marker every `intervalMs` (own transaction each) until the returned stop() is called. */
  send(phase: string, intervalMs: number, signal: AbortSignal): { stop(): Promise<number> } {
    let stopped = false;
    let sent = 0;
    const loop = (async () => {
      const start = performance.now();
      for (let k = 1; !stopped && !signal.aborted; k++) {
        const id = this.#next++;
        await this.source.query(`INSERT INTO ${MARKER_TABLE} (id, phase) VALUES ($1, $2)`, [id, phase]);
        sent++;
        const wait = start + k * intervalMs - performance.now();
        if (wait > 0) await delay(wait, signal).catch(() => {});
      }
    })();
    loop.catch(() => {}); // reported by stop()
    return {
      /** Resolves with the number of markers sent; rejects if an insert failed. */
      async stop() {
        stopped = true;
        await loop;
        return sent;
      },
    };
  }

  /** Per marker of the phase that arrived at the target: arrival − sending, in ms; and how many of `sent` are missing. */
  static async lags(target: Conn, phase: string, sent: number): Promise<{ lagsMs: number[]; missing: number }> {
    const rows = await target.query<{ ms: number }>(
      `SELECT (extract(epoch FROM a.arrived_at - m.sent_at) * 1000)::float8 AS ms
         FROM ${MARKER_TABLE} m JOIN ${ARRIVAL_SCHEMA}.arrivals a USING (id) WHERE m.phase = $1`,
      [phase],
    );
    const lagsMs = rows.map((r) => r.ms);
    return { lagsMs, missing: sent - lagsMs.length };
  }
}
