import type pg from 'pg';
import { encodeSequenceRecord } from '../transport/sequence-records.ts';
import type { KafkaRecord } from '../transport/record-format/index.ts';

/**
 * Samples the database's sequences every intervalMs and sends their values (one record with all of them) when
 * any changed. Logical decoding carries no sequence changes; without this, the destination's sequences would
 * stay at their initial values and a failover would hand out ids already used.
 */
export class SequenceSampler {
  #lastKey = '';
  #lastAt = 0;

  constructor(
    private readonly o: {
      readonly conn: pg.ClientBase;
      readonly sink: { enqueue(topic: string, partition: number, record: KafkaRecord): number };
      readonly topic: string;
      readonly database: string;
      readonly intervalMs: number;
    },
  ) {}

  /** Samples when the interval has passed; returns whether a record was sent. */
  async tick(now = Date.now()): Promise<boolean> {
    if (now - this.#lastAt < this.o.intervalMs) return false;
    this.#lastAt = now;
    const r = await this.o.conn.query<{ schemaname: string; sequencename: string; last_value: string }>(
      `SELECT schemaname, sequencename, last_value::text FROM pg_sequences WHERE schemaname <> 'dcsync' AND last_value IS NOT NULL ORDER BY 1, 2`,
    );
    const key = JSON.stringify(r.rows);
    if (key === this.#lastKey) return false;
    this.#lastKey = key;
    const values = r.rows.map((x) => ({ schema: x.schemaname, name: x.sequencename, lastValue: BigInt(x.last_value) }));
    this.o.sink.enqueue(this.o.topic, 0, encodeSequenceRecord({ database: this.o.database, at: now, values }));
    return true;
  }
}
