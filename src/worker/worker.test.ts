import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidOptionError } from '../core/errors.ts';
import { silentLogger } from '../core/logger.ts';
import { compileWorkerOptions, workerIdOf, type WorkerOptions } from './worker.ts';

const base: WorkerOptions = {
  serverEndpoint: 'https://10.0.0.5:8729',
  serverKeyfile: '/etc/dcsync/worker.keyfile',
  masterEndpoints: ['https://m1:8629', 'https://m2:8629/'],
  jwtSecretFile: '/etc/dcsync/jwt.secret',
  clusterEndpoint: 'postgres://dcsync@pg:5432/postgres',
  kafkaAddr: ['kafka:9092'],
  logger: silentLogger,
};

describe('worker options', () => {
  it('derives the worker id from the endpoint (host:port), like the master', () => {
    assert.equal(workerIdOf('https://10.0.0.5:8729'), '10.0.0.5:8729');
  });

  it('fills in the documented defaults', () => {
    const o = compileWorkerOptions(base, { DCSYNC_CLUSTER_PASSWORD: 'pw' });
    assert.equal(o.id, '10.0.0.5:8729');
    assert.equal(o.serverPort, 8729);
    assert.equal(o.datacenter, 'default');
    assert.deepEqual(o.masterEndpoints, ['https://m1:8629', 'https://m2:8629']);
    assert.equal(o.masterCacert, undefined);
    assert.equal(o.partitions, 8);
    assert.equal(o.copySessions, 2);
    assert.equal(o.sourceAlias, 'A');
    assert.equal(o.replicationPolicy, 'default');
    assert.equal(o.applyMode, 'parallel');
    assert.match(o.clusterUrl, /:pw@/);
  });

  it('transactional mode uses one partition', () => {
    assert.equal(compileWorkerOptions({ ...base, applyMode: 'transactional' }, {}).partitions, 1);
  });

  it('refuses bad values, naming the flag', () => {
    const bad = (o: Partial<WorkerOptions>, key: string): void =>
      assert.throws(() => compileWorkerOptions({ ...base, ...o }, {}), (e: unknown) => e instanceof InvalidOptionError && e.message.includes(key));
    bad({ serverEndpoint: 'http://x:1' }, 'server.endpoint');
    bad({ masterEndpoints: [] }, 'master.endpoint');
    bad({ datacenter: 'a b' }, 'datacenter');
    bad({ kafkaAddr: ['nohost'] }, 'mq.kafka-addr');
    bad({ serverPort: 70000 }, 'server.port');
    bad({ copySessions: 0 }, 'copy.sessions');
  });
});
