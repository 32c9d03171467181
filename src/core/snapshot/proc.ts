/**
 * Parsers for the /proc files `igloo ps` and `igloo tree` read (stat's is
 * core/proc-stat.ts, shared with the lifecycle). Pure: the scanner
 * (src/inspect/scan.ts) reads the text and passes it in.
 *
 * Every id and pid in these files is shown by the kernel in the reader's own
 * namespaces: /proc/PID/status gives uids in the user namespace of whoever
 * opened the file and NSpid from the pid namespace of the /proc mount down to
 * the process's own. That is what makes "run inside a container, it shows
 * what the container sees, in its own ids" come for free.
 */

export interface ProcStatus {
  /** The command name (comm), at most 15 characters. */
  readonly name: string;
  /** The state letter: R, S, D, Z, T, I, ... */
  readonly state: string;
  /** The parent's pid in the reader's pid namespace; 0 when the parent is not visible. */
  readonly ppid: number;
  /** Real, effective, saved and filesystem uid, in the reader's ids. */
  readonly uids: readonly [number, number, number, number];
  readonly gids: readonly [number, number, number, number];
  /** The pid at each pid-namespace level, from the reader's down to the process's own. */
  readonly nspid: readonly number[];
  /** Present when the status says "Kthread: 1" (Linux 6.0+): a kernel thread, no argv. */
  readonly kthread?: true;
}

const INT = /^\d+$/;

function ints(value: string | undefined): number[] | undefined {
  if (value === undefined) return undefined;
  const fields = value.trim().split(/\s+/);
  if (fields.length === 0 || !fields.every((f) => INT.test(f))) return undefined;
  return fields.map(Number);
}

/**
 * The status lines igloo uses, in the order every kernel since 4.1 writes
 * them, matched in one pass of the regular-expression engine: a thousand
 * statuses cost a thousand exec() calls instead of tens of thousands of
 * string operations run by a cold interpreter. Anything else (an older
 * kernel, a truncated read) goes through the general parser below.
 */
const STATUS =
  /^Name:\t([^\n]*)\n(?:[^\n]*\n)*?State:\t(\S)[^\n]*\n(?:[^\n]*\n)*?PPid:\t(\d+)\n(?:[^\n]*\n)*?Uid:\t(\d+)\t(\d+)\t(\d+)\t(\d+)\nGid:\t(\d+)\t(\d+)\t(\d+)\t(\d+)\n(?:[^\n]*\n)*?NSpid:\t(\d+(?:\t\d+)*)\n/;

const unescapeName = (name: string): string =>
  name.includes('\\n') ? name.replace(/\\n/g, '\n') : name;

/**
 * Parse /proc/PID/status. Returns undefined when a field igloo needs (Name,
 * State, PPid, Uid, Gid) is missing or malformed, which only happens for a
 * truncated read of a process that is exiting. Kernels before 4.1 have no
 * NSpid line: then the pid is its own one-level chain.
 */
export function parseStatus(text: string, pid: number): ProcStatus | undefined {
  const m = STATUS.exec(text);
  const kthread = text.includes('\nKthread:\t1\n');
  if (m) {
    const nspid = m[12]!;
    return {
      name: unescapeName(m[1]!),
      state: m[2]!,
      ppid: Number(m[3]),
      uids: [Number(m[4]), Number(m[5]), Number(m[6]), Number(m[7])],
      gids: [Number(m[8]), Number(m[9]), Number(m[10]), Number(m[11])],
      nspid: nspid.includes('\t') ? nspid.split('\t').map(Number) : [Number(nspid)],
      ...(kthread && { kthread: true as const }),
    };
  }
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1));
  }
  // Name is the one field that may contain spaces; only its leading tab is the separator.
  const rawName = fields.get('Name');
  const state = fields.get('State')?.trim().charAt(0);
  const ppid = ints(fields.get('PPid'));
  const uids = ints(fields.get('Uid'));
  const gids = ints(fields.get('Gid'));
  if (rawName === undefined || !state || ppid?.length !== 1 || uids?.length !== 4) return undefined;
  if (gids?.length !== 4) return undefined;
  const nspid = ints(fields.get('NSpid')) ?? [pid];
  return {
    name: unescapeName(rawName.replace(/^\t/, '')),
    state,
    ppid: ppid[0] as number,
    uids: uids as [number, number, number, number],
    gids: gids as [number, number, number, number],
    nspid,
    ...(kthread && { kthread: true as const }),
  };
}

/**
 * The command line as `ps` shows it: argv joined by spaces, or "[comm]" for a
 * process with no argv (kernel threads, zombies).
 */
export function formatCommand(cmdline: string, comm: string): string {
  const argv = cmdline.split('\0');
  while (argv.length > 0 && argv[argv.length - 1] === '') argv.pop();
  if (argv.length === 0) return `[${comm}]`;
  return argv.join(' ').replace(/[\n\r\t]/g, ' ');
}

/** The inode in a namespace link's target: "user:[4026531837]" gives 4026531837. */
export function parseNsLink(target: string, kind: string): number | undefined {
  if (!target.startsWith(kind) || !target.startsWith(':[', kind.length) || !target.endsWith(']')) {
    return undefined;
  }
  const digits = target.slice(kind.length + 2, -1);
  return /^\d+$/.test(digits) ? Number(digits) : undefined;
}
