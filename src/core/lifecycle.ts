import { EventEmitter } from 'node:events';
import { IllegalStateError } from './errors.ts';
import type { Logger } from './logger.ts';

/**
 * An explicit state machine for daemons, tasks and loops. `transitions` lists, for each state,
 * the states it may move to; anything else is a bug and throws IllegalStateError.
 */
export class Lifecycle<S extends string> extends EventEmitter {
  #state: S;
  constructor(
    initial: S,
    private readonly transitions: Readonly<Record<S, readonly S[]>>,
    private readonly log?: Logger,
  ) {
    super();
    this.#state = initial;
  }

  get state(): S {
    return this.#state;
  }

  is(...states: S[]): boolean {
    return states.includes(this.#state);
  }

  to(next: S): void {
    const from = this.#state;
    if (from === next) return;
    if (!this.transitions[from].includes(next)) throw new IllegalStateError(`cannot go from '${from}' to '${next}'`);
    this.#state = next;
    this.log?.info('state changed', { from, to: next });
    this.emit('state', next, from);
  }
}
