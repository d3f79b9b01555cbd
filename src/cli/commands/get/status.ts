import { errorMessage, InvalidOptionError } from '../../../core/errors.ts';
import { AbortedError, delay } from '../../../core/time.ts';
import { SYNC_PATHS, type StatusResponse } from '../../../control/v1/sync.ts';
import type { Values } from '../../../config/fields.ts';
import type { Command } from '../../command.ts';
import type { Output } from '../../output.ts';
import { CopyRates, statusLines, watchHeader } from './status-render.ts';
import { statusExitCode } from './status-verdict.ts';
import { ask, explainRefusal, JSON_FIELD, MASTER_CLIENT_FIELDS, OPERATOR_FIELDS, operatorClient } from './common.ts';

/** Faster refreshes would only load the masters (each answer reads the datacenter's PostgreSQL). */
const MIN_INTERVAL_MS = 100;

/** What the command exits with when the masters did not answer. */
const NO_ANSWER_EXIT = 1;

/**
 * --watch: fetches and redraws every interval until the signal (Ctrl-C) aborts. A failed fetch is shown in the
 * frame and retried at the next interval (a failover does not end the watch). Exits as the last answer says.
 */
async function watch(v: Values, out: Output, signal: AbortSignal): Promise<number> {
  const intervalMs = Number(v['interval']);
  if (!(intervalMs >= MIN_INTERVAL_MS)) throw new InvalidOptionError('interval', `must be at least ${MIN_INTERVAL_MS}ms`);
  const verbose = v['verbose'] === true;
  const client = operatorClient(v);
  const rates = new CopyRates();
  let code = NO_ANSWER_EXIT;
  try {
    while (!signal.aborted) {
      const at = new Date();
      let body: string[];
      try {
        const r = await client.get<StatusResponse>(SYNC_PATHS.status, { signal });
        code = statusExitCode(r);
        body = v['json'] ? [JSON.stringify(r)] : statusLines(r, { verbose, rates: rates.update(at.getTime(), r) });
      } catch (err) {
        if (signal.aborted) break;
        code = NO_ANSWER_EXIT;
        body = [`No answer: ${errorMessage(explainRefusal(err))}`];
      }
      out.frame(v['json'] ? body : [watchHeader(intervalMs, at), '', ...body]);
      try {
        await delay(intervalMs, signal);
      } catch (err) {
        if (!(err instanceof AbortedError)) throw err;
      }
    }
  } finally {
    out.endFrames();
    client.close();
  }
  return code;
}

/**
 * `dcsync get status`: the incoming sync (per database and table) and the outgoing syncs of a datacenter.
 * Exits 0 when nothing failed, 3 when anything failed (status-verdict.ts), 1 when the masters cannot answer.
 */
export const getStatusCommand: Command = {
  path: ['get', 'status'],
  summary: 'Show the sync status (exit 0 ok, 3 something failed, 1 no answer)',
  fields: [
    ...MASTER_CLIENT_FIELDS,
    ...OPERATOR_FIELDS,
    JSON_FIELD,
    { key: 'verbose', type: 'boolean', short: 'v', default: false, description: 'List every table and outgoing database' },
    { key: 'watch', type: 'boolean', short: 'w', default: false, description: 'Redraw every --interval until Ctrl-C (without a terminal: print one full status per interval)' },
    { key: 'interval', type: 'duration', default: 2_000, description: 'How often --watch refreshes (e.g. 2s, 500ms)' },
  ],
  async action(v, { out, signal }) {
    if (v['watch']) return watch(v, out, signal);
    const r = await ask(operatorClient(v), (c) => c.get<StatusResponse>(SYNC_PATHS.status, { signal }));
    if (v['json']) out.json(r);
    else for (const l of statusLines(r, { verbose: v['verbose'] === true })) out.line(l);
    return statusExitCode(r);
  },
};
