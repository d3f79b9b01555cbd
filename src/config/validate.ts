import { InvalidOptionError } from '../core/errors.ts';

/** Validators shared by the daemons' option compilers; errors name the option's key. */
export function requiredOption(key: string, v: string | undefined): string {
  if (typeof v !== 'string' || v.trim() === '') throw new InvalidOptionError(key, 'is required');
  return v;
}

/**
 * Checks an endpoint and returns its canonical form 'https://host:port'. Only https; no user name or
 * password in the URL (they would end up in error messages), no path.
 */
export function parseEndpoint(endpoint: string): string {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new InvalidOptionError('endpoint', `'${endpoint}' is not a URL such as https://master-1.example:8629`);
  }
  if (url.protocol !== 'https:') throw new InvalidOptionError('endpoint', `'${url.protocol}//${url.host}' must use https`);
  if (url.username !== '' || url.password !== '') throw new InvalidOptionError('endpoint', 'must not contain credentials (use the auth options)');
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '') {
    throw new InvalidOptionError('endpoint', `'${url.origin}' must not have a path, query or fragment`);
  }
  return url.origin;
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

export function portOption(key: string, port: number): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new InvalidOptionError(key, 'must be an integer from 1 to 65535');
  return port;
}

/** A daemon's id: host:port of its public endpoint, so a restarted master or worker keeps its row. */
export function daemonIdOf(serverEndpoint: string): string {
  return new URL(serverEndpoint).host;
}
