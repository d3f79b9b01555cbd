import { downLocal } from '../../../../tools/local/deployment.ts';
import type { Command } from '../../command.ts';
import { dirOf, DIR_FIELD } from './common.ts';

/** `dcsync local down --dir DIR`: stops, by pid, everything `local up` started there (idempotent). */
export const localDownCommand: Command = {
  path: ['local', 'down'],
  summary: 'Stop every process of a local deployment (masters and workers, MirrorMaker 2, Kafka, PostgreSQL)',
  fields: [DIR_FIELD],
  async action(v, { out }) {
    const dir = dirOf(v);
    const results = await downLocal(dir);
    if (results.length === 0) {
      out.line(`nothing recorded in ${dir}: nothing to stop`);
      return 0;
    }
    for (const r of results) out.line(`${r.name.padEnd(10)} pid ${String(r.pid).padEnd(8)} ${r.outcome}`);
    const stopped = results.filter((r) => r.outcome === 'stopped').length;
    out.line(`${stopped} stopped, ${results.length - stopped} were not running${results.some((r) => r.outcome === 'not-ours') ? ' (or their pid now belongs to another program)' : ''}`);
    return 0;
  },
};
