/**
 * A command line, read through its command's table (command-table.ts) with
 * node:util parseArgs. Usage errors are IglooErrors with code EINVAL (exit
 * status 2) that name the command and point at its --help.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { IglooError } from '../core/errors.ts';
import { synopsis } from './help.ts';
import {
  isFamily,
  type CommandSpec,
  type Entry,
  type FamilySpec,
  type Invocation,
} from './spec.ts';

/** What to do: run a command, or print a command's (or a family's) help. */
export type ParsedCommandLine =
  | { readonly kind: 'run'; readonly invocation: Invocation }
  | { readonly kind: 'help'; readonly entry: Entry; readonly status: number };

/** A usage error of a command (exit status 2), pointing at its help. */
export function usageError(spec: CommandSpec | FamilySpec, message: string): IglooError {
  return new IglooError('EINVAL', `${spec.name}: ${message}`, {
    op: spec.name,
    hint: `Usage: ${synopsis(spec)} (igloo ${spec.name} --help for more)`,
  });
}

const isHelpFlag = (arg: string | undefined): boolean => arg === '--help' || arg === '-h';

/** Reads `igloo VERB ARGS...` (and `igloo FAMILY ACTION ARGS...`) for the verb's table. */
export function parseCommandLine(entry: Entry, args: readonly string[]): ParsedCommandLine {
  if (!isFamily(entry)) return parseCommand(entry, args);
  const [word, ...rest] = args;
  // `igloo image` alone prints the family's help and fails; --help succeeds.
  if (word === undefined || word.startsWith('-'))
    return { kind: 'help', entry, status: isHelpFlag(word) ? 0 : 2 };
  const action = entry.actions.find((a) => a.name === `${entry.name} ${word}`);
  if (!action)
    throw new IglooError('EINVAL', `${entry.name}: unknown action "${word}"`, {
      op: entry.name,
      hint: `Use ${actionWords(entry)} (igloo ${entry.name} --help for more)`,
    });
  return parseCommand(action, rest);
}

/** The words of a family's actions: "ls, import, rm or build". */
export function actionWords(family: FamilySpec): string {
  const words = family.actions.map((a) => a.name.slice(family.name.length + 1));
  return words.length > 1 ? `${words.slice(0, -1).join(', ')} or ${words.at(-1)}` : words.join('');
}

/** parseArgs's option table for a command, with -h/--help. */
function parseArgsOptions(spec: CommandSpec): NonNullable<ParseArgsConfig['options']> {
  const options: NonNullable<ParseArgsConfig['options']> = {
    help: { type: 'boolean', short: 'h' },
  };
  for (const [long, o] of Object.entries(spec.options)) {
    options[long] = {
      type: o.type === 'boolean' ? 'boolean' : 'string',
      ...(o.short !== undefined && { short: o.short }),
      ...(o.multiple === true && { multiple: true }),
    };
  }
  return options;
}

/** parseArgs's message, made to name the command (its first sentence only). */
function parseArgsMessage(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const unknown = /^Unknown option '([^']*)'/.exec(message);
  if (unknown) return `Unknown option '${unknown[1]}'`;
  return message.replace(/\. .*$/s, '');
}

function parseCommand(spec: CommandSpec, args: readonly string[]): ParsedCommandLine {
  // A command's own flags are never parsed: everything after the first -- is its.
  const cut = spec.command ? args.indexOf('--') : -1;
  const own = cut < 0 ? [...args] : args.slice(0, cut);
  const command = cut < 0 ? [] : args.slice(cut + 1);
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: own,
      options: parseArgsOptions(spec),
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    throw usageError(spec, parseArgsMessage(err));
  }
  if (parsed.values.help === true) return { kind: 'help', entry: spec, status: 0 };

  const options: Record<string, unknown> = {};
  for (const [long, o] of Object.entries(spec.options)) {
    const value = parsed.values[long];
    if (value === undefined) continue;
    if (o.type === 'number') {
      if (typeof value !== 'string' || !/^\d+$/.test(value))
        throw usageError(spec, `--${long} must be a whole number, not "${String(value)}"`);
      options[long] = Number(value);
      continue;
    }
    if (o.choices && typeof value === 'string' && !o.choices.includes(value))
      throw usageError(spec, `--${long} must be ${o.choices.join(' or ')}, not "${value}"`);
    options[long] = value;
  }

  const given = parsed.positionals;
  const named: Record<string, string | string[] | undefined> = {};
  let i = 0;
  for (const p of spec.positionals) {
    if (p.variadic) {
      named[p.name] = given.slice(i);
      if (!p.optional && given.length <= i) throw usageError(spec, `missing ${p.name}`);
      i = given.length;
      continue;
    }
    const value = given[i];
    if (value === undefined) {
      if (!p.optional) throw usageError(spec, `missing ${p.name}`);
    } else if (p.choices && !p.choices.includes(value)) {
      throw usageError(
        spec,
        `unknown ${p.name.toLowerCase()} "${value}" (${p.choices.join(' or ')})`,
      );
    } else i++;
    named[p.name] = value;
  }
  if (i < given.length)
    throw usageError(
      spec,
      `unexpected argument "${given[i]}"${spec.command ? ' (put the command after --)' : ''}`,
    );
  if (spec.command?.required && command.length === 0)
    throw usageError(spec, 'no command given after --');
  return {
    kind: 'run',
    invocation: { spec, options, args: named, command } as unknown as Invocation,
  };
}
