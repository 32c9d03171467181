/**
 * Reads /proc for `igloo ps` and `igloo tree`: one pass over the process
 * directories with a cap on parallel reads, no child processes.
 *
 * Racing with the processes it reads is normal: a process that exits between
 * readdir and its last read (ENOENT, ESRCH, an empty status) is skipped. A
 * process the kernel will not let us inspect (EACCES/EPERM on ns/* or
 * cmdline, typically another user's process or one guarded by ptrace rules)
 * is kept with what /proc/PID/status tells everyone, and the fields that
 * could not be read are listed in `restricted`.
 */
import { constants } from 'node:fs';
import { lstat, open, readdir, readFile, readlink } from 'node:fs/promises';
import { parseProcIdMap, type IdMapEntry } from '../core/idmap/index.ts';
import type { ProcSample, UsernsSample, ViewSample } from '../core/inspect/model.ts';
import {
  formatCommand,
  parseNsLink,
  parseStatStartTime,
  parseStatus,
} from '../core/inspect/proc.ts';
import { parsePasswd, type PasswdEntry } from '../core/passwd.ts';
import { parseSubid } from '../core/idmap/index.ts';
import { errnoOf } from '../host/errno.ts';
import { readTextOrEmpty } from '../host/files.ts';
import { subidPaths } from '../host/subid.ts';
import { readPasswd } from '../host/users.ts';

export interface ScanOptions {
  /** The proc mount to read (default /proc). */
  proc?: string;
  /** Parallel reads at most (default 32). */
  concurrency?: number;
}

/** Gone: the process exited while we read it. */
const GONE = new Set(['ENOENT', 'ESRCH']);
const DENIED = new Set(['EACCES', 'EPERM']);

/** Runs `fn` over `items` with at most `limit` in flight; keeps the order. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}

type Read<T> = { ok: true; value: T } | { ok: false; gone: boolean };

async function attempt<T>(fn: () => Promise<T>): Promise<Read<T>> {
  try {
    return { ok: true, value: await fn() };
  } catch (err) {
    const code = errnoOf(err);
    if (code !== undefined && (GONE.has(code) || DENIED.has(code) || code === 'EINVAL')) {
      return { ok: false, gone: GONE.has(code) };
    }
    throw err;
  }
}

/** One process, or undefined when it is gone. */
export async function readProcess(proc: string, pid: number): Promise<ProcSample | undefined> {
  const dir = `${proc}/${pid}`;
  const [status, stat, cmdline, userns, pidns] = await Promise.all([
    attempt(() => readFile(`${dir}/status`, 'utf8')),
    attempt(() => readFile(`${dir}/stat`, 'utf8')),
    attempt(() => readFile(`${dir}/cmdline`, 'utf8')),
    attempt(() => readlink(`${dir}/ns/user`)),
    attempt(() => readlink(`${dir}/ns/pid`)),
  ]);
  if (!status.ok) return undefined;
  const parsed = parseStatus(status.value, pid);
  if (parsed === undefined) return undefined;
  // Any read that found the process gone means it exited mid-scan: skip it whole.
  if ([stat, cmdline, userns, pidns].some((r) => !r.ok && r.gone)) return undefined;
  const restricted: string[] = [];
  if (!cmdline.ok) restricted.push('cmdline');
  if (!userns.ok) restricted.push('ns/user');
  if (!pidns.ok) restricted.push('ns/pid');
  return {
    pid,
    ppid: parsed.ppid,
    comm: parsed.name,
    state: parsed.state,
    command: formatCommand(cmdline.ok ? cmdline.value : '', parsed.name),
    uid: parsed.uids[1],
    gid: parsed.gids[1],
    nspid: parsed.nspid,
    startTime: stat.ok ? (parseStatStartTime(stat.value) ?? null) : null,
    userns: userns.ok ? (parseNsLink(userns.value, 'user') ?? null) : null,
    pidns: pidns.ok ? (parseNsLink(pidns.value, 'pid') ?? null) : null,
    restricted,
  };
}

/** Every process in `proc` that still exists when read. */
export async function scanProcesses(opts: ScanOptions = {}): Promise<ProcSample[]> {
  const proc = opts.proc ?? '/proc';
  const pids = (await readdir(proc))
    .filter((e) => /^\d+$/.test(e))
    .map(Number)
    .sort((a, b) => a - b);
  const samples = await mapLimit(pids, opts.concurrency ?? 32, (pid) => readProcess(proc, pid));
  return samples.filter((s): s is ProcSample => s !== undefined);
}

