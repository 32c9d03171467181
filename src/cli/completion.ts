/**
 * `igloo completion bash|zsh`: a completion script written from the command
 * tables, so every verb, action and option igloo accepts is offered, and
 * nothing it refuses. Container and image names come from the data
 * directory's containers/ and images/ listings, read by the shell itself
 * (no igloo process per Tab); the directory is found as igloo finds it
 * (IGLOO_DATA_DIR with IGLOO_RUN_DIR, /var/lib/igloo for root, else
 * $XDG_DATA_HOME/igloo or ~/.local/share/igloo).
 */
import { COMMANDS, type completion as completionSpec } from './command-table.ts';
import {
  isFamily,
  type CommandSpec,
  type Completion,
  type Invocation,
  type OptionSpec,
} from './spec.ts';

/** Every command with options (verbs and the actions of families), in table order. */
function commandSpecs(): CommandSpec[] {
  return COMMANDS.flatMap((c) => (isFamily(c) ? [...c.actions] : [c]));
}

const flags = (long: string, o: OptionSpec): string[] =>
  o.short !== undefined ? [`-${o.short}`, `--${long}`] : [`--${long}`];

/** Every flag a command accepts, -h and --help included. */
export function commandFlags(spec: CommandSpec): string[] {
  return [...Object.entries(spec.options).flatMap(([l, o]) => flags(l, o)), '-h', '--help'];
}

const quote = (text: string): string => `'${text.replaceAll("'", "'\\''")}'`;

/** What a value of this kind completes to: a word list or a completer. */
function bashKind(kind: Completion | undefined, choices?: readonly string[]): string {
  if (choices) return `=${choices.join(' ')}`;
  return kind ?? '';
}

const SIGNALS = 'HUP INT QUIT KILL TERM USR1 USR2 CONT STOP PWR';

/** The data directory, as src/lifecycle/paths.ts finds it, in shell. */
const DATA_DIR_SH = `  if [[ -n \${IGLOO_DATA_DIR-} && -n \${IGLOO_RUN_DIR-} ]]; then
    data=$IGLOO_DATA_DIR
  elif [[ $EUID -eq 0 ]]; then
    data=/var/lib/igloo
  else
    data=\${XDG_DATA_HOME:-\${HOME:-/}/.local/share}/igloo
  fi`;

