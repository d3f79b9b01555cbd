import assert from 'node:assert/strict';
import { test } from 'node:test';
import RequestQueue from 'kafkajs/src/network/requestQueue/index.js';
import { installRequestQueueTimerFix } from './request-queue-timer.ts';

installRequestQueueTimerFix();

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

function queue(maxInFlightRequests: number | null = null): RequestQueue {
  return new RequestQueue({ maxInFlightRequests, requestTimeout: 30_000, enforceRequestTimeout: false, clientId: 'test', broker: 'localhost:9092', logger: quiet });
}

let nextId = 1;
/** A request as kafkajs's connection pushes it; `sent` resolves when the queue hands it to the socket. */
function request(expectResponse: boolean): { id: number; sent: Promise<number>; push: Parameters<RequestQueue['push']>[0] } {
  const id = nextId++;
  let markSent!: (at: number) => void;
  const sent = new Promise<number>((resolve) => (markSent = resolve));
  const entry = { correlationId: id, apiKey: 1, apiName: 'Fetch', apiVersion: 11, resolve: () => {}, reject: () => {} };
  return { id, sent, push: { entry, expectResponse, sendRequest: () => markSent(performance.now()) } };
}

test('a request queue with nothing pending arms no timer, also after a response', async () => {
  const q = queue();
  try {
    q.checkPendingRequests();
    assert.equal(q.throttleCheckTimeoutId, null);
    const r = request(true);
    q.push(r.push);
    await r.sent;
    q.fulfillRequest({ correlationId: r.id, payload: Buffer.alloc(0), size: 0 });
    assert.equal(q.throttleCheckTimeoutId, null, 'kafkajs 2.2.4 itself re-arms a 1 ms timer here, forever');
  } finally {
    q.destroy();
  }
});

test('a request held back by a broker throttle goes out when the throttle ends', async () => {
  const q = queue();
  try {
    const started = performance.now();
    q.maybeThrottle(40);
    const r = request(false);
    q.push(r.push);
    assert.equal(q.pending.length, 1);
    assert.notEqual(q.throttleCheckTimeoutId, null);
    const at = await r.sent;
    assert.ok(at - started >= 35, `sent after ${at - started} ms`);
    assert.equal(q.pending.length, 0);
    assert.equal(q.throttleCheckTimeoutId, null);
  } finally {
    q.destroy();
  }
});

test('a request held back by the in-flight limit goes out when the one in flight is answered', async () => {
  const q = queue(1);
  try {
    const first = request(true);
    const second = request(true);
    q.push(first.push);
    q.push(second.push);
    await first.sent;
    assert.equal(q.pending.length, 1);
    q.fulfillRequest({ correlationId: first.id, payload: Buffer.alloc(0), size: 0 });
    await second.sent;
    assert.equal(q.pending.length, 0);
    q.fulfillRequest({ correlationId: second.id, payload: Buffer.alloc(0), size: 0 });
    // The check armed while the second request waited fires once and arms no other.
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.equal(q.throttleCheckTimeoutId, null);
  } finally {
    q.destroy();
  }
});
