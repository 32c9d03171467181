/** `igloo --help` and `igloo VERB --help`, written from the command tables. */
import { COMMANDS } from './command-table.ts';
import {
  isFamily,
  type CommandSpec,
  type Entry,
  type FamilySpec,
  type OptionSpec,
} from './spec.ts';

const WIDTH = 80;

/** Words of text wrapped to lines of at most `width` characters. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

/** Two columns, the second wrapped and aligned; a long first column gets a line of its own. */
function columns(rows: ReadonlyArray<readonly [string, string]>, indent = '  '): string {
  const width = Math.min(Math.max(...rows.map(([left]) => left.length)), 30);
  const pad = ' '.repeat(indent.length + width + 2);
  const out: string[] = [];
  for (const [left, right] of rows) {
    const text = wrap(right, Math.max(WIDTH - pad.length, 30));
    if (left.length > width) out.push(indent + left, ...text.map((t) => pad + t));
    else
      out.push(
        `${indent}${left.padEnd(width)}  ${text[0] ?? ''}`.trimEnd(),
        ...text.slice(1).map((t) => pad + t),
      );
  }
  return out.join('\n') + '\n';
}

/** How an option reads in help: "-u, --user U", "    --json". */
function optionLabel(long: string, o: OptionSpec): string {
  const flag = o.short !== undefined ? `-${o.short}, --${long}` : `    --${long}`;
  return o.type === 'boolean' ? flag : `${flag} ${o.value ?? 'VALUE'}`;
}

/** A command's one-line usage: "igloo exec NAME [options] -- CMD [ARG...]". */
export function synopsis(spec: CommandSpec | FamilySpec): string {
  if (isFamily(spec))
    return `igloo ${spec.name} ${spec.actions.map((a) => a.name.slice(spec.name.length + 1)).join('|')} ...`;
  const words = [`igloo ${spec.name}`];
  for (const p of spec.positionals) {
    const word = p.choices ? p.choices.join('|') : p.name;
    const many = p.variadic ? `${word}...` : word;
    words.push(p.optional ? `[${many}]` : many);
  }
  if (Object.keys(spec.options).length > 0) words.push('[options]');
  if (spec.command) words.push(spec.command.required ? '-- CMD [ARG...]' : '[-- CMD [ARG...]]');
  return words.join(' ');
}

/** `igloo VERB --help` (a family's: its actions). */
export function commandHelp(entry: Entry): string {
  // Descriptions keep their line breaks; a line too long for the terminal is wrapped.
  const description = entry.description
    .split('\n')
    .flatMap((line) => (line.length > WIDTH ? wrap(line, WIDTH) : [line]));
  const parts = [`Usage: ${synopsis(entry)}\n`, description.join('\n') + '\n'];
  if (isFamily(entry)) {
    parts.push(
      'Actions:\n' + columns(entry.actions.map((a) => [synopsis(a), a.summary])),
      `Run 'igloo ${entry.name} ACTION --help' for an action's options.\n`,
    );
    return parts.join('\n');
  }
  const options: Array<[string, string]> = Object.entries(entry.options).map(([long, o]) => [
    optionLabel(long, o),
    o.help,
  ]);
  options.push(['-h, --help', 'show this help']);
  parts.push('Options:\n' + columns(options));
  if (entry.examples?.length)
    parts.push('Examples:\n' + entry.examples.map((e) => `  ${e}\n`).join(''));
  return parts.join('\n');
}

/** `igloo --help`: every command with its summary. */
export function overview(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  const lines = COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return `Usage: igloo <command> [options]\n\nUnprivileged Linux containers for every user of a shared host.\n\nCommands:\n${lines.join('\n')}\n\nRun 'igloo <command> --help' for a command's options.\n`;
}
