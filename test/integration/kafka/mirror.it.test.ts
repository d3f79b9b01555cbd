/**
 * Kafka 4.3 + MirrorMaker 2 against the real servers (jars from scripts/setup-kafka.sh): two single-node KRaft
 * clusters A and B, MM2 replicating A → B. Checks exactly-once, per-partition order and large records through MM2,
 * kafkajs's idempotent producer across a broker restart, and MM2 resuming after kill -9.
 *
 *   node --import tsx --test test/integration/kafka/mirror.it.test.ts
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { Partitioners, type Consumer, type Producer } from 'kafkajs';
import { createLogger, type Logger } from '../../../src/core/logger.ts';
import { delay } from '../../../src/core/time.ts';
import {
  MIB,
  remoteTopicName,
  startKafkaBroker,
  startMirrorMaker,
  waitForTopic,
  waitMirrorFlow,
  type KafkaBrokerHandle,
  type MirrorMakerHandle,
  type ReplicationPolicyName,
} from '../../../tools/local/kafka.ts';
import { kafkaClient } from '../../../src/transport/kafka/client.ts';

/**
 * A temp dir, a file logger and a LIFO list of cleanups that t.after runs. The dir (with every process's log) is
 * kept when the test fails, or always with DCSYNC_KEEP_TEST_DIRS=1.
 */
function harness(t: TestContext, prefix: string): { root: string; logger: Logger; cleanup: (fn: () => Promise<unknown>) => void; passed: () => void } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const logFile = path.join(root, 'test.log');
  const logger = createLogger({ level: 'info', sink: (line) => fs.appendFileSync(logFile, line + '\n') });
  const cleanups: Array<() => Promise<unknown>> = [];
  let ok = false;
  t.after(async () => {
    const start = Date.now();
    for (const fn of cleanups.reverse()) {
      await fn().catch((err: unknown) => t.diagnostic(`cleanup failed: ${String(err)}`));
    }
    t.diagnostic(`cleanup (stopping clients, MM2, brokers) took ${Date.now() - start} ms`);
    if (ok && !process.env.DCSYNC_KEEP_TEST_DIRS) fs.rmSync(root, { recursive: true, force: true });
    else t.diagnostic(`kept ${root} (broker, MM2 and test logs)`);
  });
  return { root, logger, cleanup: (fn) => cleanups.push(fn), passed: () => (ok = true) };
}

/** Collects what a consumer on B receives: seq → count, and per partition the seqs in arrival order. */
class Received {
  readonly counts = new Map<number, number>();
  readonly byPartition = new Map<number, number[]>();
  readonly keyPartition = new Map<string, number>();
  readonly big: Buffer[] = [];
  keyMismatch = 0;

  add(partition: number, key: string, value: Buffer): void {
    if (key === 'big') {
      this.big.push(value);
      return;
    }
    const seq = (JSON.parse(value.toString()) as { seq: number }).seq;
    this.counts.set(seq, (this.counts.get(seq) ?? 0) + 1);
    const list = this.byPartition.get(partition) ?? [];
    list.push(seq);
    this.byPartition.set(partition, list);
    const p = this.keyPartition.get(key);
    if (p === undefined) this.keyPartition.set(key, partition);
    else if (p !== partition) this.keyMismatch++;
  }

  has(seqs: Iterable<number>): boolean {
    for (const s of seqs) if (!this.counts.has(s)) return false;
    return true;
  }

  duplicates(): number[] {
    return [...this.counts].filter(([, n]) => n > 1).map(([s]) => s);
  }

  /** Partitions whose seqs are not strictly increasing in arrival order. */
  outOfOrder(): number[] {
    return [...this.byPartition].filter(([, seqs]) => seqs.some((s, i) => i > 0 && s <= (seqs[i - 1] ?? -1))).map(([p]) => p);
  }
}

async function waitUntil(what: string, cond: () => boolean, timeoutMs: number): Promise<number> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(100);
  }
  return Date.now() - start;
}

function record(seq: number): { key: string; value: string } {
  return { key: `key-${seq % 64}`, value: JSON.stringify({ seq }) };
}

