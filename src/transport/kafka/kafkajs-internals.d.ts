/** The one kafkajs internal dcsync touches (see request-queue-timer.ts); kafkajs ships no types for it. */
declare module 'kafkajs/src/network/requestQueue/index.js' {
  interface RequestEntry {
    correlationId: number;
    apiKey: number;
    apiName: string;
    apiVersion: number;
    resolve(r: unknown): void;
    reject(e: Error): void;
  }
  interface QueueLogger {
    debug(message: string, extra?: object): void;
    info(message: string, extra?: object): void;
    warn(message: string, extra?: object): void;
    error(message: string, extra?: object): void;
  }
  class RequestQueue {
    constructor(o: { maxInFlightRequests: number | null; requestTimeout: number; enforceRequestTimeout: boolean; clientId: string; broker: string; logger: QueueLogger });
    pending: unknown[];
    throttledUntil: number;
    throttleCheckTimeoutId: ReturnType<typeof setTimeout> | null;
    push(r: { entry: RequestEntry; expectResponse: boolean; sendRequest(): void; requestTimeout?: number }): void;
    maybeThrottle(ms: number | null): void;
    fulfillRequest(r: { correlationId: number; payload: Buffer; size: number }): void;
    checkPendingRequests(): void;
    scheduleCheckPendingRequests(): void;
    destroy(): void;
  }
  export default RequestQueue;
}
