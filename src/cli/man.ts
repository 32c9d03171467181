/**
 * Manual pages, written from the command tables like `--help` (help.ts):
 * igloo(1), which lists every command, and igloo-VERB(1) for each command
 * (a family's page has a section per action). The Debian package installs
 * them (scripts/package-deb.ts); nothing at run time reads this module.
 */
import { COMMANDS } from './command-table.ts';
import { synopsis } from './help.ts';
import { isFamily, type CommandSpec, type Entry, type OptionSpec } from './spec.ts';

/** Text as roff reads it: backslashes and hyphens escaped, no line taken for a request. */
export function roff(text: string): string {
  return text
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .split('\n')
    .map((line) => (/^[.']/.test(line) ? `\\&${line}` : line))
    .join('\n');
}

/** The page's name: igloo-image for the image family, igloo for the overview. */
export function manName(entry: Entry): string {
  return `igloo-${entry.name}`;
}

function header(name: string, date: string, version: string): string {
  return `.TH ${name.toUpperCase().replace(/-/g, '\\-')} 1 "${date}" "igloo ${version}" "igloo manual"\n`;
}

function optionLines(long: string, o: OptionSpec): string {
  const flag =
    o.short !== undefined
      ? `\\fB\\-${o.short}\\fR, \\fB\\-\\-${roff(long)}\\fR`
      : `\\fB\\-\\-${roff(long)}\\fR`;
  const value = o.type === 'boolean' ? '' : ` \\fI${roff(o.value ?? 'VALUE')}\\fR`;
  return `.TP\n${flag}${value}\n${roff(o.help)}\n`;
}

function commandBody(spec: CommandSpec): string {
  let out = `.PP\n\\fB${roff(synopsis(spec))}\\fR\n.PP\n${roff(spec.description)}\n`;
  const options = Object.entries(spec.options);
  if (options.length > 0) {
    out += '.PP\nOptions:\n' + options.map(([long, o]) => optionLines(long, o)).join('');
  }
  if (spec.examples?.length) {
    out +=
      '.PP\nExamples:\n.PP\n.nf\n.RS 4\n' +
      spec.examples.map((e) => roff(e)).join('\n') +
      '\n.RE\n.fi\n';
  }
  return out;
}

/** igloo-VERB(1). */
export function commandPage(entry: Entry, date: string, version: string): string {
  let out = header(manName(entry), date, version);
  out += `.SH NAME\n${roff(manName(entry))} \\- ${roff(entry.summary)}\n`;
  if (isFamily(entry)) {
    out += `.SH SYNOPSIS\n${entry.actions.map((a) => `\\fB${roff(synopsis(a))}\\fR`).join('\n.br\n')}\n`;
    out += `.SH DESCRIPTION\n${roff(entry.description)}\n`;
    for (const action of entry.actions)
      out += `.SH ${roff(action.name.toUpperCase())}\n${commandBody(action)}`;
  } else {
    out += `.SH SYNOPSIS\n\\fB${roff(synopsis(entry))}\\fR\n`;
    out += `.SH DESCRIPTION\n${commandBody(entry).replace(/^\.PP\n\\fB.*\\fR\n/, '')}`;
  }
  out += `.SH SEE ALSO\n\\fBigloo\\fR(1)\n`;
  return out;
}

/** igloo(1): what igloo is, and every command with its page. */
export function overviewPage(date: string, version: string): string {
  let out = header('igloo', date, version);
  out += '.SH NAME\nigloo \\- unprivileged Linux containers for every user of a shared host\n';
  out += '.SH SYNOPSIS\n\\fBigloo\\fR \\fICOMMAND\\fR [\\fIoptions\\fR]\n';
  out += `.SH DESCRIPTION
An administrator delegates subordinate id ranges to users in /etc/subuid and
/etc/subgid (\\fBigloo subid grant\\fR). Each container gets its own slice of
its owner's block, so root inside a container is an unprivileged host id that
no one else shares. \\fBigloo check\\fR says what this host and user can do.
.SH COMMANDS
`;
  for (const c of COMMANDS) out += `.TP\n\\fB${roff(manName(c))}\\fR(1)\n${roff(c.summary)}\n`;
  out += `.SH FILES
.TP
/var/lib/igloo
root's containers and images
.TP
$XDG_DATA_HOME/igloo (~/.local/share/igloo)
a user's containers and images
.TP
/etc/subuid, /etc/subgid
subordinate id delegations
.SH SEE ALSO
\\fBnewuidmap\\fR(1), \\fBsubuid\\fR(5), \\fBuser_namespaces\\fR(7)
`;
  return out;
}

/** Every page: file name (igloo.1, igloo-create.1, ...) to its text. */
export function manPages(date: string, version: string): Map<string, string> {
  const pages = new Map([['igloo.1', overviewPage(date, version)]]);
  for (const c of COMMANDS) pages.set(`${manName(c)}.1`, commandPage(c, date, version));
  return pages;
}
