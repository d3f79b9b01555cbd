import { InvalidOptionError } from '../core/errors.ts';
import { parseEndpoint } from '../control/client.ts';

/** Validators shared by the daemons' option compilers; errors name the option's key. */
export function requiredOption(key: string, v: string | undefined): string {
  if (typeof v !== 'string' || v.trim() === '') throw new InvalidOptionError(key, 'is required');
  return v;
}

/** An https endpoint (host and port, no credentials or path), with the error naming `key`. */
export function endpointOption(key: string, v: string): string {
  try {
    return parseEndpoint(v);
  } catch (err) {
    if (err instanceof InvalidOptionError) throw new InvalidOptionError(key, err.message.replace(/^'endpoint' /, ''));
    throw err;
  }
}
