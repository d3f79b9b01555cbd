/**
 * deploy/kafka/ templates: the settings dcsync relies on in production (durability, record size, TLS with client
 * authentication on every listener), and the local harness's MirrorMaker TLS settings.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { mirrorMakerProperties } from './kafka.ts';

const MIB = 1024 * 1024;

/** Java properties as the templates write them: key=value lines, # comments, `\\` for a backslash. */
function parseProperties(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    assert.ok(eq > 0, `not a property: ${line}`);
    out.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim().replace(/\\\\/g, '\\'));
  }
  return out;
}

const read = (name: string): Map<string, string> => parseProperties(readFileSync(new URL(`../../deploy/kafka/${name}`, import.meta.url), 'utf8'));

test('broker template: 3 replicas, min.insync.replicas 2, no unclean election, 16 MiB records', () => {
  const p = read('server.properties.template');
  assert.ok(Number(p.get('default.replication.factor')) >= 3);
  assert.ok(Number(p.get('min.insync.replicas')) >= 2);
  assert.ok(Number(p.get('offsets.topic.replication.factor')) >= 2);
  assert.ok(Number(p.get('transaction.state.log.min.isr')) >= 2);
  assert.equal(p.get('unclean.leader.election.enable'), 'false');
  assert.equal(p.get('auto.create.topics.enable'), 'false');
  // dcsync creates its topics with max.message.bytes=16 MiB (src/transport/kafka/admin.ts)
  assert.ok(Number(p.get('message.max.bytes')) >= 16 * MIB);
  assert.ok(Number(p.get('replica.fetch.max.bytes')) >= 16 * MIB);
});

test('broker template: every listener is TLS and requires a client certificate', () => {
  const p = read('server.properties.template');
  const map = new Map((p.get('listener.security.protocol.map') ?? '').split(',').map((e) => e.split(':') as [string, string]));
  const listeners = (p.get('listeners') ?? '').split(',').map((l) => l.split(':')[0]!);
  assert.deepEqual(listeners.filter((l) => map.get(l) !== 'SSL'), [], 'a listener without TLS');
  assert.equal(p.get('ssl.client.auth'), 'required');
  assert.equal(p.get('ssl.keystore.type'), 'PEM');
  for (const l of listeners) assert.ok(p.get(`listener.name.${l.toLowerCase()}.ssl.truststore.location`), `listener ${l} has a truststore`);
  assert.ok(![...p.keys()].some((k) => k.endsWith('ssl.client.auth') && p.get(k) !== 'required'));
});

test('mm2 template: TLS with a client keyfile to both clusters, replicated internal topics, 16 MiB records', () => {
  const p = read('mm2.properties.template');
  const aliases = (p.get('clusters') ?? '').split(',').map((a) => a.trim());
  assert.deepEqual(aliases, ['A', 'B']);
  for (const a of aliases) {
    assert.equal(p.get(`${a}.security.protocol`), 'SSL');
    assert.ok(p.get(`${a}.ssl.truststore.location`));
    assert.ok(p.get(`${a}.ssl.keystore.location`), `${a} presents a client certificate`);
  }
  for (const k of ['replication.factor', 'offset-syncs.topic.replication.factor', 'config.storage.replication.factor', 'offset.storage.replication.factor', 'status.storage.replication.factor'])
    assert.ok(Number(p.get(k)) >= 2, k);
  assert.equal(p.get('B.producer.acks'), 'all');
  assert.ok(Number(p.get('B.producer.max.request.size')) >= 16 * MIB);
  assert.ok(Number(p.get('A.consumer.max.partition.fetch.bytes')) >= 16 * MIB);
  assert.ok(new RegExp(`^${p.get('A->B.topics')}$`).test('dcsync.main.app.changes'));
  assert.ok(!new RegExp(`^${p.get('A->B.topics')}$`).test('dcsyncX'));
});

test('the local harness gives MirrorMaker TLS settings for a cluster with tls, none without', () => {
  const p = parseProperties(
    mirrorMakerProperties({
      source: { alias: 'A', bootstrap: '127.0.0.1:9093', tls: { caFile: '/d/tls-ca.crt', keyfile: '/d/secrets/client.keyfile' } },
      target: { alias: 'B', bootstrap: '127.0.0.1:9193' },
      policy: 'default',
    }),
  );
  assert.equal(p.get('A.security.protocol'), 'SSL');
  assert.equal(p.get('A.ssl.truststore.location'), '/d/tls-ca.crt');
  assert.equal(p.get('A.ssl.keystore.location'), '/d/secrets/client.keyfile');
  assert.equal(p.get('A.ssl.keystore.type'), 'PEM');
  assert.equal(p.get('B.security.protocol'), undefined);
});
