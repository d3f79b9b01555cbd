/** The only place that writes for humans (stdout) and prints errors (stderr). */
export interface Output {
  line(text: string): void;
  json(value: unknown): void;
  table(rows: readonly Record<string, string | number | boolean | null | undefined>[], columns?: readonly string[]): void;
  error(text: string): void;
}

export function consoleOutput(stdout: NodeJS.WritableStream = process.stdout, stderr: NodeJS.WritableStream = process.stderr): Output {
  return {
    line: (text) => void stdout.write(text + '\n'),
    json: (value) => void stdout.write(JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2) + '\n'),
    table(rows, columns) {
      const cols = columns ?? [...new Set(rows.flatMap((r) => Object.keys(r)))];
      const cell = (v: unknown): string => (v === null || v === undefined ? '-' : String(v));
      const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
      const fmt = (vals: string[]): string => vals.map((v, i) => v.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
      stdout.write(fmt(cols.map((c) => c.toUpperCase())) + '\n');
      for (const r of rows) stdout.write(fmt(cols.map((c) => cell(r[c]))) + '\n');
    },
    error: (text) => void stderr.write(text + '\n'),
  };
}
