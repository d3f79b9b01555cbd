import kafkajsPackage from 'kafkajs/package.json' with { type: 'json' };
import RequestQueue from 'kafkajs/src/network/requestQueue/index.js';
import { IllegalStateError } from '../../core/errors.ts';
import { checkWrittenFor } from '../../core/written-for.ts';

/** kafkajs's own interval for re-checking requests held back by the in-flight limit. */
const RECHECK_MS = 10;

let installed = false;

/**
 * kafkajs 2.2.4 arms a timer for its pending-request check even when nothing is pending, with a negative delay
 * (1 ms), and every check arms the next one: once a broker connection has had one response, its request queue
 * wakes the event loop about a thousand times a second, forever (tulios/kafkajs#1556, not fixed in a release).
 * An idle task pays for it in CPU. The check is only needed while requests wait, so this
 * arms the timer only then, with kafkajs's own delays (the end of a broker-requested throttle, else 10 ms).
 */
export function installRequestQueueTimerFix(): void {
  if (installed) return;
  // The replaced method's body is 2.2.4's own: a release that fixes the timer (or changes the queue) needs a new look.
  checkWrittenFor(kafkajsPackage.version, { package: 'kafkajs', from: '2.2.4', below: '2.2.5', module: 'src/transport/kafka/request-queue-timer.ts' });
  const proto = RequestQueue.prototype as Partial<RequestQueue>;
  // kafkajs is pinned (package.json); a version without these methods needs this fix looked at again.
  if (typeof proto.scheduleCheckPendingRequests !== 'function' || typeof proto.checkPendingRequests !== 'function')
    throw new IllegalStateError("kafkajs's RequestQueue is not the one request-queue-timer.ts was written for (kafkajs 2.2.4)");
  installed = true;
  RequestQueue.prototype.scheduleCheckPendingRequests = function (this: RequestQueue): void {
    if (this.throttleCheckTimeoutId !== null || this.pending.length === 0) return;
    const untilUnthrottled = this.throttledUntil - Date.now();
    this.throttleCheckTimeoutId = setTimeout(
      () => {
        this.throttleCheckTimeoutId = null;
        this.checkPendingRequests();
      },
      untilUnthrottled > 0 ? untilUnthrottled : RECHECK_MS,
    );
  };
}