function idempotentProducer(bootstrap: string, logger: Logger): Producer {
  return kafkaClient(bootstrap, 'it-producer', logger, { retry: { retries: 30, initialRetryTime: 100, maxRetryTime: 1_000 } }).producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
    retry: { retries: 30, initialRetryTime: 100, maxRetryTime: 1_000 },
  });
}

async function startConsumer(bootstrap: string, topic: string, received: Received, logger: Logger): Promise<Consumer> {
  const consumer = kafkaClient(bootstrap, 'it-consumer', logger).consumer({
    groupId: `it-${randomUUID()}`,
    allowAutoTopicCreation: false,
    maxWaitTimeInMs: 200,
    maxBytesPerPartition: 16 * MIB,
    maxBytes: 32 * MIB,
  });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ partition, message }) => {
      received.add(partition, message.key?.toString() ?? '', message.value ?? Buffer.alloc(0));
    },
  });
  return consumer;
}

/** Brokers A and B in parallel; `a.current` is replaced when A restarts, its cleanup stops whichever is current. */
async function startClusters(root: string, logger: Logger, cleanup: (fn: () => Promise<unknown>) => void): Promise<{ a: { current: KafkaBrokerHandle }; b: KafkaBrokerHandle; ms: number }> {
  const t0 = Date.now();
  const [ra, rb] = await Promise.allSettled([
    startKafkaBroker({ dir: path.join(root, 'a'), name: 'A', logger }),
    // B gets topics only from MM2: a client touching 'A.x' too early must not auto-create it
    startKafkaBroker({ dir: path.join(root, 'b'), name: 'B', logger, autoCreateTopics: false }),
  ]);
  if (rb.status === 'fulfilled') cleanup(() => rb.value.stop());
  if (ra.status === 'rejected') throw ra.reason;
  const a = { current: ra.value };
  cleanup(() => a.current.stop());
  if (rb.status === 'rejected') throw rb.reason;
  return { a, b: rb.value, ms: Date.now() - t0 };
}

