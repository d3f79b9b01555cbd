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
  /**
   * A destructive switch (--force): taken from the command line only. Set in the environment or a config file it is
   * refused with a usage error, so that a forgotten DCSYNC_FORCE=1 never overwrites anything silently.
   */
  readonly commandLineOnly?: boolean;
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

/** How an option is written on the command line, for messages: '--cluster.endpoint'. */
export function flagName(key: string): string {
  return `--${key}`;
}

/** Several options are wrong at once (every missing required flag, every bad value): one error listing them all. */
export class InvalidOptionsError extends InvalidOptionError {
  constructor(readonly problems: readonly InvalidOptionError[]) {
    super(problems[0]!.key, '');
    this.message = problems.length === 1 ? problems[0]!.message : `${problems.length} problems with the options:\n  ${problems.map((p) => p.message).join('\n  ')}`;
  }
}

/** A duration in milliseconds as the shortest text parseDuration reads back: 10000 → '10s', 1500 → '1500ms'. */
export function formatDuration(ms: number): string {
  const units: [string, number][] = [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1_000]];
  for (const [unit, size] of units) if (ms !== 0 && ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

export function envName(key: string): string {
  return 'DCSYNC_' + key.replace(/[.-]/g, '_').replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase();
}

export function convert(field: Field, raw: string | boolean | string[], source: string): string | string[] | boolean | number {
  const bad = (why: string): never => {
    throw new InvalidOptionError(flagName(field.key), source === flagName(field.key) ? why : `${why} (from ${source})`);
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
 * by the parser), `env` is the process environment, `file` the parsed config file (flat keys). Every problem
 * (each missing required option, each bad value) is collected and thrown as one InvalidOptionsError.
 */
export function compileFields(
  fields: Fields,
  flags: Record<string, string | boolean | string[]>,
  env: NodeJS.ProcessEnv = {},
  file: Record<string, unknown> = {},
): Values {
  const out: Values = {};
  const problems: InvalidOptionError[] = [];
  for (const f of fields) {
    try {
      out[f.key] = compileField(f, flags, env, file);
    } catch (err) {
      if (!(err instanceof InvalidOptionError)) throw err;
      problems.push(err);
    }
  }
  if (problems.length > 0) throw new InvalidOptionsError(problems);
  return out;
}

function compileField(f: Field, flags: Record<string, string | boolean | string[]>, env: NodeJS.ProcessEnv, file: Record<string, unknown>): Values[string] {
  let value: Values[string];
  const e = env[envName(f.key)];
  const fv = file[f.key];
  if (f.commandLineOnly && flags[f.key] === undefined) {
    if (e !== undefined) throw new InvalidOptionError(flagName(f.key), `is taken from the command line only; unset ${envName(f.key)}`);
    if (fv !== undefined) throw new InvalidOptionError(flagName(f.key), `is taken from the command line only; remove '${f.key}' from the config file`);
  }
  if (flags[f.key] !== undefined) value = convert(f, flags[f.key]!, flagName(f.key));
  else if (e !== undefined) value = convert(f, e, envName(f.key));
  else if (fv !== undefined && fv !== null) {
    const raw = Array.isArray(fv) ? fv.map(String) : typeof fv === 'boolean' ? fv : String(fv);
    value = convert(f, raw, 'config file');
  } else value = f.default as typeof value;
  if (value === undefined && f.required) throw new InvalidOptionError(flagName(f.key), `is required (or ${envName(f.key)})`);
  return value;
}