export function bashScript(): string {
  const cases: string[] = [];
  const top = COMMANDS.map((c) => c.name).join(' ');
  cases.push(`    '') subs=${quote(top)} opts='-h --help -V --version' ;;`);
  for (const c of COMMANDS)
    if (isFamily(c))
      cases.push(
        `    ${quote(c.name)}) subs=${quote(c.actions.map((a) => a.name.slice(c.name.length + 1)).join(' '))} opts='-h --help' ;;`,
      );
  for (const spec of commandSpecs()) {
    const valued = Object.entries(spec.options)
      .filter(([, o]) => o.type !== 'boolean')
      .flatMap(([l, o]) => flags(l, o));
    const pos = spec.positionals.map(
      (p) => quote(bashKind(p.complete, p.choices) + (p.variadic ? '...' : '')) || "''",
    );
    cases.push(
      `    ${quote(spec.name)}) opts=${quote(commandFlags(spec).join(' '))} vals=${quote(` ${valued.join(' ')} `)} pos=(${pos.join(' ')}) rest=${spec.command ? 1 : ''} ;;`,
    );
  }
  const values: string[] = [];
  for (const spec of commandSpecs())
    for (const [long, o] of Object.entries(spec.options)) {
      const kind = bashKind(o.complete, o.choices);
      if (o.type !== 'boolean' && kind)
        values.push(
          `    ${flags(long, o)
            .map((f) => quote(`${spec.name}|${f}`))
            .join('|')}) kind=${quote(kind)} ;;`,
        );
    }
  return `# bash completion for igloo (made by: igloo completion bash)
# Load it with: source <(igloo completion bash)

# Sets what KEY (a command: "", "create", "image import") accepts.
_igloo_spec() {
  subs= opts= vals= pos=() rest=
  case $1 in
${cases.join('\n')}
  esac
}

# Names in the data directory's $1/ (containers, images).
_igloo_names() {
  local data d
${DATA_DIR_SH}
  for d in "$data/$1"/*; do
    # an image's directory NAME+TAG is the image NAME:TAG
    d=\${d##*/}
    [[ -d $data/$1/$d ]] && printf '%s\\n' "\${d/+/:}"
  done
}

# Completes $2 as a value of kind $1.
_igloo_complete_kind() {
  case $1 in
    =*) mapfile -t COMPREPLY < <(compgen -W "\${1#=}" -- "$2") ;;
    container) mapfile -t COMPREPLY < <(compgen -W "$(_igloo_names containers)" -- "$2") ;;
    image) mapfile -t COMPREPLY < <(compgen -W "busybox $(_igloo_names images)" -- "$2") ;;
    file | directory)
      compopt -o filenames 2>/dev/null
      mapfile -t COMPREPLY < <(compgen "-\${1::1}" -- "$2")
      ;;
    user) mapfile -t COMPREPLY < <(compgen -u -- "$2") ;;
    signal) mapfile -t COMPREPLY < <(compgen -W ${quote(SIGNALS)} -- "$2") ;;
    command) mapfile -t COMPREPLY < <(compgen -W ${quote(top)} -- "$2") ;;
  esac
}

_igloo() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]}
  local key= subs opts vals pos rest i w n=0 kind= expecting= dashdash=
  COMPREPLY=()
  _igloo_spec ''
  for ((i = 1; i < COMP_CWORD; i++)); do
    w=\${COMP_WORDS[i]}
    if [[ -n $expecting ]]; then expecting=; continue; fi
    if [[ -z $dashdash && $w == -- ]]; then
      [[ -n $rest ]] && return 0 # the command's own arguments
      dashdash=1
      continue
    fi
    if [[ -z $dashdash && $w == -?* ]]; then
      [[ $vals == *" $w "* ]] && expecting=1
      continue
    fi
    if [[ -n $subs ]]; then
      [[ " $subs " == *" $w "* ]] || return 0
      key=\${key:+$key }$w
      _igloo_spec "$key"
      continue
    fi
    n=$((n + 1))
  done
  if [[ -n $expecting ]]; then
    case "$key|$prev" in
${values.join('\n')}
    esac
    _igloo_complete_kind "$kind" "$cur"
    return 0
  fi
  if [[ -z $dashdash && $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    return 0
  fi
  if [[ -n $subs ]]; then
    COMPREPLY=($(compgen -W "$subs" -- "$cur"))
    return 0
  fi
  if ((n < \${#pos[@]})); then
    kind=\${pos[n]}
  elif ((\${#pos[@]} > 0)) && [[ \${pos[-1]} == *... ]]; then
    kind=\${pos[-1]}
  fi
  _igloo_complete_kind "\${kind%...}" "$cur"
}

complete -F _igloo igloo
`;
}

/** Text inside a zsh _arguments spec or _describe item: [ ] : \ escaped. */
const zshText = (text: string): string => text.replace(/([[\]:\\])/g, '\\$1');

/** The zsh action completing a value of this kind. */
function zshAction(kind: Completion | undefined, choices?: readonly string[]): string {
  if (choices) return `(${choices.join(' ')})`;
  switch (kind) {
    case 'container':
      return '_igloo_containers';
    case 'image':
      return '_igloo_images';
    case 'file':
      return '_files';
    case 'directory':
      return '_files -/';
    case 'user':
      return '_users';
    case 'signal':
      return `(${SIGNALS})`;
    case 'command':
      return `(${COMMANDS.map((c) => c.name).join(' ')})`;
    case undefined:
      return ' ';
  }
}

const zshFunction = (name: string): string => `_igloo_${name.replace(/[ -]/g, '_')}`;