test('MM2 replicates A → B (default policy): exactly once, in order, 6 and 8 MiB records, broker A restart and crash, MM2 kill -9', { timeout: 170_000 }, async (t) => {
  const { root, logger, cleanup, passed } = harness(t, 'dcsync-it-mm2-');
  const { a, b, ms: brokersMs } = await startClusters(root, logger, cleanup);
  t.diagnostic(`brokers A and B started (in parallel) in ${brokersMs} ms`);

  const topic = `orders-${randomUUID().slice(0, 8)}`;
  const remote = remoteTopicName('default', 'A', topic);
  assert.equal(remote, `A.${topic}`);
  const adminA = kafkaClient(a.current.bootstrap, 'it-admin', logger).admin();
  await adminA.connect();
  cleanup(() => adminA.disconnect());
  await adminA.createTopics({ topics: [{ topic, numPartitions: 4 }], waitForLeaders: true });

  const mmOpts = {
    dir: path.join(root, 'mm2'),
    source: { alias: 'A', bootstrap: a.current.bootstrap },
    target: { alias: 'B', bootstrap: b.bootstrap },
    policy: 'default' as const,
    logger,
  };
  const mmStart = Date.now();
  const mm = { current: await startMirrorMaker(mmOpts) };
  cleanup(() => mm.current.stop());
  await waitMirrorFlow({ sourceBootstrap: a.current.bootstrap, targetBootstrap: b.bootstrap, sourceAlias: 'A', policy: 'default', timeoutMs: 90_000, logger });
  t.diagnostic(`MM2 started and first probe crossed in ${Date.now() - mmStart} ms`);

  // --- phase 1: 2,000 keyed records, exactly once and in per-partition order; then a 6 MiB record
  await waitForTopic({ bootstrap: b.bootstrap, topic: remote, partitions: 4, timeoutMs: 30_000, logger });
  const received = new Received();
  const consumer = await startConsumer(b.bootstrap, remote, received, logger);
  cleanup(() => consumer.disconnect());

  const producer = idempotentProducer(a.current.bootstrap, logger);
  await producer.connect();
  cleanup(() => producer.disconnect());
  let p1 = Date.now();
  const phase1 = Array.from({ length: 2_000 }, (_, i) => i);
  for (let i = 0; i < phase1.length; i += 100) {
    await producer.send({ topic, acks: -1, messages: phase1.slice(i, i + 100).map(record) });
  }
  const sendMs = Date.now() - p1;
  const arriveMs = await waitUntil('2,000 records on B', () => received.has(phase1), 60_000);
  t.diagnostic(`phase 1: sent 2,000 records in ${sendMs} ms, all on B ${arriveMs} ms later`);
  assert.deepEqual(received.duplicates(), [], 'no record arrives twice');
  assert.equal(received.counts.size, 2_000);
  assert.deepEqual(received.outOfOrder(), [], 'per-partition order is kept');
  assert.equal(received.keyMismatch, 0, 'each key stays in one partition');
  assert.equal(received.byPartition.size, 4, 'records spread over the 4 partitions');

  // records up to 8 MiB must cross (broker message.max.bytes, MM2's consumer fetch and producer request sizes)
  const bigs = [randomBytes(6 * MIB), randomBytes(8 * MIB)];
  p1 = Date.now();
  await producer.send({ topic, acks: -1, messages: bigs.map((value) => ({ key: 'big', value })) });
  await waitUntil('the 6 and 8 MiB records on B', () => received.big.length >= 2, 30_000);
  t.diagnostic(`phase 1: a 6 MiB and an 8 MiB record crossed in ${Date.now() - p1} ms`);
  const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
  assert.deepEqual(received.big.map(sha), bigs.map(sha), 'both large records arrive intact, once, in order');

  // --- phase 2: restart broker A while the idempotent producer keeps sending (with retries): first a clean stop,
  // then a crash (kill -9). Every acknowledged send must arrive on B exactly once, in per-partition order.
  for (const [how, firstSeq] of [['stop', 10_000], ['kill -9', 15_000]] as const) {
    const acked = new Set<number>();
    const failed = new Map<number, string>();
    let stopSending = false;
    const sender = (async () => {
      for (let seq = firstSeq; !stopSending; seq++) {
        try {
          await producer.send({ topic, acks: -1, messages: [record(seq)] });
          acked.add(seq);
        } catch (err) {
          failed.set(seq, err instanceof Error ? `${err.name}: ${err.message}` : String(err));
        }
        await delay(5);
      }
    })();
    await waitUntil('sends before the restart', () => acked.size >= 100, 20_000);
    const restartAt = Date.now();
    const ackedBefore = acked.size;
    if (how === 'stop') await a.current.stop();
    else {
      a.current.kill('SIGKILL');
      await a.current.exited;
    }
    const stoppedMs = Date.now() - restartAt;
    a.current = await startKafkaBroker({ dir: path.join(root, 'a'), name: 'A', logger });
    const restartMs = Date.now() - restartAt;
    const ackedAtRestart = acked.size;
    await waitUntil('sends after the restart', () => acked.size >= ackedAtRestart + 200, 60_000);
    stopSending = true;
    await sender;
    t.diagnostic(
      `phase 2 (${how}): broker A down in ${stoppedMs} ms, back in ${restartMs} ms; ${acked.size} sends acked ` +
        `(${ackedBefore} before, ${acked.size - ackedAtRestart} after the restart), ${failed.size} failed after retries`,
    );
    if (failed.size > 0) t.diagnostic(`phase 2 (${how}): first failures: ${[...failed].slice(0, 3).map(([s, e]) => `${s}: ${e}`).join(' | ')}`);
    const p2 = Date.now();
    await waitUntil('every acked send on B', () => received.has(acked), 60_000).catch((err: unknown) => {
      const missing = [...acked].filter((s) => !received.counts.has(s));
      throw new Error(`${String(err)}; ${missing.length} acked sends missing on B, e.g. ${missing.slice(0, 10).join(', ')}`);
    });
    t.diagnostic(`phase 2 (${how}): all acked sends on B ${Date.now() - p2} ms after the producer stopped`);
    await delay(1_000); // a late duplicate would show up now
    const dups = received.duplicates();
    assert.deepEqual(dups, [], `(${how}) sends arrived more than once: ${dups.slice(0, 10).join(', ')}`);
    assert.deepEqual(received.outOfOrder(), [], `(${how}) per-partition order is kept across the broker restart`);
    const lateFailures = [...failed.keys()].filter((s) => received.counts.has(s));
    if (lateFailures.length > 0) t.diagnostic(`phase 2 (${how}): ${lateFailures.length} sends reported as failed arrived anyway (once each)`);
  }

  // --- phase 3: kill -9 MM2, start it again on the same dir; records produced afterwards arrive
  await delay(2_000); // let MM2 commit its source offsets (offset.flush.interval.ms = 1 s)
  const countBefore = [...received.counts.values()].reduce((x, y) => x + y, 0);
  mm.current.kill('SIGKILL');
  await mm.current.exited;
  const mmRestart = Date.now();
  mm.current = await startMirrorMaker({ ...mmOpts, source: { alias: 'A', bootstrap: a.current.bootstrap } });
  const mmUpMs = Date.now() - mmRestart;
  const phase3 = Array.from({ length: 100 }, (_, i) => 20_000 + i);
  await producer.send({ topic, acks: -1, messages: phase3.map(record) });
  await waitUntil('records produced after the MM2 restart', () => received.has(phase3), 60_000);
  t.diagnostic(`phase 3: MM2 killed (-9) and restarted: process up in ${mmUpMs} ms, replicating again ${Date.now() - mmRestart} ms after the restart`);
  await delay(1_000);
  const countAfter = [...received.counts.values()].reduce((x, y) => x + y, 0);
  assert.equal(countAfter - countBefore, phase3.length, `MM2 re-sent ${countAfter - countBefore - phase3.length} old records after kill -9`);
  assert.deepEqual(received.duplicates(), []);
  assert.deepEqual(received.outOfOrder(), []);
  passed();
});

