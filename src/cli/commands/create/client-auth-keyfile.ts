import type { Command } from '../../command.ts';
import { DEFAULT_CLIENT_NAME, issueClientKeyfile, loadCa, writeKeyfile } from '../../../tls/index.ts';
import { describeLines, FORCE_FIELD, KEY_TYPE_FIELD, keyType, optionalNumber, str, validForField } from './common.ts';

/** `dcsync create client-auth keyfile --cacert=… --cakey=… --keyfile=…` */
export const createClientAuthKeyfileCommand: Command = {
  path: ['create', 'client-auth', 'keyfile'],
  summary: 'Create a client authentication keyfile (certificate, CA chain, private key)',
  fields: [
    { key: 'cacert', type: 'string', required: true, description: 'Client authentication CA certificate (from create client-auth ca)' },
    { key: 'cakey', type: 'string', required: true, description: 'Client authentication CA private key' },
    { key: 'keyfile', type: 'string', required: true, description: 'File to write the keyfile to (PEM: certificate, CA certificate, key; mode 0600)' },
    { key: 'name', type: 'string', default: DEFAULT_CLIENT_NAME, description: 'Common name of the client certificate' },
    validForField('1y'),
    KEY_TYPE_FIELD,
    FORCE_FIELD,
  ],
  async action(values, { out }) {
    const keyfilePath = str(values, 'keyfile');
    const ca = await loadCa(str(values, 'cacert'), str(values, 'cakey'));
    const kf = await issueClientKeyfile(ca, { name: str(values, 'name'), validForMs: optionalNumber(values, 'validfor'), keyType: keyType(values) });
    await writeKeyfile(keyfilePath, kf, { force: values['force'] === true });
    out.line(`Wrote client authentication keyfile ${keyfilePath} (mode 0600)`);
    describeLines(out, kf.certificate);
    return 0;
  },
};