async function readMap(path: string): Promise<IdMapEntry[] | null> {
  const r = await attempt(() => readFile(path, 'utf8'));
  if (!r.ok) return null;
  try {
    // An ancestor's map read from below shows 4294967295 for ids the reader cannot name.
    return parseProcIdMap(r.value, { path });
  } catch {
    return null;
  }
}

const PASSWD_LIMIT = 1 << 20;

/**
 * A container's own /etc/passwd, read through /proc/PID/root without
 * following a symlink the container controls: /etc must be a real
 * directory and passwd a regular file opened with O_NOFOLLOW (an absolute
 * symlink would otherwise resolve against the reader's root, on the host).
 */
export async function readPasswdUnder(root: string): Promise<PasswdEntry[] | null> {
  try {
    const etc = await lstat(`${root}/etc`);
    if (!etc.isDirectory()) return null;
    const fh = await open(`${root}/etc/passwd`, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      const st = await fh.stat();
      if (!st.isFile() || st.size > PASSWD_LIMIT) return null;
      return parsePasswd(await fh.readFile('utf8'));
    } finally {
      await fh.close();
    }
  } catch {
    return null;
  }
}

/**
 * The maps and passwd of each user namespace, read through its processes
 * (oldest first) until one answers.
 */
export async function readNamespaces(
  processes: readonly ProcSample[],
  viewNs: number | null,
  opts: ScanOptions = {},
): Promise<UsernsSample[]> {
  const proc = opts.proc ?? '/proc';
  const byNs = new Map<number, ProcSample[]>();
  for (const p of processes) {
    if (p.userns === null || p.userns === viewNs) continue;
    const list = byNs.get(p.userns) ?? [];
    list.push(p);
    byNs.set(p.userns, list);
  }
  return mapLimit([...byNs.entries()], opts.concurrency ?? 32, async ([userns, members]) => {
    members.sort((a, b) => (a.startTime ?? Infinity) - (b.startTime ?? Infinity) || a.pid - b.pid);
    let uidMap: IdMapEntry[] | null = null;
    let gidMap: IdMapEntry[] | null = null;
    let passwd: PasswdEntry[] | null = null;
    for (const p of members) {
      const dir = `${proc}/${p.pid}`;
      const haveUid: boolean = uidMap !== null;
      const haveGid: boolean = gidMap !== null;
      const havePasswd: boolean = passwd !== null;
      const [u, g, pw]: [IdMapEntry[] | null, IdMapEntry[] | null, PasswdEntry[] | null] =
        await Promise.all([
          haveUid ? null : readMap(`${dir}/uid_map`),
          haveGid ? null : readMap(`${dir}/gid_map`),
          havePasswd ? null : readPasswdUnder(`${dir}/root`),
        ]);
      // Keep what was read only if the process is still in that namespace (not a reused pid).
      const still = await attempt(() => readlink(`${dir}/ns/user`));
      if (!still.ok || parseNsLink(still.value, 'user') !== userns) continue;
      uidMap ??= u;
      gidMap ??= g;
      passwd ??= pw;
      if (uidMap && gidMap && passwd) break;
    }
    return { userns, uidMap, gidMap, passwd };
  });
}

/** Who is looking: this process's namespaces, maps, /etc/passwd and subid files. */
export async function readView(opts: ScanOptions = {}): Promise<ViewSample> {
  const proc = opts.proc ?? '/proc';
  const link = async (kind: string) => {
    const r = await attempt(() => readlink(`${proc}/self/ns/${kind}`));
    return r.ok ? (parseNsLink(r.value, kind) ?? null) : null;
  };
  const paths = subidPaths();
  const [userns, pidns, uidMap, gidMap, passwd, subuid, subgid] = await Promise.all([
    link('user'),
    link('pid'),
    readMap(`${proc}/self/uid_map`),
    readMap(`${proc}/self/gid_map`),
    readPasswd(),
    readTextOrEmpty(paths.uid).catch(() => ''),
    readTextOrEmpty(paths.gid).catch(() => ''),
  ]);
  return {
    userns,
    pidns,
    uidMap,
    gidMap,
    passwd,
    subuid: parseSubid(subuid).entries,
    subgid: parseSubid(subgid).entries,
  };
}