test('MM2 with the identity policy keeps topic names', { timeout: 120_000 }, async (t) => {
  const { root, logger, cleanup, passed } = harness(t, 'dcsync-it-mm2-identity-');
  const { a, b, ms } = await startClusters(root, logger, cleanup);
  t.diagnostic(`brokers started in ${ms} ms`);
  const policy: ReplicationPolicyName = 'identity';
  const topic = `orders-${randomUUID().slice(0, 8)}`;
  assert.equal(remoteTopicName(policy, 'A', topic), topic);

  const adminA = kafkaClient(a.current.bootstrap, 'it-admin', logger).admin();
  await adminA.connect();
  cleanup(() => adminA.disconnect());
  await adminA.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true });

  const mmStart = Date.now();
  const mm = await startMirrorMaker({ dir: path.join(root, 'mm2'), source: { alias: 'A', bootstrap: a.current.bootstrap }, target: { alias: 'B', bootstrap: b.bootstrap }, policy, logger });
  cleanup(() => mm.stop());
  await waitMirrorFlow({ sourceBootstrap: a.current.bootstrap, targetBootstrap: b.bootstrap, sourceAlias: 'A', policy, timeoutMs: 90_000, logger });
  t.diagnostic(`MM2 (identity) first probe crossed ${Date.now() - mmStart} ms after its start`);

  await waitForTopic({ bootstrap: b.bootstrap, topic, partitions: 2, timeoutMs: 30_000, logger });
  const received = new Received();
  const consumer = await startConsumer(b.bootstrap, topic, received, logger);
  cleanup(() => consumer.disconnect());
  const producer = idempotentProducer(a.current.bootstrap, logger);
  await producer.connect();
  cleanup(() => producer.disconnect());
  const seqs = Array.from({ length: 300 }, (_, i) => i);
  await producer.send({ topic, acks: -1, messages: seqs.map(record) });
  await waitUntil('300 records on B', () => received.has(seqs), 60_000);
  assert.deepEqual(received.duplicates(), []);
  assert.deepEqual(received.outOfOrder(), []);

  const adminB = kafkaClient(b.bootstrap, 'it-admin', logger).admin();
  await adminB.connect();
  cleanup(() => adminB.disconnect());
  const topicsB = await adminB.listTopics();
  assert.ok(topicsB.includes(topic), `B has '${topic}'`);
  assert.ok(!topicsB.includes(`A.${topic}`), `B has no 'A.${topic}'`);
  t.diagnostic(`topics on B: ${topicsB.filter((n) => !n.startsWith('__')).sort().join(', ')}`);
  passed();
});
