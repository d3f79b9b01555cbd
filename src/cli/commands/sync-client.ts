/**
 * What the sync lifecycle commands (configure, stop, abort, reset, get status) share: the sync id flag and the
 * unwrapping of a failed call to the other datacenter, which the destination's leader answers with 502.
 */
import type { Field } from '../../config/fields.ts';
import { ControlHttpError, EndpointsUnreachableError } from '../../control/index.ts';
import { DcsyncError } from '../../core/errors.ts';
import { DEFAULT_SYNC_ID } from '../../control/v1/sync.ts';

export const SYNC_ID_FIELD: Field = { key: 'sync.id', type: 'string', default: DEFAULT_SYNC_ID, description: 'Id of the sync (1-16 of a-z, 0-9, _)' };

/**
 * A 502 from the leader means its call to the other datacenter failed: the leader's message names the other
 * side's endpoints and why, so it replaces the list of this datacenter's masters (the followers only said 503).
 */
export function explainOtherSide(err: unknown): unknown {
  const failures = err instanceof EndpointsUnreachableError ? err.failures.map((f) => f.error) : [err];
  for (const e of failures) {
    if (e instanceof ControlHttpError && e.status === 502 && e.code === 'bad-gateway') return new DcsyncError(`${e.serverMessage} (reported by ${e.endpoint})`, { cause: err });
  }
  return err;
}
