import { readFileSync } from 'node:fs';
import { DcsyncError, errorMessage, InvalidOptionError } from '../core/errors.ts';
import { dcsyncVersion } from '../core/version.ts';
import { compileFields, envName, type Field } from '../config/fields.ts';
import type { Command } from './command.ts';
import { commands } from './commands/index.ts';
import { consoleOutput, type Output } from './output.ts';
import { parseArgv } from './parse-argv.ts';

const COMMON_FIELDS: readonly Field[] = [
  { key: 'help', type: 'boolean', short: 'h', description: 'Show help for the command' },
  { key: 'config', type: 'string', description: 'A JSON config file with option keys as names (flags and DCSYNC_* variables override it)' },
];

function findCommand(words: readonly string[]): { command: Command; rest: string[] } | undefined {
  let best: Command | undefined;
  for (const c of commands) {
    if (c.path.every((w, i) => words[i] === w) && (!best || c.path.length > best.path.length)) best = c;
  }
  return best ? { command: best, rest: words.slice(best.path.length) } : undefined;
}

function helpText(c: Command): string {
  const lines = [`dcsync ${c.path.join(' ')} — ${c.summary}`, '', 'Options:'];
  for (const f of [...c.fields, ...COMMON_FIELDS]) {
    const def = f.default !== undefined && !f.secret ? ` (default: ${Array.isArray(f.default) ? f.default.join(',') : String(f.default)})` : '';
    lines.push(`  --${f.key}${f.short ? `, -${f.short}` : ''}  ${f.description}${def}${f.required ? ' [required]' : ''}  [${envName(f.key)}]`);
  }
  return lines.join('\n');
}

function overview(): string {
  return ['Usage: dcsync <command> [options]', '       dcsync --version', '', 'Commands:', ...commands.map((c) => `  ${c.path.join(' ').padEnd(28)} ${c.summary}`)].join('\n');
}

/** Runs the CLI; returns the process exit code (0 ok, 1 runtime failure, 2 usage or config error). */
export async function runCli(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  signal: AbortSignal,
  out: Output = consoleOutput(),
  onReload: (fn: () => Promise<void>) => void = () => {},
): Promise<number> {
  const words: string[] = [];
  for (const a of argv) {
    if (a.startsWith('-')) break;
    words.push(a);
  }
  if (words.length === 0 && (argv[0] === '--version' || argv[0] === '-V')) {
    out.line(`dcsync ${dcsyncVersion()}`);
    return 0;
  }
  if (words.length === 0 || words[0] === 'help') {
    out.line(overview());
    return words.length === 0 && !argv.includes('--help') && !argv.includes('-h') ? 2 : 0;
  }
  const found = findCommand(words);
  if (!found || found.rest.length > 0) {
    out.error(`unknown command 'dcsync ${words.join(' ')}'\n\n${overview()}`);
    return 2;
  }
  const { command } = found;
  try {
    const parsed = parseArgv(argv.slice(command.path.length), [...command.fields, ...COMMON_FIELDS]);
    if (parsed.flags['help']) {
      out.line(helpText(command));
      return 0;
    }
    if (parsed.positionals.length > 0) throw new InvalidOptionError(parsed.positionals[0]!, 'is not expected here');
    const configPath = typeof parsed.flags['config'] === 'string' ? parsed.flags['config'] : env['DCSYNC_CONFIG'];
    const file = configPath ? (JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>) : {};
    const values = compileFields(command.fields, parsed.flags, env, file);
    return await command.action(values, { out, signal, env, onReload });
  } catch (err) {
    if (err instanceof InvalidOptionError) {
      out.error(`dcsync ${command.path.join(' ')}: ${err.message}`);
      return 2;
    }
    out.error(`dcsync ${command.path.join(' ')}: ${errorMessage(err)}`);
    if (!(err instanceof DcsyncError) && env['DCSYNC_DEBUG']) out.error(String((err as Error).stack));
    return 1;
  }
}
