/**
 * Where a command's words go. Results go to stdout: JSON alone with `--json` (so scripts can pipe
 * it), text otherwise. Notes, progress and errors go to stderr, never mixed with results.
 */

export interface Writer {
  write(text: string): unknown;
}

export interface Terminal {
  readonly stdout: Writer;
  readonly stderr: Writer;
  readonly stdoutIsTty: boolean;
  readonly stderrIsTty: boolean;
  /** Width of the terminal, when it is one. */
  readonly columns?: number;
}

export class Output {
  constructor(
    readonly terminal: Terminal,
    readonly json: boolean,
  ) {}

  /** The command's result: `value` as JSON with --json, else `text` (lines). */
  result(value: unknown, text: () => string | readonly string[]): void {
    if (this.json) {
      this.terminal.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
      return;
    }
    const lines = text();
    const body = typeof lines === 'string' ? lines : lines.join('\n');
    if (body) this.terminal.stdout.write(`${body}\n`);
  }

  /** A note for the person (stderr). */
  note(line: string): void {
    this.terminal.stderr.write(`${line}\n`);
  }
}

/** Left-aligned columns, two spaces apart; the last column is not padded. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((row) => (row[i] ?? '').length)));
  return all.map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}

/** `1536` → `1.5 KiB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}
