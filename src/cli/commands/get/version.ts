import { API_PREFIX } from '../../../control/router.ts';
import { errorMessage, InvalidOptionError } from '../../../core/errors.ts';
import { dcsyncVersion } from '../../../core/version.ts';
import type { Command } from '../../command.ts';
import { JSON_FIELD, publicClient } from './common.ts';

interface VersionAnswer {
  readonly version: string;
  readonly api: string;
  readonly component: string;
}

/** `dcsync get version`: this program's version and, with --master.endpoint, each master's (no credentials needed). */
export const getVersionCommand: Command = {
  path: ['get', 'version'],
  summary: "Show dcsync's version and, with --master.endpoint, the masters' versions",
  fields: [
    { key: 'master.endpoint', type: 'string[]', description: 'Also ask these masters for their version' },
    { key: 'master.cacert', type: 'string', description: "CA certificate that verifies the masters' TLS certificates (needed with --master.endpoint)" },
    { key: 'timeout', type: 'duration', default: 10_000, description: 'Per request and master' },
    JSON_FIELD,
  ],
  async action(v, { out, signal }) {
    const endpoints = (v['master.endpoint'] as string[] | undefined) ?? [];
    const masters: { endpoint: string; version?: string; api?: string; error?: string }[] = [];
    if (endpoints.length > 0) {
      if (typeof v['master.cacert'] !== 'string') {
        throw new InvalidOptionError('master.cacert', 'is required with --master.endpoint');
      }
      const client = publicClient(v);
      try {
        for (const endpoint of client.endpoints) {
          try {
            const r = await client.requestAt<VersionAnswer>(endpoint, 'GET', '/version', { signal });
            masters.push({ endpoint, version: r.version, api: r.api });
          } catch (err) {
            masters.push({ endpoint, error: errorMessage(err) });
          }
        }
      } finally {
        client.close();
      }
    }
    if (v['json']) out.json({ version: dcsyncVersion(), api: API_PREFIX, masters });
    else {
      out.line(`dcsync ${dcsyncVersion()} (API ${API_PREFIX})`);
      for (const m of masters) out.line(m.error !== undefined ? `${m.endpoint}: ${m.error}` : `${m.endpoint}: dcsync ${m.version} (API ${m.api})`);
    }
    return masters.some((m) => m.error !== undefined) ? 1 : 0;
  },
};
