import type { Fields, Values } from '../config/fields.ts';
import type { Output } from './output.ts';

/**
 * A CLI command is a thin adapter: its flags are declared as fields, and `action` turns the compiled
 * values into a call of the real code. Commands never parse argv themselves.
 */
export interface Command {
  /** Words after `dcsync`, e.g. ['create', 'tls', 'ca']. */
  readonly path: readonly string[];
  readonly summary: string;
  readonly fields: Fields;
  /** Returns the exit code (0 ok, 1 runtime failure). Usage errors are thrown as InvalidOptionError (exit 2). */
  action(values: Values, ctx: CommandContext): Promise<number>;
}

export interface CommandContext {
  readonly out: Output;
  readonly signal: AbortSignal;
  readonly env: NodeJS.ProcessEnv;
  /** Registers what to do on SIGHUP (re-read keyfiles); only the process entry sends it. */
  readonly onReload: (fn: () => Promise<void>) => void;
}
