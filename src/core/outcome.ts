/**
 * The end of a loop that runs inside callbacks (a consumer's handlers): the first `settle` wins, with an error
 * or without; later calls are ignored. `settled` tells handlers to stop taking work.
 */
export interface Outcome {
  readonly promise: Promise<void>;
  readonly settled: boolean;
  settle(err?: unknown): void;
}

export function createOutcome(): Outcome {
  let settled = false;
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Settling with an error nobody awaits (e.g. set-up failed first) must not become an unhandled rejection.
  promise.catch(() => {});
  return {
    promise,
    get settled() {
      return settled;
    },
    settle(err?: unknown) {
      if (settled) return;
      settled = true;
      if (err) reject(err);
      else resolve();
    },
  };
}
