/**
 * The operator's password (--auth.password) without putting it on the command line: from a file
 * (--auth.password-file, its first line) or, on a terminal, from a prompt that does not echo. DCSYNC_AUTH_PASSWORD
 * still works and wins over both, as any option's variable does.
 */
import { readFileSync } from 'node:fs';
import { InvalidOptionError } from '../core/errors.ts';
import type { Field, Values } from '../config/fields.ts';

export const PASSWORD_FILE_FIELD: Field = {
  key: 'auth.password-file',
  type: 'string',
  description: 'File holding the password of --auth.user (its first line); else DCSYNC_AUTH_PASSWORD, else a prompt on a terminal',
};

/** Asks for a secret; undefined when there is no terminal to ask on. */
export type Prompt = (question: string) => Promise<string>;

/** Fills values['auth.password'] from --auth.password-file or the prompt when the command takes a user and none was given. */
export async function resolvePassword(values: Values, prompt: Prompt | undefined): Promise<void> {
  if (!('auth.password' in values) || typeof values['auth.password'] === 'string') return;
  const file = values['auth.password-file'];
  if (typeof file === 'string') {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new InvalidOptionError('--auth.password-file', `cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    const line = text.split(/\r?\n/)[0] ?? '';
    if (line === '') throw new InvalidOptionError('--auth.password-file', `'${file}' is empty`);
    values['auth.password'] = line;
    return;
  }
  if (prompt && typeof values['auth.user'] === 'string') values['auth.password'] = await prompt(`Password of ${values['auth.user']}: `);
}

/** A prompt on the controlling terminal (stdin and stderr both TTYs), without echo; undefined otherwise. */
export function ttyPrompt(stdin: NodeJS.ReadStream = process.stdin, stderr: NodeJS.WriteStream = process.stderr): Prompt | undefined {
  if (!stdin.isTTY || !stderr.isTTY) return undefined;
  return (question) =>
    new Promise((resolve, reject) => {
      stderr.write(question);
      stdin.setRawMode(true);
      stdin.resume();
      let typed = '';
      const done = (err?: Error): void => {
        stdin.setRawMode(false);
        stdin.pause();
        stdin.off('data', onData);
        stderr.write('\n');
        if (err) reject(err);
        else resolve(typed);
      };
      const onData = (chunk: Buffer): void => {
        for (const ch of chunk.toString('utf8')) {
          if (ch === '\r' || ch === '\n') return done();
          if (ch === '\u0003') return done(new InvalidOptionError('--auth.password', 'was not entered (interrupted)'));
          if (ch === '\u007f' || ch === '\b') typed = typed.slice(0, -1);
          else typed += ch;
        }
      };
      stdin.on('data', onData);
    });
}
