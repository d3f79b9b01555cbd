/**
 * Decode-only throughput of PgOutputDecoder (not a test).
 *   node --import tsx src/postgres/protocol/decode.bench.ts [messages=1000000] [rounds=5]
 * Builds N synthetic Insert messages of 4 text columns as views into one buffer (as XLogData delivers them),
 * then decodes them all, several rounds, and prints messages/s per round and the best.
 */
import { PgOutputDecoder } from './pgoutput.ts';
import { BufferBuilder, writeTuple } from './test-frames.ts';

const count = Number(process.argv[2] ?? 1_000_000);
const rounds = Number(process.argv[3] ?? 5);

const builder = new BufferBuilder(count * 100);
const offsets = new Array<number>(count + 1);
for (let i = 0; i < count; i++) {
  offsets[i] = builder.length;
  builder.byte('I').uint32(16_385).byte('N');
  writeTuple(builder, [
    { kind: 'text', value: String(i) },
    { kind: 'text', value: `user_${i}` },
    { kind: 'text', value: `user${i}@example.com` },
    { kind: 'text', value: '2024-02-29 12:34:56.789+00' },
  ]);
}
offsets[count] = builder.length;
const all = builder.build();
const messages = new Array<Buffer>(count);
for (let i = 0; i < count; i++) messages[i] = all.subarray(offsets[i]!, offsets[i + 1]!);

const decoder = new PgOutputDecoder();
const fmt = (n: number): string => Math.round(n).toLocaleString('en');
let best = 0;
let bestCpu = 0;
let checksum = 0;
for (let r = 0; r < rounds; r++) {
  const start = process.hrtime.bigint();
  const cpuStart = process.cpuUsage();
  for (let i = 0; i < count; i++) {
    const m = decoder.decode(messages[i]!);
    if (m.tag === 'insert') checksum += m.newTuple.length;
  }
  const cpu = process.cpuUsage(cpuStart);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  // CPU time (user + system, includes GC threads) is steadier than wall time on a shared machine.
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const rate = count / seconds;
  const cpuRate = count / cpuSeconds;
  best = Math.max(best, rate);
  bestCpu = Math.max(bestCpu, cpuRate);
  process.stdout.write(
    `round ${r + 1}: ${count} messages in ${seconds.toFixed(3)} s wall, ${cpuSeconds.toFixed(3)} s CPU = ` +
      `${fmt(rate)} messages/s (${fmt(cpuRate)} per CPU-second)\n`,
  );
}
if (checksum !== count * 4 * rounds) throw new Error('checksum mismatch');
process.stdout.write(
  `best: ${fmt(best)} messages/s wall, ${fmt(bestCpu)} messages per CPU-second ` +
    `(${(all.length / count).toFixed(1)} bytes/message)\n`,
);
