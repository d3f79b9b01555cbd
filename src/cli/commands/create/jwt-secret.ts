import type { Command } from '../../command.ts';
import { createJwtSecret, writeJwtSecret } from '../../../tls/index.ts';
import { FORCE_FIELD, str } from './common.ts';

/** `dcsync create jwt-secret --secret=…` */
export const createJwtSecretCommand: Command = {
  path: ['create', 'jwt-secret'],
  summary: 'Create a JWT secret file shared by the masters and workers of one datacenter',
  fields: [{ key: 'secret', type: 'string', required: true, description: 'File to write the secret to (64 hex characters, mode 0600)' }, FORCE_FIELD],
  async action(values, { out }) {
    const path = str(values, 'secret');
    await writeJwtSecret(path, createJwtSecret(), { force: values['force'] === true });
    out.line(`Wrote JWT secret ${path} (mode 0600)`);
    return 0;
  },
};
