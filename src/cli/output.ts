/** The only place that writes for humans (stdout) and prints errors (stderr). */
export interface Output {
  line(text: string): void;
  json(value: unknown): void;
  table(rows: readonly Record<string, string | number | boolean | null | undefined>[], columns?: readonly string[]): void;
  error(text: string): void;
  /**
   * One frame of a display that refreshes (`get status --watch`): on a terminal it replaces the previous frame in
   * place; otherwise (a pipe, a file) it is printed after the previous one, followed by an empty line, without ANSI.
   */
  frame(lines: readonly string[]): void;
  /** The refreshing display ends: the cursor is shown again below the last frame. */
  endFrames(): void;
}

type Cell = string | number | boolean | null | undefined;

/** A table as text lines: a header of upper-cased column names, columns padded to their widest cell. */
export function formatTable(rows: readonly Record<string, Cell>[], columns?: readonly string[]): string[] {
  const cols = columns ?? [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cell = (v: unknown): string => (v === null || v === undefined ? '-' : String(v));
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const fmt = (vals: string[]): string => vals.map((v, i) => v.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [fmt(cols.map((c) => c.toUpperCase())), ...rows.map((r) => fmt(cols.map((c) => cell(r[c]))))];
}

const CSI = '\x1b[';

/**
 * What replaces the previous frame on a terminal: the cursor goes up over the rows it drew and clears them. Lines
 * are cut to the terminal's width, so each takes exactly one row and the count stays right.
 */
export function redrawSequence(previousRows: number, lines: readonly string[], columns: number | undefined): { text: string; rows: number } {
  const width = columns !== undefined && columns > 1 ? columns - 1 : undefined;
  const cut = width === undefined ? lines : lines.map((l) => ([...l].length > width ? [...l].slice(0, width - 1).join('') + '…' : l));
  const up = previousRows > 0 ? `${CSI}${previousRows}F` : '';
  return { text: `${up}${CSI}J${cut.join('\n')}\n`, rows: cut.length };
}

export function consoleOutput(stdout: NodeJS.WritableStream = process.stdout, stderr: NodeJS.WritableStream = process.stderr): Output {
  const tty = stdout as NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  let rows = 0;
  let framing = false;
  return {
    line: (text) => void stdout.write(text + '\n'),
    json: (value) => void stdout.write(JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2) + '\n'),
    table(rows, columns) {
      for (const l of formatTable(rows, columns)) stdout.write(l + '\n');
    },
    error: (text) => void stderr.write(text + '\n'),
    frame(lines) {
      if (tty.isTTY !== true) {
        stdout.write(lines.join('\n') + '\n\n');
        return;
      }
      if (!framing) stdout.write(`${CSI}?25l`); // no cursor blinking over the frame
      framing = true;
      const r = redrawSequence(rows, lines, tty.columns);
      rows = r.rows;
      stdout.write(r.text);
    },
    endFrames() {
      if (framing) stdout.write(`${CSI}?25h`);
      framing = false;
      rows = 0;
    },
  };
}
