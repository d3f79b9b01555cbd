import { readLocalMonitoringToken, readLocalPassword } from '../../../../tools/local/pki.ts';
import { exportLines, localEnv, readLocalState } from '../../../../tools/local/state.ts';
import type { Command } from '../../command.ts';
import { dirOf, DIR_FIELD } from './common.ts';

/** `dcsync local env --dir DIR`: `export` lines for sh (eval "$(dcsync local env --dir DIR)"). */
export const localEnvCommand: Command = {
  path: ['local', 'env'],
  summary: 'Print the endpoints and credentials of a local deployment as shell export lines',
  fields: [DIR_FIELD],
  async action(v, { out }) {
    const state = readLocalState(dirOf(v));
    const env = localEnv(state, await readLocalPassword(state.files), await readLocalMonitoringToken(state.files));
    // stderr: the lines on stdout stay fit for eval
    if (state.status !== 'up') out.error(`note: the deployment in ${state.dir} is ${state.status === 'down' ? 'down' : 'not up (local up did not finish)'}`);
    for (const line of exportLines({ ...env })) out.line(line);
    return 0;
  },
};
