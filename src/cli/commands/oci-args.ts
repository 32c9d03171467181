/**
 * runc's command line, as engines write it: global flags before the verb,
 * then the verb's flags, then its positionals. Flags may have one or two
 * dashes and take their value as `--flag=V` or `--flag V`; booleans take
 * `=true|false`; parsing stops at the first positional (Go's flag package,
 * which runc uses, does the same: `exec ID sh -c x` keeps `-c` for sh).
 * Pure: the words in, the flags and positionals out, or a usage error.
 */
import { IglooError } from '../../core/errors.ts';

export interface FlagSpec {
  readonly type: 'boolean' | 'string' | 'multiple';
  readonly short?: string;
  readonly help: string;
}

export type FlagTable = Readonly<Record<string, FlagSpec>>;

export interface ParsedArgs {
  readonly flags: Readonly<Record<string, string | boolean | string[]>>;
  readonly positionals: readonly string[];
}

export function usageError(verb: string, what: string): IglooError {
  return new IglooError('EINVAL', `igloo-runc ${verb}: ${what}`, {
    op: verb,
    hint: `igloo-runc ${verb === 'igloo-runc' ? '' : `${verb} `}--help`,
  });
}

/** Reads WORDS through TABLE; with stopAtPositional, everything from the first positional on is positional. */
export function parseRuncArgs(
  verb: string,
  table: FlagTable,
  words: readonly string[],
  stopAtPositional = true,
): ParsedArgs {
  const flags: Record<string, string | boolean | string[]> = {};
  const positionals: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    if (w === '--') {
      positionals.push(...words.slice(i + 1));
      break;
    }
    if (!w.startsWith('-') || w === '-') {
      if (stopAtPositional) {
        positionals.push(...words.slice(i));
        break;
      }
      positionals.push(w);
      continue;
    }
    const body = w.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq < 0 ? body : body.slice(0, eq);
    const inline = eq < 0 ? undefined : body.slice(eq + 1);
    const key = table[name] ? name : Object.keys(table).find((k) => table[k]!.short === name);
    if (key === undefined) throw usageError(verb, `unknown flag "${w}"`);
    const spec = table[key]!;
    if (spec.type === 'boolean') {
      if (inline !== undefined && inline !== 'true' && inline !== 'false')
        throw usageError(verb, `flag --${key} takes true or false, not "${inline}"`);
      flags[key] = inline !== 'false';
      continue;
    }
    let value = inline;
    if (value === undefined) {
      if (i + 1 >= words.length) throw usageError(verb, `flag --${key} needs a value`);
      value = words[++i]!;
    }
    if (spec.type === 'multiple')
      flags[key] = [...((flags[key] as string[] | undefined) ?? []), value];
    else flags[key] = value;
  }
  return { flags, positionals };
}

/** The help of a verb: its usage line and one line per flag. */
export function flagHelp(usage: string, table: FlagTable): string {
  const lines = [`usage: igloo-runc ${usage}`, ''];
  for (const [name, spec] of Object.entries(table)) {
    const value = spec.type === 'boolean' ? '' : ' VALUE';
    lines.push(`  ${spec.short ? `-${spec.short}, ` : ''}--${name}${value}`.padEnd(34) + spec.help);
  }
  return `${lines.join('\n')}\n`;
}
