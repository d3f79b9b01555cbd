import type { Command } from '../../command.ts';
import { issueServerKeyfile, loadCa, parseHosts, writeKeyfile } from '../../../tls/index.ts';
import { describeLines, FORCE_FIELD, KEY_TYPE_FIELD, keyType, optionalNumber, str, validForField } from './common.ts';

/** `dcsync create tls keyfile --cacert=… --cakey=… --keyfile=… --host=NAME|IP …` */
export const createTlsKeyfileCommand: Command = {
  path: ['create', 'tls', 'keyfile'],
  summary: 'Create a TLS keyfile (certificate, CA chain, private key) for a master or worker',
  fields: [
    { key: 'cacert', type: 'string', required: true, description: 'TLS CA certificate (from create tls ca)' },
    { key: 'cakey', type: 'string', required: true, description: 'TLS CA private key' },
    { key: 'keyfile', type: 'string', required: true, description: 'File to write the keyfile to (PEM: certificate, CA certificate, key; mode 0600)' },
    { key: 'host', type: 'string[]', description: 'DNS name or IP address the server is reached by; repeat or comma-separate; the first is the CN' },
    validForField('2y'),
    KEY_TYPE_FIELD,
    FORCE_FIELD,
  ],
  async action(values, { out }) {
    const keyfilePath = str(values, 'keyfile');
    const hosts = (values['host'] as string[] | undefined) ?? [];
    parseHosts(hosts); // usage errors (exit 2) before any file is read
    const ca = await loadCa(str(values, 'cacert'), str(values, 'cakey'));
    const kf = await issueServerKeyfile(ca, { hosts, validForMs: optionalNumber(values, 'validfor'), keyType: keyType(values) });
    await writeKeyfile(keyfilePath, kf, { force: values['force'] === true });
    out.line(`Wrote TLS keyfile ${keyfilePath} (mode 0600)`);
    describeLines(out, kf.certificate);
    return 0;
  },
};
