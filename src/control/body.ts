/**
 * Request (and response) bodies: JSON only, size-limited, depth-limited, and without the keys that could
 * reach an object's prototype when the value is later merged or spread. Errors never quote the body (it may
 * hold a password): the messages name only the limit or the position.
 */
import { HttpError, badRequest } from './errors.ts';

export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
export const DEFAULT_MAX_JSON_DEPTH = 32;
/** Keys refused anywhere in a body: they could reach Object.prototype after a merge or spread. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

export interface JsonLimits {
  /** Nesting of objects and arrays; a scalar is depth 0, `{}` depth 1. */
  readonly maxDepth: number;
}

/**
 * Checks a Content-Type header: `application/json`, optionally with `charset=utf-8`. Anything else is 415.
 */
export function checkJsonContentType(header: string | undefined): void {
  const unsupported = (): HttpError => new HttpError(415, 'unsupported-media-type', "request bodies must be 'application/json'");
  if (header === undefined) throw unsupported();
  const [type, ...params] = header.split(';');
  if (type?.trim().toLowerCase() !== 'application/json') throw unsupported();
  for (const p of params) {
    const eq = p.indexOf('=');
    const name = (eq < 0 ? p : p.slice(0, eq)).trim().toLowerCase();
    const value = eq < 0 ? '' : p.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1').toLowerCase();
    if (name === 'charset' && value !== 'utf-8' && value !== 'utf8') throw unsupported();
  }
}

/**
 * The maximum nesting depth of JSON text, counted without parsing (brackets inside strings do not count).
 * Stops counting and returns as soon as `stopAbove` is exceeded, so a megabyte of '[' costs one pass.
 */
export function jsonDepth(text: string, stopAbove = Infinity): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* \ */) i++;
      else if (c === 0x22 /* " */) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      depth++;
      if (depth > max) {
        max = depth;
        if (max > stopAbove) return max;
      }
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) depth--;
  }
  return max;
}

/** The first forbidden key in a parsed JSON value (iterative: the depth was already bounded). */
export function findForbiddenKey(value: unknown): string | undefined {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v !== 'object' || v === null) continue;
    if (Array.isArray(v)) {
      for (const item of v) stack.push(item);
      continue;
    }
    for (const k of Object.keys(v)) {
      if (FORBIDDEN_KEYS.has(k)) return k;
      stack.push((v as Record<string, unknown>)[k]);
    }
  }
  return undefined;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Parses a JSON body: valid UTF-8, valid JSON, nesting within the limit, no forbidden keys. Throws
 * HttpError 400 naming what is wrong (never quoting the body).
 */
export function parseJsonBody(bytes: Uint8Array, limits: JsonLimits): unknown {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw badRequest('the request body is not valid UTF-8');
  }
  if (text.trim() === '') throw badRequest('the request body is empty');
  if (jsonDepth(text, limits.maxDepth) > limits.maxDepth) throw badRequest(`the request body is nested deeper than ${limits.maxDepth} levels`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // V8's message quotes the text around the error; the body may hold a password, so it is not passed on.
    throw badRequest('the request body is not valid JSON');
  }
  const key = findForbiddenKey(value);
  if (key !== undefined) throw badRequest(`the key '${key}' is not allowed in a request body`);
  return value;
}

/** What readBodyBytes needs of a request: Node's IncomingMessage, or any Readable in tests. */
export interface ByteSource {
  on(event: 'data', listener: (chunk: Buffer | string) => void): unknown;
  on(event: 'end' | 'close', listener: () => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  removeListener(event: string, listener: (...args: never[]) => void): unknown;
}

/**
 * Reads a request body into one buffer, refusing with 413 once more than `maxBytes` arrived, or at once
 * when the declared Content-Length is already larger. On refusal it stops listening and leaves the stream
 * as it is, so the caller can answer 413 and discard the rest (destroying the stream would reset the
 * connection before the answer is sent).
 */
export function readBodyBytes(stream: ByteSource, opts: { maxBytes: number; declaredLength?: number }): Promise<Buffer> {
  const tooLarge = (): HttpError => new HttpError(413, 'payload-too-large', `the request body is larger than ${opts.maxBytes} bytes`);
  if (opts.declaredLength !== undefined && opts.declaredLength > opts.maxBytes) return Promise.reject(tooLarge());
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const finish = (err: Error | undefined): void => {
      stream.removeListener('data', onData);
      stream.removeListener('end', onEnd);
      stream.removeListener('close', onClose);
      stream.removeListener('error', onError);
      if (err) reject(err);
      else resolve(Buffer.concat(chunks, total));
    };
    const onData = (chunk: Buffer | string): void => {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      total += buf.length;
      if (total > opts.maxBytes) finish(tooLarge());
      else chunks.push(buf);
    };
    const onEnd = (): void => finish(undefined);
    const onClose = (): void => finish(badRequest('the request body ended early'));
    const onError = (): void => finish(badRequest('the request body could not be read'));
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('close', onClose);
    stream.on('error', onError);
  });
}
