import type { Field, Values } from '../../../config/fields.ts';

/** The monitoring flags of `run master` and `run worker`, as ArangoSync's --monitoring.token. */
export const MONITORING_FIELDS: readonly Field[] = [
  {
    key: 'monitoring.token',
    type: 'string',
    secret: true,
    description: 'Bearer token that turns on /metrics and /metrics.json (prefer --monitoring.token-file or DCSYNC_MONITORING_TOKEN: a command line is visible to every user of the host)',
  },
  { key: 'monitoring.token-file', type: 'string', description: 'File holding the monitoring token (one line, mode 0600); without a token /metrics answers 404' },
];

/** The monitoring flags as the daemons' options take them (names only; the compilers check them). */
export function monitoringOptionsFromFlags(v: Values): { monitoringToken?: string; monitoringTokenFile?: string } {
  const token = v['monitoring.token'];
  const file = v['monitoring.token-file'];
  return { ...(typeof token === 'string' ? { monitoringToken: token } : {}), ...(typeof file === 'string' ? { monitoringTokenFile: file } : {}) };
}