/** The _arguments specs of a command: its options, its positionals, its command. */
function zshSpecs(spec: CommandSpec): string[] {
  const specs = [`'(- *)'{-h,--help}'[show this help]'`];
  for (const [long, o] of Object.entries(spec.options)) {
    const all = flags(long, o);
    const exclude = o.multiple ? '*' : `(${all.join(' ')})`;
    const help = `[${zshText(o.help)}]`;
    const value =
      o.type === 'boolean'
        ? ''
        : `:${zshText(o.value ?? 'value')}:${zshAction(o.complete, o.choices)}`;
    for (const f of all) {
      const form = o.type === 'boolean' ? f : f.startsWith('--') ? `${f}=` : `${f}+`;
      specs.push(quote(`${exclude}${form}${help}${value}`));
    }
  }
  for (const p of spec.positionals) {
    const lead = p.variadic ? '*:' : p.optional ? '::' : ':';
    specs.push(quote(`${lead}${p.name}:${zshAction(p.complete, p.choices)}`));
  }
  if (spec.command) specs.push(quote('*:command: '));
  return specs;
}

/** A function that completes one level: a verb (or an action) and what follows. */
function zshDispatch(
  fn: string,
  what: string,
  items: ReadonlyArray<{ word: string; summary: string; fn: string }>,
  extra: string[],
): string {
  return `${fn}() {
  local curcontext=$curcontext state line
  local -a items
  items=(
${items.map((i) => `    ${quote(`${i.word}:${zshText(i.summary)}`)}`).join('\n')}
  )
  _arguments -C ${[`'(- *)'{-h,--help}'[show help]'`, ...extra].join(' ')} '1: :->word' '*:: :->args' && return
  case $state in
    word) _describe -t commands ${quote(what)} items ;;
    args)
      case $words[1] in
${items.map((i) => `        ${quote(i.word)}) ${i.fn} ;;`).join('\n')}
      esac
      ;;
  esac
}
`;
}

export function zshScript(): string {
  const parts = [
    `#compdef igloo
# zsh completion for igloo (made by: igloo completion zsh)
# Install it as _igloo in a directory of $fpath, or load it with: source <(igloo completion zsh)

# Names in the data directory's $1/ (containers, images), into $reply.
_igloo_names() {
  local data
  if [[ -n \${IGLOO_DATA_DIR-} && -n \${IGLOO_RUN_DIR-} ]]; then
    data=$IGLOO_DATA_DIR
  elif (( EUID == 0 )); then
    data=/var/lib/igloo
  else
    data=\${XDG_DATA_HOME:-\${HOME:-/}/.local/share}/igloo
  fi
  reply=( $data/$1/*(N/:t) )
  reply=( \${reply/+/:} )  # an image's directory NAME+TAG is the image NAME:TAG
}

_igloo_containers() {
  local -a reply expl
  _igloo_names containers
  _wanted containers expl container compadd -a reply
}

_igloo_images() {
  local -a reply expl
  _igloo_names images
  reply+=(busybox)
  _wanted images expl image compadd -a reply
}
`,
  ];
  for (const spec of commandSpecs())
    parts.push(
      `${zshFunction(spec.name)}() {\n  _arguments -s -S : \\\n    ${zshSpecs(spec).join(' \\\n    ')}\n}\n`,
    );
  for (const c of COMMANDS)
    if (isFamily(c))
      parts.push(
        zshDispatch(
          zshFunction(c.name),
          `${c.name} action`,
          c.actions.map((a) => ({
            word: a.name.slice(c.name.length + 1),
            summary: a.summary,
            fn: zshFunction(a.name),
          })),
          [],
        ),
      );
  parts.push(
    zshDispatch(
      '_igloo',
      'igloo command',
      COMMANDS.map((c) => ({ word: c.name, summary: c.summary, fn: zshFunction(c.name) })),
      [`'(- *)'{-V,--version}'[show the version]'`],
    ),
    `if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
  _igloo "$@"
else
  compdef _igloo igloo
fi
`,
  );
  return parts.join('\n');
}

/** igloo completion bash|zsh */
export async function printCompletion(
  invocation: Invocation<typeof completionSpec>,
): Promise<number> {
  process.stdout.write(invocation.args.SHELL === 'zsh' ? zshScript() : bashScript());
  return 0;
}
