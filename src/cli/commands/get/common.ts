import { readFileSync } from 'node:fs';
import type { Field, Values } from '../../../config/fields.ts';
import { ControlClient, ControlHttpError } from '../../../control/index.ts';
import { DcsyncError, InvalidOptionError } from '../../../core/errors.ts';

/** Flags of the commands that ask the masters (`dcsync get …`), as ArangoSync's. */
export const MASTER_CLIENT_FIELDS: readonly Field[] = [
  { key: 'master.endpoint', type: 'string[]', required: true, description: 'Endpoints of the masters of the datacenter (all of them; repeatable or comma-separated)' },
  { key: 'master.cacert', type: 'string', required: true, description: "CA certificate that verifies the masters' TLS certificates (the TLS CA)" },
  { key: 'timeout', type: 'duration', default: 10_000, description: 'Per request and master' },
];

/** Operator credentials: checked by the masters against the datacenter's PostgreSQL. */
export const OPERATOR_FIELDS: readonly Field[] = [
  { key: 'auth.user', type: 'string', required: true, description: 'PostgreSQL user of the operator (a superuser or a member of dcsync_admin)' },
  { key: 'auth.password', type: 'string', secret: true, description: 'Its password (better: DCSYNC_AUTH_PASSWORD)' },
];

export const JSON_FIELD: Field = { key: 'json', type: 'boolean', default: false, description: 'Print the answer as JSON' };

function caText(values: Values): string {
  const path = String(values['master.cacert']);
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new InvalidOptionError('master.cacert', `cannot be read: ${(err as Error).message}`);
  }
}

/** A client of every given master, without credentials (public routes). */
export function publicClient(values: Values): ControlClient {
  return new ControlClient({ endpoints: values['master.endpoint'] as string[], ca: caText(values), timeout: Number(values['timeout']) });
}

/** A client of every given master with the operator's credentials. */
export function operatorClient(values: Values): ControlClient {
  const username = String(values['auth.user']);
  const password = values['auth.password'];
  if (typeof password !== 'string' || password === '') throw new InvalidOptionError('auth.password', 'is required (--auth.password or DCSYNC_AUTH_PASSWORD)');
  return new ControlClient({
    endpoints: values['master.endpoint'] as string[],
    ca: caText(values),
    timeout: Number(values['timeout']),
    auth: { kind: 'basic', username, password },
  });
}

/** Turns refusals of the credentials into messages that say what to check. */
export function explainRefusal(err: unknown): unknown {
  if (!(err instanceof ControlHttpError)) return err;
  if (err.status === 401) {
    return new DcsyncError(
      `authentication failed at ${err.endpoint}: check --auth.user and --auth.password (or DCSYNC_AUTH_PASSWORD); the masters log the user in to this datacenter's PostgreSQL, and it must be a superuser or a member of dcsync_admin`,
      { cause: err },
    );
  }
  if (err.status === 429) return new DcsyncError(`too many failed logins from this address at ${err.endpoint}; wait ${Math.ceil((err.retryAfterMs ?? 1000) / 1000)} s and try again`, { cause: err });
  return err;
}

/** Runs one request against the masters, closing the client afterwards and explaining refusals. */
export async function ask<T>(client: ControlClient, fn: (c: ControlClient) => Promise<T>): Promise<T> {
  try {
    return await fn(client);
  } catch (err) {
    throw explainRefusal(err);
  } finally {
    client.close();
  }
}
