/** Output helpers shared by the commands: tables, JSON, colour, errors. */
import { IglooError } from '../core/errors.ts';

const useColour = (stream: NodeJS.WriteStream): boolean =>
  stream.isTTY === true && !process.env.NO_COLOR && process.env.TERM !== 'dumb';

export function paint(
  code: 'red' | 'yellow' | 'green' | 'dim' | 'bold',
  text: string,
  stream = process.stdout,
): string {
  if (!useColour(stream)) return text;
  const codes = { red: 31, yellow: 33, green: 32, dim: 2, bold: 1 } as const;
  return `\x1b[${codes[code]}m${text}\x1b[0m`;
}

/** An aligned table; the last column is not padded. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [paint('bold', line(headers)), ...rows.map(line)].join('\n') + '\n';
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

/** A command's result: as JSON with --json, else as its line(s) of text. */
export function printResult(json: boolean | undefined, value: unknown, text: string): void {
  if (json) printJson(value);
  else process.stdout.write(text + '\n');
}

/** Prints an error (as JSON with --json) and returns the exit status. */
export function printError(err: unknown, json: boolean): number {
  if (err instanceof IglooError) {
    if (json) printJson({ error: err.toJSON() });
    else {
      process.stderr.write(`igloo: ${err.message}\n`);
      if (err.hint) process.stderr.write(`  hint: ${err.hint}\n`);
    }
    return err.code === 'EINVAL' ? 2 : 1;
  }
  const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
  process.stderr.write(
    `igloo: internal error: ${message}\n  hint: this is a bug in igloo; please report it\n`,
  );
  return 70;
}
