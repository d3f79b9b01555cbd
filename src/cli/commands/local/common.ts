import type { Field, Values } from '../../../config/fields.ts';
import { InvalidOptionError } from '../../../core/errors.ts';

/** The deployment's directory, shared by every `dcsync local …` command. */
export const DIR_FIELD: Field = { key: 'dir', type: 'string', required: true, description: 'Directory of the local deployment (state in DIR/local.json, logs in DIR/logs)' };

export function dirOf(values: Values): string {
  const dir = values['dir'];
  if (typeof dir !== 'string' || dir === '') throw new InvalidOptionError('dir', 'is required');
  return dir;
}
