import { InvalidOptionError } from '../../../core/errors.ts';
import type { Field, Values } from '../../../config/fields.ts';
import type { Output } from '../../output.ts';
import { DEFAULT_KEY_TYPE, KEY_TYPES, type CertificateInfo, type KeyType } from '../../../tls/index.ts';

/** Fields shared by the `create …` commands. */
export function validForField(defaultText: string): Field {
  // No `default` here: the help would print it in milliseconds. The tls module applies the default.
  return { key: 'validfor', type: 'duration', description: `How long the certificate is valid, e.g. '15y', '2y', '90d' (default ${defaultText})` };
}

export const KEY_TYPE_FIELD: Field = {
  key: 'key-type',
  type: 'string',
  description: `Key algorithm of the new key: ${KEY_TYPES.join(', ')}`,
  choices: KEY_TYPES,
  default: DEFAULT_KEY_TYPE,
};

export const FORCE_FIELD: Field = { key: 'force', type: 'boolean', description: 'Overwrite files that already exist', default: false, commandLineOnly: true };

export function str(values: Values, key: string): string {
  const v = values[key];
  if (typeof v !== 'string' || v === '') throw new InvalidOptionError(key, 'is required');
  return v;
}

export function optionalNumber(values: Values, key: string): number | undefined {
  const v = values[key];
  return typeof v === 'number' ? v : undefined;
}

export function keyType(values: Values): KeyType {
  return (values['key-type'] as KeyType | undefined) ?? DEFAULT_KEY_TYPE;
}

export function describeLines(out: Output, info: CertificateInfo): void {
  out.line(`  subject:  ${info.subject}`);
  if (info.hosts.length > 0) out.line(`  hosts:    ${info.hosts.join(', ')}`);
  out.line(`  valid:    ${info.notBefore.toISOString()} until ${info.notAfter.toISOString()}`);
  out.line(`  serial:   ${info.serialNumber}`);
  out.line(`  sha256:   ${info.fingerprint256}`);
}
