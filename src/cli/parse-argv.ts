import { InvalidOptionError } from '../core/errors.ts';
import type { Fields } from '../config/fields.ts';

export interface ParsedArgs {
  flags: Record<string, string | boolean | string[]>;
  positionals: string[];
}

/**
 * Splits argv into flags and positionals against a field list: `--key=value`, `--key value`,
 * `--flag` / `--flag=false` for booleans, `-v` short aliases, repeatable `string[]` flags.
 * An unknown flag is a usage error.
 */
export function parseArgv(argv: readonly string[], fields: Fields): ParsedArgs {
  const flags: Record<string, string | boolean | string[]> = {};
  const positionals: string[] = [];
  const byKey = new Map(fields.map((f) => [f.key, f]));
  const byShort = new Map(fields.filter((f) => f.short).map((f) => [f.short!, f]));
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    let key: string;
    let inline: string | undefined;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      key = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
      inline = eq >= 0 ? arg.slice(eq + 1) : undefined;
    } else if (/^-[A-Za-z]$/.test(arg)) {
      const f = byShort.get(arg.slice(1));
      if (!f) throw new InvalidOptionError(arg, 'is not a known flag');
      key = f.key;
    } else {
      positionals.push(arg);
      continue;
    }
    const field = byKey.get(key);
    if (!field) throw new InvalidOptionError(`--${key}`, 'is not a known flag (see --help)');
    let value: string | boolean;
    if (field.type === 'boolean') value = inline ?? true;
    else if (inline !== undefined) value = inline;
    else {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith('--') && next.length > 2)) throw new InvalidOptionError(`--${key}`, 'needs a value');
      value = next;
      i++;
    }
    if (field.type === 'string[]') {
      const prev = flags[key];
      flags[key] = [...(Array.isArray(prev) ? prev : []), String(value)];
    } else flags[key] = value;
  }
  return { flags, positionals };
}
