import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidOptionError } from '../core/errors.ts';
import { parseEndpoint } from '../config/validate.ts';
import { ControlClient, isEndpointFailure, tryEndpoints } from './client.ts';
import { ControlHttpError, EndpointUnreachableError, EndpointsUnreachableError, ServerCertificateError } from './errors.ts';

test('parseEndpoint: https only, no credentials, no path', () => {
  assert.equal(parseEndpoint('https://Master-1.example:8629'), 'https://master-1.example:8629');
  assert.equal(parseEndpoint('https://[::1]:8629/'), 'https://[::1]:8629');
  for (const bad of ['http://a:8629', 'a:8629', 'https://u:p@a:8629', 'https://a:8629/_api', 'https://a:8629?x=1', 'not a url']) {
    assert.throws(() => parseEndpoint(bad), InvalidOptionError, bad);
  }
  try {
    parseEndpoint('https://admin:hunter2@a:8629');
  } catch (err) {
    assert.doesNotMatch((err as Error).message, /hunter2/);
  }
});

test('isEndpointFailure', () => {
  assert.equal(isEndpointFailure(new EndpointUnreachableError('e', 'connection refused', false)), true);
  assert.equal(isEndpointFailure(new EndpointUnreachableError('e', 'timed out', true), false), false, 'a POST that may have arrived is not repeated');
  assert.equal(isEndpointFailure(new EndpointUnreachableError('e', 'connection refused', false), false), true);
  assert.equal(isEndpointFailure(new ServerCertificateError('e', 'CERT_HAS_EXPIRED')), true);
  assert.equal(isEndpointFailure(new ControlHttpError('e', 503, 'unavailable', 'not the leader')), true);
  assert.equal(isEndpointFailure(new ControlHttpError('e', 401, 'unauthorized', 'no')), false);
  assert.equal(isEndpointFailure(new Error('x')), false);
});

test('tryEndpoints returns the first answer and names every failed endpoint', async () => {
  const tried: string[] = [];
  const result = await tryEndpoints(['a', 'b', 'c'], async (ep) => {
    tried.push(ep);
    if (ep !== 'c') throw new EndpointUnreachableError(ep, 'connection refused', false);
    return 42;
  });
  assert.equal(result, 42);
  assert.deepEqual(tried, ['a', 'b', 'c']);

  const err = await tryEndpoints(['a', 'b', 'c'], async (ep) => {
    if (ep === 'a') throw new EndpointUnreachableError(ep, 'timed out after 5000ms', true);
    if (ep === 'b') throw new ServerCertificateError(ep, 'CERT_HAS_EXPIRED');
    throw new ControlHttpError(ep, 503, 'unavailable', 'not the leader');
  }).catch((e: unknown) => e);
  assert.ok(err instanceof EndpointsUnreachableError);
  assert.equal(err.message, 'none of 3 endpoint(s) answered: a (timed out after 5000ms); b (certificate not accepted: CERT_HAS_EXPIRED); c (503 unavailable: not the leader)');
  assert.equal(err.retriable, true);
});

test('tryEndpoints throws other errors at once', async () => {
  const tried: string[] = [];
  const err = await tryEndpoints(['a', 'b'], async (ep) => {
    tried.push(ep);
    throw new ControlHttpError(ep, 401, 'unauthorized', 'authentication failed');
  }).catch((e: unknown) => e);
  assert.ok(err instanceof ControlHttpError);
  assert.deepEqual(tried, ['a']);
  await assert.rejects(tryEndpoints([], async () => 1), InvalidOptionError);
});

test('ControlClient checks its options', () => {
  assert.throws(() => new ControlClient({ endpoints: [], ca: 'x' }), InvalidOptionError);
  assert.throws(() => new ControlClient({ endpoints: 'https://a:1', ca: 'not a pem' }), /'ca'/);
  assert.throws(() => new ControlClient({ endpoints: 'http://a:1', ca: '-----BEGIN CERTIFICATE-----' }), /https/);
  assert.throws(() => new ControlClient({ endpoints: 'https://a:1', ca: '-----BEGIN CERTIFICATE-----', timeout: 'later' }), /'timeout'/);
});
