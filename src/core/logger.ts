/**
 * Structured, namespaced logging. Library code logs through a Logger, never the console.
 * Messages are constant strings; what varies goes into the metadata object.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogMeta = Record<string, unknown>;

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, meta?: LogMeta): void;
  info(msg: string, meta?: LogMeta): void;
  warn(msg: string, meta?: LogMeta): void;
  error(msg: string, meta?: LogMeta): void;
  child(bindings: LogMeta): Logger;
}

export type LogSink = (line: string) => void;

/** Keys whose values must never reach a log line. */
const SECRET_KEY = /pass(word)?|secret|token|key$|authorization|private/i;

function redact(meta: LogMeta): LogMeta {
  const out: LogMeta = {};
  for (const [k, v] of Object.entries(meta)) {
    if (SECRET_KEY.test(k) && typeof v === 'string') out[k] = '[redacted]';
    else if (v instanceof Error) out[k] = { name: v.name, message: v.message, ...(v.cause instanceof Error ? { cause: v.cause.message } : {}) };
    else if (typeof v === 'bigint') out[k] = v.toString();
    else out[k] = v;
  }
  return out;
}

export function createLogger(opts: { level?: LogLevel; sink?: LogSink; bindings?: LogMeta } = {}): Logger {
  const min = LEVELS[opts.level ?? 'info'];
  const sink: LogSink = opts.sink ?? ((line) => process.stderr.write(line + '\n'));
  const bindings = opts.bindings ?? {};
  const write = (level: LogLevel, msg: string, meta?: LogMeta): void => {
    if (LEVELS[level] < min) return;
    sink(JSON.stringify({ time: new Date().toISOString(), level, msg, ...redact(bindings), ...(meta ? redact(meta) : {}) }));
  };
  return {
    debug: (m, meta) => write('debug', m, meta),
    info: (m, meta) => write('info', m, meta),
    warn: (m, meta) => write('warn', m, meta),
    error: (m, meta) => write('error', m, meta),
    child: (b) => createLogger({ level: opts.level ?? 'info', sink, bindings: { ...bindings, ...b } }),
  };
}

export const silentLogger: Logger = createLogger({ sink: () => {} });
