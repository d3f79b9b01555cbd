import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_SYNC_SETTINGS, parseConfigureSyncRequest, parsePeerStartRequest, parseSyncSettings, streamName } from './sync.ts';

const CERT = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n';
const KEYFILE = `${CERT}-----BEGIN PRIVATE KEY-----\nBBBB\n-----END PRIVATE KEY-----\n`;

describe('sync contract validators', () => {
  it('fills in the default settings and forces one partition in transactional mode', () => {
    assert.deepEqual(parseSyncSettings(undefined), DEFAULT_SYNC_SETTINGS);
    assert.equal(parseSyncSettings({ applyMode: 'transactional' }).partitions, 1);
    assert.throws(() => parseSyncSettings({ applyMode: 'transactional', partitions: 4 }), /partitions/);
    assert.throws(() => parseSyncSettings({ partitions: 0 }), /partitions/);
    assert.throws(() => parseSyncSettings({ sourceAlias: 'a.b' }), /sourceAlias/);
    assert.throws(() => parseSyncSettings({ extra: 1 }), /unknown field 'extra'/);
  });

  it('checks a configure request', () => {
    const ok = parseConfigureSyncRequest({ source: { endpoints: ['https://a1:8629/'], cacert: CERT }, clientKeyfile: KEYFILE });
    assert.equal(ok.id, 'main');
    assert.deepEqual(ok.source.endpoints, ['https://a1:8629']);
    assert.throws(() => parseConfigureSyncRequest({ source: { endpoints: ['http://a1:8629'], cacert: CERT }, clientKeyfile: KEYFILE }), /https/);
    assert.throws(() => parseConfigureSyncRequest({ source: { endpoints: [], cacert: CERT }, clientKeyfile: KEYFILE }), /endpoints/);
    assert.throws(() => parseConfigureSyncRequest({ source: { endpoints: ['https://a1:8629'], cacert: 'x' }, clientKeyfile: KEYFILE }), /cacert/);
    assert.throws(() => parseConfigureSyncRequest({ source: { endpoints: ['https://a1:8629'], cacert: CERT }, clientKeyfile: CERT }), /clientKeyfile/);
    assert.throws(() => parseConfigureSyncRequest({ id: 'Main!', source: { endpoints: ['https://a1:8629'], cacert: CERT }, clientKeyfile: KEYFILE }), /'id'/);
    assert.throws(() => parseConfigureSyncRequest({ source: { endpoints: ['https://u:p@a1:8629'], cacert: CERT }, clientKeyfile: KEYFILE }), /credentials/);
  });

  it('checks a peer start request', () => {
    const body = { run: 'abc123', destination: { datacenter: 'dc-b', endpoints: ['https://b1:8629'] } };
    assert.equal(parsePeerStartRequest(body).settings.partitions, 8);
    assert.throws(() => parsePeerStartRequest({ ...body, run: 'ABC' }), /run/);
    assert.throws(() => parsePeerStartRequest({ ...body, destination: { datacenter: 'dc b', endpoints: ['https://b1:8629'] } }), /datacenter/);
  });

  it('names streams by sync and run', () => {
    assert.equal(streamName('main', 'abc123'), 'main_abc123');
    assert.equal(streamName('main', null), 'main');
  });
});
