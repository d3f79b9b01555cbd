import type { Command } from '../../command.ts';
import { createCa, DEFAULT_CA_NAMES, writeCa, type CaPurpose } from '../../../tls/index.ts';
import { describeLines, FORCE_FIELD, KEY_TYPE_FIELD, keyType, optionalNumber, str, validForField } from './common.ts';

const LABEL: Record<CaPurpose, string> = { tls: 'TLS CA', 'client-auth': 'client authentication CA' };

/** `create tls ca` and `create client-auth ca` differ only in purpose, so one builder makes both. */
export function caCommand(purpose: CaPurpose, path: readonly string[]): Command {
  const label = LABEL[purpose];
  return {
    path,
    summary: `Create a ${label} (certificate and private key)`,
    fields: [
      { key: 'cert', type: 'string', required: true, description: `File to write the ${label} certificate to (PEM, mode 0644)` },
      { key: 'key', type: 'string', required: true, description: `File to write the ${label} private key to (PEM, mode 0600)` },
      validForField('15y'),
      { key: 'name', type: 'string', default: DEFAULT_CA_NAMES[purpose], description: 'Common name of the CA' },
      KEY_TYPE_FIELD,
      FORCE_FIELD,
    ],
    async action(values, { out }) {
      const certPath = str(values, 'cert');
      const keyPath = str(values, 'key');
      const ca = await createCa({ purpose, commonName: str(values, 'name'), validForMs: optionalNumber(values, 'validfor'), keyType: keyType(values) });
      await writeCa(ca, { certPath, keyPath, force: values['force'] === true });
      out.line(`Wrote ${label} certificate ${certPath}`);
      out.line(`Wrote ${label} private key ${keyPath} (mode 0600; keep it offline, it signs every certificate of this CA)`);
      describeLines(out, ca.certificate);
      return 0;
    },
  };
}
