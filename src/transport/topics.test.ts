import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeDatabaseToken, encodeDatabaseToken, parseRemoteTopic, remoteTopicName, topicName } from './topics.ts';

test('database names become reversible topic tokens; remote names follow MirrorMaker policies', () => {
  for (const db of ['app', 'my_db', 'Über DB', 'a.b-c', '😀']) {
    const token = encodeDatabaseToken(db);
    assert.match(token, /^[A-Za-z0-9_-]+$/);
    assert.equal(decodeDatabaseToken(token), db);
    const t = topicName('s1', db, 'changes');
    assert.deepEqual(parseRemoteTopic('default', 'A', 's1', remoteTopicName('default', 'A', t)), { database: db, kind: 'changes' });
    assert.deepEqual(parseRemoteTopic('identity', 'A', 's1', remoteTopicName('identity', 'A', t)), { database: db, kind: 'changes' });
  }
  assert.equal(parseRemoteTopic('default', 'A', 's1', 'dcsync.s1.app.changes'), undefined);
  assert.equal(parseRemoteTopic('default', 'A', 's1', 'A.dcsync.s2.app.changes'), undefined);
});
