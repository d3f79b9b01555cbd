import { formatPath } from '../../../control/index.ts';
import { CHECK_PATHS, type CheckView } from '../../../control/v1/check.ts';
import { AbortedError, delay } from '../../../core/time.ts';
import type { Command } from '../../command.ts';
import { explainRefusal, JSON_FIELD, MASTER_CLIENT_FIELDS, OPERATOR_FIELDS, operatorClient } from '../get/common.ts';
import { explainOtherSide, SYNC_ID_FIELD } from '../sync-client.ts';
import { checkExitCode, checkLines, progressLine } from './sync-render.ts';

const POLL_MS = 1_000;

/**
 * `dcsync check sync`: compares every replicated table (or the --database / --table given) of A and B at the same
 * point of the stream, run against the destination's masters. Progress goes to stderr; the result to stdout.
 * Exits 0 when every checked table is equal, 3 when differences were found, 1 on an error.
 */
export const checkSyncCommand: Command = {
  path: ['check', 'sync'],
  summary: 'Compare A and B table by table at one point of the stream (exit 0 equal, 3 differences, 1 error)',
  fields: [
    ...MASTER_CLIENT_FIELDS,
    ...OPERATOR_FIELDS,
    SYNC_ID_FIELD,
    JSON_FIELD,
    { key: 'database', type: 'string[]', description: 'Check only this database (repeatable; default: every database of the sync)' },
    { key: 'table', type: 'string[]', description: 'Check only this table, as schema.table, in whichever checked database holds it (repeatable; default: every replicated table)' },
  ],
  async action(v, { out, signal }) {
    const client = operatorClient(v);
    const id = String(v['sync.id']);
    try {
      let view: CheckView;
      try {
        view = await client.post<CheckView>(formatPath(CHECK_PATHS.checks, { id }), { databases: (v['database'] as string[] | undefined) ?? [], tables: (v['table'] as string[] | undefined) ?? [] }, { signal });
      } catch (err) {
        throw explainOtherSide(explainRefusal(err));
      }
      let shown = '';
      while (view.state === 'running') {
        const line = progressLine(view);
        if (line !== shown) out.error(line);
        shown = line;
        try {
          await delay(POLL_MS, signal);
        } catch (err) {
          if (err instanceof AbortedError) return 1;
          throw err;
        }
        view = await client.get<CheckView>(formatPath(CHECK_PATHS.check, { id, check: view.id }), { signal });
      }
      if (v['json']) out.json(view);
      else for (const l of checkLines(view)) out.line(l);
      if (view.state === 'failed') out.error(`check failed: ${view.error ?? 'unknown error'}`);
      return checkExitCode(view);
    } finally {
      client.close();
    }
  },
};
