import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidOptionError } from '../core/errors.ts';
import { silentLogger } from '../core/logger.ts';
import { parseHeartbeatRequest, parseRegisterWorkerRequest, parseTaskStatusRequest } from '../control/v1/cluster.ts';
import { compileMasterOptions, masterIdOf, type MasterOptions } from './options.ts';

const base: MasterOptions = {
  serverEndpoint: 'https://master-1.dc-a:8629/',
  serverKeyfile: '/etc/dcsync/tls.keyfile',
  clusterEndpoint: 'postgres://dcsync@pg-a:5432/postgres',
  masterEndpoints: ['https://master-1.dc-a:8629', 'https://master-2.dc-a:8629'],
  jwtSecretFile: '/etc/dcsync/jwt.secret',
  kafkaAddr: ['kafka-a:9092'],
  logger: silentLogger,
};

function refusedKey(over: Partial<MasterOptions>, env: NodeJS.ProcessEnv = {}): string {
  try {
    compileMasterOptions({ ...base, ...over }, env);
  } catch (err) {
    assert.ok(err instanceof InvalidOptionError, String(err));
    return err.key;
  }
  assert.fail('accepted');
}

describe('compileMasterOptions', () => {
  it('fills in defaults and derives a stable id from the endpoint', () => {
    const o = compileMasterOptions(base, { DCSYNC_CLUSTER_PASSWORD: 's3cret' });
    assert.equal(o.serverEndpoint, 'https://master-1.dc-a:8629');
    assert.equal(o.id, 'master-1.dc-a:8629');
    assert.equal(o.serverPort, 8629);
    assert.equal(o.datacenter, 'default');
    assert.equal(o.mqType, 'kafka');
    assert.equal(o.stateDatabase, 'postgres');
    assert.equal(o.workerTimeoutMs, 15_000);
    assert.deepEqual(o.election, { leaseMs: 6_000, renewMs: 1_500, retryMs: 500, safetyMs: 1_000 });
    assert.equal(new URL(o.clusterUrl).password, 's3cret');
    assert.equal(masterIdOf('https://[::1]:8629'), '[::1]:8629');
  });

  it('defaults the master list to this master alone', () => {
    assert.deepEqual(compileMasterOptions({ ...base, masterEndpoints: undefined }, {}).masterEndpoints, ['https://master-1.dc-a:8629']);
  });

  it('names the flag of every refusal', () => {
    assert.equal(refusedKey({ serverEndpoint: 'http://master-1:8629' }), 'server.endpoint');
    assert.equal(refusedKey({ serverEndpoint: '' }), 'server.endpoint');
    assert.equal(refusedKey({ serverPort: 70_000 }), 'server.port');
    assert.equal(refusedKey({ masterEndpoints: ['https://master-2.dc-a:8629'] }), 'master.endpoint');
    assert.equal(refusedKey({ masterEndpoints: ['https://master-1.dc-a:8629', 'master-2'] }), 'master.endpoint');
    assert.equal(refusedKey({ kafkaAddr: [] }), 'mq.kafka-addr');
    assert.equal(refusedKey({ kafkaAddr: ['kafka-a'] }), 'mq.kafka-addr');
    assert.equal(refusedKey({ mqType: 'direct' }), 'mq.type');
    assert.equal(refusedKey({ datacenter: 'dc a' }), 'datacenter');
    assert.equal(refusedKey({ jwtSecretFile: '' }), 'master.jwtSecret');
    assert.equal(refusedKey({ clusterEndpoint: 'mysql://x' }), 'cluster.endpoint');
    assert.equal(refusedKey({ election: { renewMs: 5_000 } }), 'election');
    assert.equal(refusedKey({ heartbeatIntervalMs: 10_000 }), 'heartbeatInterval');
  });
});

describe('master API body validators', () => {
  it('checks a registration', () => {
    assert.deepEqual(parseRegisterWorkerRequest({ id: 'w-1', endpoint: 'https://10.0.0.5:8729/', datacenter: 'dc-a' }), { id: 'w-1', endpoint: 'https://10.0.0.5:8729', datacenter: 'dc-a' });
    for (const bad of [null, [], { id: 'w 1', endpoint: 'https://a:1', datacenter: 'x' }, { id: 'w', endpoint: 'http://a:1', datacenter: 'x' }, { id: 'w', endpoint: 'https://u:p@a:1', datacenter: 'x' }, { id: 'w', endpoint: 'https://a:1', datacenter: 'x', extra: 1 }]) {
      assert.throws(() => parseRegisterWorkerRequest(bad), /must|unknown|may hold/);
    }
  });

  it('checks a status report', () => {
    assert.deepEqual(parseTaskStatusRequest({ workerId: 'w', epoch: 3, state: 'failed', error: 'boom', progress: { a: 1 } }), { workerId: 'w', epoch: 3, state: 'failed', error: 'boom', progress: { a: 1 } });
    assert.throws(() => parseTaskStatusRequest({ workerId: 'w', epoch: 0, state: 'running' }), /epoch/);
    assert.throws(() => parseTaskStatusRequest({ workerId: 'w', epoch: 1.5, state: 'running' }), /epoch/);
    assert.throws(() => parseTaskStatusRequest({ workerId: 'w', epoch: 1, state: 'cancelled' }), /state/);
    assert.throws(() => parseTaskStatusRequest({ workerId: 'w', epoch: 1, state: 'running', progress: [] }), /progress/);
    assert.throws(() => parseTaskStatusRequest({ workerId: 'w', epoch: 1, state: 'running', progress: { big: 'x'.repeat(270_000) } }), /progress/);
  });

  it('accepts a heartbeat without a body', () => {
    assert.deepEqual(parseHeartbeatRequest(undefined), {});
    assert.deepEqual(parseHeartbeatRequest({ version: '1.2.3' }), { version: '1.2.3' });
    assert.throws(() => parseHeartbeatRequest({ tasks: [] }), /unknown/);
  });
});
