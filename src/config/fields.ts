import { InvalidOptionError } from '../core/errors.ts';
import { parseDuration } from '../core/time.ts';

/**
 * Each option is declared once: its key (also the CLI flag), type, default, environment variable and
 * description. Flags, `--help` text, environment variables and config files all go through this.
 * Precedence: flag > environment (DCSYNC_<KEY>) > config file > default.
 */
export type FieldType = 'string' | 'string[]' | 'boolean' | 'number' | 'duration';

export interface Field<T extends FieldType = FieldType> {
  readonly key: string;
  readonly type: T;
  readonly description: string;
  readonly default?: FieldValue<T>;
  readonly required?: boolean;
  /** Secrets are never echoed in errors or `--help` defaults. */
  readonly secret?: boolean;
  /** One-letter alias, e.g. 'v' for --verbose. */
  readonly short?: string;
  readonly choices?: readonly string[];
}

export type FieldValue<T extends FieldType> = T extends 'string'
  ? string
  : T extends 'string[]'
    ? string[]
    : T extends 'boolean'
      ? boolean
      : number;

export type Fields = readonly Field[];

/** The compiled values of a field list, keyed by field key. */
export type Values = Record<string, string | string[] | boolean | number | undefined>;

export function envName(key: string): string {
  return 'DCSYNC_' + key.replace(/[.-]/g, '_').replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase();
}

export function convert(field: Field, raw: string | boolean | string[], source: string): string | string[] | boolean | number {
  const bad = (why: string): never => {
    throw new InvalidOptionError(field.key, `${why} (from ${source})`);
  };
  switch (field.type) {
    case 'boolean': {
      if (typeof raw === 'boolean') return raw;
      const s = String(raw).toLowerCase();
      if (['true', '1', 'yes', 'on', ''].includes(s)) return true;
      if (['false', '0', 'no', 'off'].includes(s)) return false;
      return bad('must be true or false');
    }
    case 'string[]': {
      const list = Array.isArray(raw) ? raw : String(raw).split(',');
      return list.flatMap((s) => s.split(',')).map((s) => s.trim()).filter((s) => s !== '');
    }
    case 'number': {
      const n = Number(Array.isArray(raw) ? raw.at(-1) : raw);
      if (!Number.isFinite(n)) bad('must be a number');
      return n;
    }
    case 'duration': {
      try {
        return parseDuration(String(Array.isArray(raw) ? raw.at(-1) : raw));
      } catch {
        return bad("must be a duration such as '500ms', '10s', '5m', '2y'");
      }
    }
    case 'string': {
      const s = Array.isArray(raw) ? raw.at(-1) : raw;
      if (typeof s !== 'string') return bad('needs a value');
      if (field.choices && !field.choices.includes(s)) bad(`must be one of ${field.choices.join(', ')}`);
      return s;
    }
  }
}

/**
 * Compiles values from the sources in precedence order. `flags` come from the command line (already split
 * by the parser), `env` is the process environment, `file` the parsed config file (flat keys).
 */
export function compileFields(
  fields: Fields,
  flags: Record<string, string | boolean | string[]>,
  env: NodeJS.ProcessEnv = {},
  file: Record<string, unknown> = {},
): Values {
  const out: Values = {};
  for (const f of fields) {
    let value: string | string[] | boolean | number | undefined;
    const e = env[envName(f.key)];
    const fv = file[f.key];
    if (flags[f.key] !== undefined) value = convert(f, flags[f.key]!, `--${f.key}`);
    else if (e !== undefined) value = convert(f, e, envName(f.key));
    else if (fv !== undefined && fv !== null) {
      const raw = Array.isArray(fv) ? fv.map(String) : typeof fv === 'boolean' ? fv : String(fv);
      value = convert(f, raw, 'config file');
    } else value = f.default as typeof value;
    if (value === undefined && f.required) throw new InvalidOptionError(f.key, `is required (--${f.key} or ${envName(f.key)})`);
    out[f.key] = value;
  }
  return out;
}
