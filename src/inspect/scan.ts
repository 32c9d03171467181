/**
 * Reads /proc for `igloo ps` and `igloo tree`: one synchronous pass over the
 * process directories, no child processes, no promises.
 *
 * Per process it reads what the columns need and no more: status (name,
 * state, parent, uids, gids, NSpid), stat (the start time), cmdline (not for
 * kernel threads and zombies, whose command line is empty by definition)
 * and the user-namespace link, then the pid-namespace link unless the first
 * was refused (the kernel guards both with the same check), and not even
 * that for a process at the proc mount's own pid-namespace level. Each file
 * is one readFileSync (open, read, close in Node's binding) parsed by one
 * regular expression; the id maps and /etc/passwd are read once per user
 * namespace, not per process (docs/benchmarks.md has where the time goes).
 *
 * Racing with the processes it reads is normal: a process that exits between
 * readdir and its last read (ENOENT, ESRCH, an empty status) is skipped. A
 * process the kernel will not let us inspect (EACCES/EPERM on ns/* or
 * cmdline, typically another user's process or one guarded by ptrace rules)
 * is kept with what /proc/PID/status tells everyone, and the fields that
 * could not be read are listed in `restricted`.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { readFileBeneath } from '../host/beneath.ts';
import { parseProcIdMap, parseSubid, type IdMapEntry } from '../core/idmap/index.ts';
import type { ProcSample, UsernsSample, ViewSample } from '../core/snapshot/model.ts';
import { formatCommand, parseNsLink, parseStatus } from '../core/snapshot/proc.ts';
import { parseProcStat } from '../core/proc-stat.ts';
import { parsePasswd, type PasswdEntry } from '../core/passwd.ts';
import { subidPathsFor } from '../core/layout.ts';

export interface ScanOptions {
  /** The proc mount to read (default /proc). */
  proc?: string;
}

/** The errno code of a failed fs call. */
function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Gone: the process exited while we read it. */
const isGone = (code: string | undefined) => code === 'ENOENT' || code === 'ESRCH';
/** Not ours to read (or not a link any more): kept, marked restricted. */
const isDenied = (code: string | undefined) =>
  code === 'EACCES' || code === 'EPERM' || code === 'EINVAL';

/**
 * What a failed read means: undefined when the process is gone, null when
 * the kernel refused. Other errors are thrown.
 */
function failure(err: unknown): null | undefined {
  const code = codeOf(err);
  if (isGone(code)) return undefined;
  if (isDenied(code)) return null;
  throw err;
}

const UTF8 = { encoding: 'utf8' } as const;

/** A file's text; null when it may not be read, undefined when the process is gone. */
function readText(path: string): string | null | undefined {
  try {
    return readFileSync(path, UTF8);
  } catch (err) {
    return failure(err);
  }
}

/** The inode of a namespace link; null when it may not be read, undefined when gone. */
function readNs(path: string, kind: string): number | null | undefined {
  try {
    return parseNsLink(readlinkSync(path), kind) ?? null;
  } catch (err) {
    return failure(err);
  }
}

/** The `restricted` of every fully readable process (one shared, frozen list). */
const NOTHING: readonly string[] = Object.freeze([]);

/**
 * What one scan has learnt so far: the pid namespace of the proc mount,
 * once a process at its level (NSpid of length 1) has shown its link.
 */
export interface ScanState {
  mountPidns?: number;
}

/** One process, or undefined when it is gone. */
export function readProcess(
  proc: string,
  pid: number,
  state: ScanState = {},
): ProcSample | undefined {
  const dir = `${proc}/${pid}`;
  const status = readText(`${dir}/status`);
  if (!status) return undefined;
  const parsed = parseStatus(status, pid);
  if (parsed === undefined) return undefined;
  const stat = readText(`${dir}/stat`);
  const startTime = stat ? (parseProcStat(stat)?.startTime ?? null) : null;
  // Kernel threads and zombies have no memory, so no command line: ps shows "[comm]".
  const noArgv = parsed.kthread === true || parsed.state === 'Z' || parsed.state === 'X';
  const cmdline = noArgv ? '' : readText(`${dir}/cmdline`);
  const userns = readNs(`${dir}/ns/user`, 'user');
  // Every ns link is guarded by the same ptrace check: refused for one, refused for all.
  // A process whose NSpid has one level lives in the proc mount's own pid namespace
  // (it cannot leave it), so after the first such link the others need no readlink.
  let pidns: number | null | undefined = null;
  if (userns !== null) {
    const atMountLevel = parsed.nspid.length === 1;
    if (atMountLevel && state.mountPidns !== undefined) pidns = state.mountPidns;
    else {
      pidns = readNs(`${dir}/ns/pid`, 'pid');
      if (atMountLevel && typeof pidns === 'number') state.mountPidns = pidns;
    }
  }
  // Any read that found the process gone means it exited mid-scan: skip it whole.
  if (stat === undefined || cmdline === undefined || userns === undefined) return undefined;
  if (pidns === undefined) return undefined;
  let restricted: readonly string[] = NOTHING;
  if (cmdline === null || userns === null || pidns === null) {
    const list: string[] = [];
    if (cmdline === null) list.push('cmdline');
    if (userns === null) list.push('ns/user');
    if (pidns === null) list.push('ns/pid');
    restricted = list;
  }
  return {
    pid,
    ppid: parsed.ppid,
    comm: parsed.name,
    state: parsed.state,
    command: formatCommand(cmdline ?? '', parsed.name),
    uid: parsed.uids[1],
    gid: parsed.gids[1],
    nspid: parsed.nspid,
    startTime,
    userns,
    pidns,
    restricted,
  };
}

