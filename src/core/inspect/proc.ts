/**
 * Parsers for the /proc files `igloo ps` and `igloo tree` read. Pure: the
 * scanner (src/inspect/scan.ts) reads the files and passes their bytes in.
 *
 * status and stat are parsed from bytes, not text: the scanner reads a
 * thousand of each into one reused buffer, and decoding them into strings
 * first would make megabytes of garbage for the few fields igloo uses.
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

const NL = 10;
const TAB = 9;
const SPACE = 32;
const COLON = 58;
const ZERO = 48;
const NINE = 57;

const utf8 = new TextDecoder();
const encoder = new TextEncoder();

/** Text of bytes [start, end): a plain loop for ASCII (every comm in practice), else UTF-8. */
function text(b: Uint8Array, start: number, end: number): string {
  let s = '';
  for (let i = start; i < end; i++) {
    const c = b[i]!;
    if (c >= 0x80) return utf8.decode(b.subarray(start, end));
    s += String.fromCharCode(c);
  }
  return s;
}

/** The whitespace-separated unsigned integers in [start, end), or undefined if any is not one. */
function ints(b: Uint8Array, start: number, end: number): number[] | undefined {
  const out: number[] = [];
  let i = start;
  while (i < end) {
    const c = b[i]!;
    if (c === TAB || c === SPACE) {
      i++;
      continue;
    }
    if (c < ZERO || c > NINE) return undefined;
    let n = 0;
    while (i < end && b[i]! >= ZERO && b[i]! <= NINE) n = n * 10 + (b[i++]! - ZERO);
    if (i < end && b[i] !== TAB && b[i] !== SPACE) return undefined;
    out.push(n);
  }
  return out.length > 0 ? out : undefined;
}

/** Whether the line's key (the bytes [start, colon)) is `key`. */
function isKey(b: Uint8Array, start: number, colon: number, key: string): boolean {
  if (colon - start !== key.length) return false;
  for (let k = 0; k < key.length; k++) if (b[start + k] !== key.charCodeAt(k)) return false;
  return true;
}

/**
 * Parse the first `length` bytes of /proc/PID/status. Returns undefined when
 * a field igloo needs (Name, State, PPid, Uid, Gid) is missing or malformed,
 * which only happens for a truncated read of a process that is exiting.
 * Kernels before 4.1 have no NSpid line: then the pid is its own one-level
 * chain. Only the lines igloo uses are decoded; a key written twice counts
 * the last time.
 */
export function parseStatusBytes(
  b: Uint8Array,
  length: number,
  pid: number,
): ProcStatus | undefined {
  let name: string | undefined;
  let state = '';
  let ppid: number[] | undefined;
  let uids: number[] | undefined;
  let gids: number[] | undefined;
  let nspid: number[] | undefined;
  let kthread = false;
  for (let i = 0; i < length;) {
    let end = b.indexOf(NL, i);
    if (end < 0 || end > length) end = length;
    const colon = b.indexOf(COLON, i);
    if (colon > i && colon < end) {
      const v = colon + 1;
      switch (b[i]) {
        case 78: // N
          if (isKey(b, i, colon, 'Name')) {
            // Name may contain spaces and colons; only its leading tab is the separator.
            name = text(b, b[v] === TAB ? v + 1 : v, end);
          } else if (isKey(b, i, colon, 'NSpid')) nspid = ints(b, v, end);
          break;
        case 83: // S
          if (isKey(b, i, colon, 'State')) {
            let s = v;
            while (s < end && (b[s] === TAB || b[s] === SPACE)) s++;
            state = s < end ? String.fromCharCode(b[s]!) : '';
          }
          break;
        case 80: // P
          if (isKey(b, i, colon, 'PPid')) ppid = ints(b, v, end);
          break;
        case 85: // U
          if (isKey(b, i, colon, 'Uid')) uids = ints(b, v, end);
          break;
        case 71: // G
          if (isKey(b, i, colon, 'Gid')) gids = ints(b, v, end);
          break;
        case 75: // K
          if (isKey(b, i, colon, 'Kthread')) kthread = ints(b, v, end)?.[0] === 1;
          break;
      }
    }
    i = end + 1;
  }
  if (name === undefined || !state || ppid?.length !== 1 || uids?.length !== 4) return undefined;
  if (gids?.length !== 4) return undefined;
  return {
    name: name.includes('\\n') ? name.replace(/\\n/g, '\n') : name,
    state,
    ppid: ppid[0] as number,
    uids: uids as [number, number, number, number],
    gids: gids as [number, number, number, number],
    nspid: nspid ?? [pid],
    ...(kthread && { kthread: true as const }),
  };
}

/** parseStatusBytes() of a status text. */
export function parseStatus(statusText: string, pid: number): ProcStatus | undefined {
  const b = encoder.encode(statusText);
  return parseStatusBytes(b, b.length, pid);
}

/**
 * starttime (field 22 of /proc/PID/stat, in clock ticks since boot) from
 * its first `length` bytes, or undefined.
 */
export function statStartTimeBytes(b: Uint8Array, length: number): number | undefined {
  // comm may hold spaces and parentheses: the fields start after the last ')'.
  const close = b.lastIndexOf(41, length - 1);
  if (close < 0) return undefined;
  // After ") " come field 3 (state) onwards: field 22 is the 20th, 19 spaces further.
  let i = close + 2;
  for (let k = 0; k < 19; k++) {
    const space = b.indexOf(SPACE, i);
    if (space < 0 || space >= length) return undefined;
    i = space + 1;
  }
  let n = 0;
  const start = i;
  while (i < length && b[i]! >= ZERO && b[i]! <= NINE) n = n * 10 + (b[i++]! - ZERO);
  if (i === start || (i < length && b[i] !== SPACE && b[i] !== NL)) return undefined;
  return n;
}

/** starttime (field 22 of /proc/PID/stat, in clock ticks since boot), or undefined. */
export function parseStatStartTime(statText: string): number | undefined {
  const b = encoder.encode(statText);
  return statStartTimeBytes(b, b.length);
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
