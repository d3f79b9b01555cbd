import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CHANGES_RETENTION_MS, replicationFor, topicConfigs, topicProblems, type TopicFacts } from './topic-settings.ts';

const facts = (kind: TopicFacts['kind'], configs: Record<string, string>, more: Partial<TopicFacts> = {}): TopicFacts => ({
  topic: 'dcsync.s.db.' + kind,
  kind,
  configs: new Map(Object.entries(configs)),
  replicas: 3,
  brokers: 3,
  ...more,
});

describe('topic settings', () => {
  it('replicates three times where it can, and needs two acknowledgements', () => {
    assert.deepEqual(replicationFor(1), { factor: 1, minInsyncReplicas: 1 });
    assert.deepEqual(replicationFor(2), { factor: 2, minInsyncReplicas: 2 });
    assert.deepEqual(replicationFor(5), { factor: 3, minInsyncReplicas: 2 });
  });

  it('what dcsync creates passes its own check', () => {
    for (const brokers of [1, 3])
      for (const kind of ['snapshot', 'changes', 'sequences'] as const) {
        const r = replicationFor(brokers);
        assert.deepEqual(topicProblems(facts(kind, topicConfigs(kind, r), { replicas: r.factor, brokers })), [], `${kind} on ${brokers}`);
      }
    assert.equal(topicConfigs('changes', replicationFor(3))['retention.ms'], String(CHANGES_RETENTION_MS));
    assert.equal(topicConfigs('snapshot', replicationFor(3))['retention.ms'], '-1');
  });

  it('refuses what drops records, naming the setting and the fix', () => {
    const good = topicConfigs('changes', replicationFor(3));
    const [compact] = topicProblems(facts('changes', { ...good, 'cleanup.policy': 'compact,delete' }));
    assert.match(compact!, /cleanup\.policy is 'compact,delete'.*--add-config cleanup\.policy=delete/);
    assert.match(topicProblems(facts('changes', { ...good, 'retention.ms': '3600000' }))[0]!, /retention\.ms is 3600000, below the minimum/);
    assert.match(topicProblems(facts('snapshot', { ...topicConfigs('snapshot', replicationFor(3)), 'retention.ms': String(CHANGES_RETENTION_MS) }))[0]!, /initial copy must stay/);
    assert.match(topicProblems(facts('changes', { ...good, 'retention.bytes': '1000000' }))[0]!, /retention\.bytes is 1000000/);
    assert.deepEqual(topicProblems(facts('changes', { ...good, 'retention.bytes': String(2 * 1024 ** 3) })), []);
  });

  it('refuses what loses acknowledged records', () => {
    const good = topicConfigs('changes', replicationFor(3));
    assert.match(topicProblems(facts('changes', { ...good, 'unclean.leader.election.enable': 'true' }))[0]!, /unclean\.leader\.election\.enable is true/);
    assert.match(topicProblems(facts('changes', good, { replicas: 1 }))[0]!, /1 replica\(s\) on a cluster of 3 brokers: it needs 3/);
    assert.match(topicProblems(facts('changes', { ...good, 'min.insync.replicas': '1' }))[0]!, /min\.insync\.replicas is 1/);
  });

  it("at the destination, only what drops records: the mirror's copy of the initial copy may expire after a day", () => {
    const mirrored = { mirrored: true, replicas: 1, brokers: 3 };
    assert.deepEqual(topicProblems(facts('snapshot', { 'cleanup.policy': 'delete', 'retention.ms': String(CHANGES_RETENTION_MS), 'min.insync.replicas': '1' }, mirrored)), []);
    assert.equal(topicProblems(facts('changes', { 'cleanup.policy': 'compact' }, mirrored)).length, 1);
  });
});
