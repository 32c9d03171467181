/**
 * The shape of a command's table (src/cli/command-table.ts): what it is
 * called, what it takes, what it says about itself. The parser (parse.ts),
 * the help (help.ts) and the shell completion (completion.ts) all read it,
 * so a flag is declared once and appears in all three.
 *
 * Types only: this module costs nothing at start-up.
 */

/** What the shell offers for a value: a container or image name, a path... */
export type Completion =
  'container' | 'image' | 'file' | 'directory' | 'user' | 'signal' | 'command';

export interface OptionSpec {
  /** number: a whole number, checked and converted by the parser. */
  readonly type: 'boolean' | 'string' | 'number';
  readonly short?: string;
  /** The value's placeholder in help and usage ("N", "busybox|NAME|PATH"). */
  readonly value?: string;
  readonly help: string;
  /** May be given more than once; the values come as an array. */
  readonly multiple?: boolean;
  /** The only values accepted (checked by the parser). */
  readonly choices?: readonly string[];
  readonly complete?: Completion;
}

export interface PositionalSpec {
  readonly name: string;
  readonly optional?: boolean;
  /** Takes every remaining argument (an array; none is allowed when optional). */
  readonly variadic?: boolean;
  readonly choices?: readonly string[];
  readonly complete?: Completion;
}

/** A verb ("create") or a family's action ("image import"). */
export interface CommandSpec {
  /** The words after `igloo`: "create", "image import". */
  readonly name: string;
  readonly summary: string;
  /** Paragraphs shown by --help under the usage line. */
  readonly description: string;
  readonly positionals: readonly PositionalSpec[];
  readonly options: { readonly [long: string]: OptionSpec };
  /**
   * A command to run, after `--`: everything past the first `--` is passed
   * on untouched (its own flags are never parsed). required: exec needs
   * one; run may take the image's.
   */
  readonly command?: { readonly required: boolean };
  readonly examples?: readonly string[];
}

/** A verb whose first argument names an action: `igloo image ls|import|rm|build`. */
export interface FamilySpec {
  readonly name: string;
  readonly summary: string;
  readonly description: string;
  readonly actions: readonly CommandSpec[];
}

export type Entry = CommandSpec | FamilySpec;

export const isFamily = (entry: Entry): entry is FamilySpec => 'actions' in entry;

type OptionValue<O extends OptionSpec> = O['multiple'] extends true
  ? string[]
  : O['type'] extends 'boolean'
    ? boolean
    : O['type'] extends 'number'
      ? number
      : O['choices'] extends readonly (infer C)[]
        ? C
        : string;

type PositionalValue<P extends PositionalSpec> = P['variadic'] extends true
  ? string[]
  : P['optional'] extends true
    ? string | undefined
    : string;

/** The options a command was given, typed from its table. */
export type OptionValues<S extends CommandSpec> = {
  -readonly [K in keyof S['options']]?: OptionValue<S['options'][K]>;
};

/** The positionals a command was given, by their names in its table. */
export type PositionalValues<S extends CommandSpec> = {
  [P in S['positionals'][number] as P['name']]: PositionalValue<P>;
};

/** A parsed command line: what an implementation receives. */
export interface Invocation<S extends CommandSpec = CommandSpec> {
  readonly spec: S;
  readonly options: OptionValues<S>;
  readonly args: PositionalValues<S>;
  /** What came after `--` (commands with a `command` entry only). */
  readonly command: string[];
}

/** A command's implementation: loaded only when that command runs. */
export type CommandRunner<S extends CommandSpec = CommandSpec> = (
  invocation: Invocation<S>,
) => Promise<number>;
