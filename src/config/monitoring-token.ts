/**
 * The monitoring token of a master or worker (--monitoring.token or --monitoring.token-file): the bearer token that
 * Prometheus sends to /metrics. Without one the monitoring routes stay off (404).
 */
import { readFileSync } from 'node:fs';
import { InvalidOptionError } from '../core/errors.ts';

/** RFC 6750 token68 characters, as the server's Authorization parser reads them. */
const TOKEN = /^[A-Za-z0-9._~+/-]+=*$/;
const MIN_CHARS = 16;
const MAX_CHARS = 4096;

/**
 * The token from `token` or, else, the first line of `tokenFile`; undefined when neither is given. Both at once is an
 * error: which one wins would be a guess. The message never quotes the token.
 */
export function resolveMonitoringToken(token: string | undefined, tokenFile: string | undefined): string | undefined {
  const hasToken = token !== undefined && token !== '';
  const hasFile = tokenFile !== undefined && tokenFile !== '';
  if (hasToken && hasFile) throw new InvalidOptionError('monitoring.token', 'and --monitoring.token-file are both set; keep one');
  let value: string;
  let key: string;
  if (hasFile) {
    key = 'monitoring.token-file';
    try {
      value = (readFileSync(tokenFile, 'utf8').split(/\r?\n/)[0] ?? '').trim();
    } catch (err) {
      throw new InvalidOptionError(key, `cannot be read: ${(err as NodeJS.ErrnoException).code ?? 'error'} (${tokenFile})`);
    }
  } else if (hasToken) {
    key = 'monitoring.token';
    value = token.trim();
  } else {
    return undefined;
  }
  if (value.length < MIN_CHARS || value.length > MAX_CHARS) throw new InvalidOptionError(key, `must hold a token of ${MIN_CHARS} to ${MAX_CHARS} characters (e.g. 'openssl rand -hex 32')`);
  if (!TOKEN.test(value)) throw new InvalidOptionError(key, "must hold a token of letters, digits and '-._~+/' only (e.g. 'openssl rand -hex 32')");
  return value;
}