/** The numeric entries of a proc directory, in increasing order. */
function pidsIn(proc: string): number[] {
  const pids: number[] = [];
  for (const e of readdirSync(proc)) {
    const c = e.charCodeAt(0);
    if (c >= 48 && c <= 57 && /^\d+$/.test(e)) pids.push(Number(e));
  }
  return pids.sort((a, b) => a - b);
}

/** Every process in `proc` that still exists when read, by increasing pid. */
export function scanProcesses(opts: ScanOptions = {}): ProcSample[] {
  const proc = opts.proc ?? '/proc';
  const out: ProcSample[] = [];
  // Refused and vanished reads are expected here (another user's processes): their
  // errors are caught at once, so skip the stack trace each one would capture.
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    const state: ScanState = {};
    for (const pid of pidsIn(proc)) {
      const s = readProcess(proc, pid, state);
      if (s !== undefined) out.push(s);
    }
  } finally {
    Error.stackTraceLimit = limit;
  }
  return out;
}

function readMap(path: string): IdMapEntry[] | null {
  const text = readText(path);
  if (typeof text !== 'string') return null;
  try {
    // An ancestor's map read from below shows 4294967295 for ids the reader cannot name.
    return parseProcIdMap(text, { path });
  } catch {
    return null;
  }
}

const PASSWD_LIMIT = 1 << 20;

/**
 * A container's own /etc/passwd, read through /proc/PID/root without
 * following a link out of it: the path is walked beneath that root
 * (host/beneath.ts; an absolute link would otherwise resolve against the
 * reader's root, on the host, and a link could be swapped in between a
 * check and the open), and passwd must be a regular file of at most 1 MiB.
 */
export function readPasswdUnder(root: string): PasswdEntry[] | null {
  try {
    return parsePasswd(
      readFileBeneath(root, 'etc/passwd', { maxBytes: PASSWD_LIMIT }).toString('utf8'),
    );
  } catch {
    return null;
  }
}

/**
 * The maps and passwd of each user namespace, read through its processes
 * (oldest first) until one answers.
 */
export function readNamespaces(
  processes: readonly ProcSample[],
  viewNs: number | null,
  opts: ScanOptions = {},
): UsernsSample[] {
  const proc = opts.proc ?? '/proc';
  const byNs = new Map<number, ProcSample[]>();
  for (const p of processes) {
    if (p.userns === null || p.userns === viewNs) continue;
    const list = byNs.get(p.userns);
    if (list) list.push(p);
    else byNs.set(p.userns, [p]);
  }
  const out: UsernsSample[] = [];
  for (const [userns, members] of byNs) {
    members.sort((a, b) => (a.startTime ?? Infinity) - (b.startTime ?? Infinity) || a.pid - b.pid);
    let uidMap: IdMapEntry[] | null = null;
    let gidMap: IdMapEntry[] | null = null;
    let passwd: PasswdEntry[] | null = null;
    for (const p of members) {
      const dir = `${proc}/${p.pid}`;
      const u: IdMapEntry[] | null = uidMap === null ? readMap(`${dir}/uid_map`) : null;
      const g: IdMapEntry[] | null = gidMap === null ? readMap(`${dir}/gid_map`) : null;
      const pw: PasswdEntry[] | null = passwd === null ? readPasswdUnder(`${dir}/root`) : null;
      // Keep what was read only if the process is still in that namespace (not a reused pid).
      if (readNs(`${dir}/ns/user`, 'user') !== userns) continue;
      uidMap ??= u;
      gidMap ??= g;
      passwd ??= pw;
      if (uidMap && gidMap && passwd) break;
    }
    out.push({ userns, uidMap, gidMap, passwd });
  }
  return out;
}

/** A text file; a missing or unreadable one reads as empty text (no names, no blocks). */
function textOrEmpty(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** Who is looking: this process's namespaces, maps, /etc/passwd and subid files. */
export function readView(opts: ScanOptions = {}): ViewSample {
  const proc = opts.proc ?? '/proc';
  const link = (kind: string) => readNs(`${proc}/self/ns/${kind}`, kind) ?? null;
  const subid = subidPathsFor(process.env);
  return {
    userns: link('user'),
    pidns: link('pid'),
    uidMap: readMap(`${proc}/self/uid_map`),
    gidMap: readMap(`${proc}/self/gid_map`),
    passwd: parsePasswd(textOrEmpty('/etc/passwd')),
    subuid: parseSubid(textOrEmpty(subid.uid)).entries,
    subgid: parseSubid(textOrEmpty(subid.gid)).entries,
  };
}
