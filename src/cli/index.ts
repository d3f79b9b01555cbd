import { readFileSync } from 'node:fs';
import { DcsyncError, errorMessage, InvalidOptionError } from '../core/errors.ts';
import { dcsyncVersion } from '../core/version.ts';
import { compileFields, envName, flagName, formatDuration, type Field, type Fields, type Values } from '../config/fields.ts';
import type { Command } from './command.ts';
import { commands } from './commands/index.ts';
import { consoleOutput, type Output } from './output.ts';
import { parseArgv } from './parse-argv.ts';
import { PASSWORD_FILE_FIELD, resolvePassword, ttyPrompt, type Prompt } from './password.ts';

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

/** The command's fields plus --auth.password-file where it takes --auth.password. */
function fieldsOf(c: Command): Fields {
  const extra = c.fields.some((f) => f.key === 'auth.password') && !c.fields.some((f) => f.key === PASSWORD_FILE_FIELD.key) ? [PASSWORD_FILE_FIELD] : [];
  return [...c.fields, ...extra];
}

const PLACEHOLDER: Record<Field['type'], string> = { string: ' <value>', 'string[]': ' <value,…>', number: ' <n>', duration: ' <duration>', boolean: '' };

function defaultText(f: Field): string {
  if (f.default === undefined || f.secret) return '';
  if (f.type === 'duration' && typeof f.default === 'number') return ` (default: ${formatDuration(f.default)})`;
  return ` (default: ${Array.isArray(f.default) ? f.default.join(',') : String(f.default)})`;
}

export function helpText(c: Command): string {
  const lines = [`dcsync ${c.path.join(' ')} — ${c.summary}`, '', 'Options:'];
  for (const f of [...fieldsOf(c), ...COMMON_FIELDS]) {
    const env = f.commandLineOnly ? 'command line only' : envName(f.key);
    lines.push(`  ${flagName(f.key)}${PLACEHOLDER[f.type]}${f.short ? `, -${f.short}` : ''}  ${f.description}${defaultText(f)}${f.required ? ' [required]' : ''}  [${env}]`);
  }
  lines.push('', "Durations: a number and a unit, e.g. '500ms', '10s', '5m', '2h'.");
  return lines.join('\n');
}

/** An option compiler's error names the option by key ('mq.kafka-addr'); the operator typed '--mq.kafka-addr'. */
function withFlagName(err: InvalidOptionError, fields: Fields): string {
  const prefix = `'${err.key}' `;
  if (!err.key.startsWith('-') && fields.some((f) => f.key === err.key) && err.message.startsWith(prefix)) {
    return `'${flagName(err.key)}' ${err.message.slice(prefix.length)}`;
  }
  return err.message;
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
  prompt: Prompt | undefined = ttyPrompt(),
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
    const fields = fieldsOf(command);
    const parsed = parseArgv(argv.slice(command.path.length), [...fields, ...COMMON_FIELDS]);
    if (parsed.flags['help']) {
      out.line(helpText(command));
      return 0;
    }
    if (parsed.positionals.length > 0) throw new InvalidOptionError(parsed.positionals[0]!, 'is not expected here');
    const configPath = typeof parsed.flags['config'] === 'string' ? parsed.flags['config'] : env['DCSYNC_CONFIG'];
    const file = configPath ? (JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>) : {};
    const values: Values = compileFields(fields, parsed.flags, env, file);
    await resolvePassword(values, prompt);
    return await command.action(values, { out, signal, env, onReload });
  } catch (err) {
    if (err instanceof InvalidOptionError) {
      out.error(`dcsync ${command.path.join(' ')}: ${withFlagName(err, fieldsOf(command))}`);
      return 2;
    }
    out.error(`dcsync ${command.path.join(' ')}: ${errorMessage(err)}`);
    if (!(err instanceof DcsyncError) && env['DCSYNC_DEBUG']) out.error(String((err as Error).stack));
    return 1;
  }
}
