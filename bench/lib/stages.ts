/**
 * Where a dcsync drain spends its time: samples the changes topic's record counts (sum of the partitions' high
 * watermarks) on Kafka A (written by the source task) and on Kafka B (written by MirrorMaker 2) while it runs.
 * Diagnostic only: the timed result comes from the target's applied positions.
 */
import type { Admin } from 'kafkajs';
import { delay } from '../../src/core/time.ts';
import { kafkaClient } from '../../src/transport/kafka/client.ts';
import { remoteTopicName, topicName } from '../../src/transport/topics.ts';
import type { TwoDc } from '../../test/helpers/two-dc.ts';

interface Sample {
  at: number;
  a: number;
  b: number;
}

export interface StageTimes {
  /** Records the source task added to Kafka A during the run (heartbeats included). */
  records: number;
  /** ms after the start until Kafka A stopped growing (beyond heartbeats): the source task had sent the backlog. */
  sourceMs: number;
  /** ms after the start until Kafka B held as many records as Kafka A had then: MirrorMaker 2 had copied it. */
  mirrorMs: number;
  /** ms after the start until the first sample in which Kafka A, and then Kafka B, had grown (NaN: never). */
  firstSourceMs: number;
  firstMirrorMs: number;
}

export class StageTracker {
  readonly #samples: Sample[] = [];
  #running = false;
  #loop: Promise<void> = Promise.resolve();
  #admins: Admin[] = [];

  constructor(
    private readonly env: TwoDc,
    private readonly syncId: string,
    private readonly database: string,
    private readonly partitions: number,
  ) {}

  async start(signal: AbortSignal, intervalMs = 250): Promise<void> {
    const a = kafkaClient(this.env.kafkaA.bootstrap, 'dcsync-bench-a').admin();
    const b = kafkaClient(this.env.kafkaB.bootstrap, 'dcsync-bench-b').admin();
    this.#admins = [a, b];
    await Promise.all([a.connect(), b.connect()]);
    const topic = topicName(this.syncId, this.database, 'changes');
    const remote = remoteTopicName('default', 'A', topic);
    const count = async (admin: Admin, t: string): Promise<number> => (await admin.fetchTopicOffsets(t)).reduce((n, p) => n + Number(p.high), 0);
    this.#running = true;
    this.#loop = (async () => {
      while (this.#running && !signal.aborted) {
        try {
          const [ca, cb] = await Promise.all([count(a, topic), count(b, remote)]);
          this.#samples.push({ at: performance.now(), a: ca, b: cb });
        } catch {
          // a missed sample
        }
        await delay(intervalMs, signal).catch(() => {});
      }
    })();
  }

  /** Stops sampling; the times are relative to `startedAt` (performance.now()). */
  async stop(startedAt: number): Promise<StageTimes | undefined> {
    this.#running = false;
    await this.#loop;
    for (const admin of this.#admins) await admin.disconnect().catch(() => {});
    const s = this.#samples;
    if (s.length < 2) return undefined;
    // The last sample after which Kafka A never grew by more than a heartbeat per partition again.
    let done = s.length - 1;
    while (done > 0 && s[done]!.a - s[done - 1]!.a <= this.partitions) done--;
    const source = s[done]!;
    const mirrored = s.find((x) => x.at >= source.at && x.b >= source.a);
    const firstA = s.find((x) => x.a > s[0]!.a);
    const firstB = s.find((x) => x.b > s[0]!.b);
    return {
      records: source.a - s[0]!.a,
      sourceMs: source.at - startedAt,
      mirrorMs: mirrored ? mirrored.at - startedAt : NaN,
      firstSourceMs: firstA ? firstA.at - startedAt : NaN,
      firstMirrorMs: firstB ? firstB.at - startedAt : NaN,
    };
  }
}
