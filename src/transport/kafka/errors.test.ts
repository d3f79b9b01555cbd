import assert from 'node:assert/strict';
import { test } from 'node:test';
import { wrapKafkaError } from './errors.ts';

test('unreachable or restarting brokers are retriable; credentials, configuration and certificates are not', () => {
  assert.equal(wrapKafkaError(Object.assign(new Error('Connection error: connect ECONNREFUSED'), { name: 'KafkaJSNumberOfRetriesExceeded', retriable: false }), 'x').retriable, true);
  assert.equal(wrapKafkaError({ name: 'KafkaJSProtocolError', type: 'TOPIC_AUTHORIZATION_FAILED', message: 'no' }, 'x').retriable, false);
  assert.equal(wrapKafkaError({ name: 'KafkaJSNonRetriableError', message: 'x', cause: { type: 'MESSAGE_TOO_LARGE', message: 'big' } }, 'x').retriable, false);
  const tls = wrapKafkaError({ name: 'KafkaJSConnectionError', message: 'self-signed', cause: Object.assign(new Error('self signed'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' }) }, 'connecting');
  assert.equal(tls.retriable, false);
  assert.match(tls.message, /--mq.kafka-cacert/);
});
