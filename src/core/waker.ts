import { AbortedError, delay } from './time.ts';

/**
 * The sleep of a loop that runs every interval and also as soon as something happened: poke() cuts the current
 * sleep short, or makes the next one return at once when the loop is busy; take() marks the pokes served by the
 * round that starts now.
 */
export class Waker {
  #wake: (() => void) | undefined;
  #poked = false;

  poke(): void {
    this.#poked = true;
    this.#wake?.();
  }

  /** Ends the current sleep (if any) without leaving a poke behind. */
  interrupt(): void {
    this.#wake?.();
  }

  take(): void {
    this.#poked = false;
  }

  /** Waits ms, less when poked or interrupted; returns (never throws) when the signal aborts. */
  async sleep(ms: number, signal: AbortSignal): Promise<void> {
    if (this.#poked) return;
    const wake = new AbortController();
    this.#wake = () => wake.abort();
    try {
      await delay(ms, AbortSignal.any([signal, wake.signal]));
    } catch (err) {
      if (!(err instanceof AbortedError)) throw err;
    } finally {
      this.#wake = undefined;
    }
  }
}
