import { upLocal } from '../../../../tools/local/deployment.ts';
import type { Command } from '../../command.ts';
import { dirOf, DIR_FIELD } from './common.ts';

/** `dcsync local up --dir DIR [--no-configure]`: two datacenters on this machine, running on after the command returns. */
export const localUpCommand: Command = {
  path: ['local', 'up'],
  summary: 'Start two datacenters on this machine (PostgreSQL, Kafka, MirrorMaker 2, masters, workers) and configure sync A→B',
  fields: [
    DIR_FIELD,
    { key: 'no-configure', type: 'boolean', default: false, description: 'Start everything but do not configure the sync A→B' },
    // No `default` here: the help would print it in milliseconds.
    { key: 'timeout', type: 'duration', description: "How long the masters and workers may take to be ready, e.g. '5m' (default 3m)" },
  ],
  async action(v, { out, signal }) {
    const dir = dirOf(v);
    const started = Date.now();
    out.line(`dcsync local up: ${dir}`);
    const d = await upLocal({ dir, configure: v['no-configure'] !== true, ...(typeof v['timeout'] === 'number' ? { readyTimeoutMs: v['timeout'] } : {}), signal, onProgress: (line) => out.line(line) });
    out.line(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s: ${d.state().processes.length} processes, logs in ${d.dir}/logs`);
    out.line(`  eval "$(dcsync local env --dir ${d.dir})"   # endpoints and credentials for every dcsync command`);
    out.line(`  dcsync local ps --dir ${d.dir}`);
    out.line(`  dcsync local down --dir ${d.dir}`);
    return 0;
  },
};
