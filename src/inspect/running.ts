/**
 * Which of igloo's containers are running, and the namespaces of their init,
 * so that a process can be matched to its container by pid namespace.
 *
 * A user sees their own containers (the directories igloo would use for
 * them, including IGLOO_DATA_DIR). Root with `all` also scans every passwd
 * user's default data directory (~/.local/share/igloo; /var/lib/igloo for
 * root). Directories that do not exist or cannot be read are skipped.
 *
 * This reads each container's state.json directly (not through the
 * lifecycle's Igloo class, whose module graph costs `igloo ps` more than the
 * scan itself) and checks the recorded init against the scan of /proc that
 * `igloo ps` made anyway: a container is running while a process with the
 * recorded pid and start time exists and is not a zombie, which is the
 * lifecycle's own rule (liveState, processAlive).
 */
import { closeSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseProcIdMap, type SubidEntry } from '../core/idmap/index.ts';
import type { BrokenContainer, KnownContainer, ProcSample } from '../core/snapshot/model.ts';
import type { PasswdEntry } from '../core/passwd.ts';
import {
  containersDir,
  containersWalk,
  defaultDirsOf,
  iglooDirsFor,
  STATE_FILE,
} from '../core/layout.ts';
import { fdPath, openDirAt, openDirsDown, openRoot, readdirFd } from '../host/beneath.ts';
import { readUntrustedText, refusalReason } from '../host/untrusted.ts';

export interface DiscoverOptions {
  /** Every user's containers (root only: others' directories are private). */
  all?: boolean;
}

interface Owner {
  readonly name: string;
  readonly uid: number;
}

/** What discovery needs of a state.json (src/lifecycle/store.ts StateFile). */
interface RecordedInit {
  readonly status?: unknown;
  readonly pid?: unknown;
  readonly pidStart?: unknown;
}

/** state.json is a few hundred bytes; more is not igloo's. */
const STATE_MAX = 64 * 1024;

const isMissing = (err: unknown) =>
  (err as { code?: unknown } | null)?.code === 'ENOENT' ||
  (err as { errno?: unknown } | null)?.errno === 'ENOENT';

/**
 * The directory TOP/REL, opened without following a link below `top` (a
 * user's home, or the caller's own containers directory), or undefined
 * when it does not exist. A link or a non-directory on the way is reported.
 */
function openContainersDir(
  top: string,
  rel: string,
  owner: Owner,
  broken: BrokenContainer[],
): number | undefined {
  let fd: number;
  try {
    fd = openRoot(top, 'list containers in');
  } catch {
    return undefined; // no home, or not readable: nothing to find
  }
  try {
    return openDirsDown(fd, top, rel, 'list containers in');
  } catch (err) {
    if (!isMissing(err)) {
      const path = (err as { path?: string }).path ?? join(top, rel);
      broken.push({
        owner: owner.name,
        uid: owner.uid,
        name: null,
        path,
        reason: refusalReason(err),
      });
    }
    return undefined;
  }
}

/**
 * Whether pid's user namespace can be the container's: not the view's own
 * (a state.json may name any process, root's sshd say), and its uid map
 * uses only the owner's delegated ids (or the owner's own uid).
 */
function initFits(
  init: ProcSample,
  viewUserns: number | null,
  owner: Owner,
  subuid: readonly SubidEntry[] | undefined,
  proc: string,
): string | undefined {
  if (init.userns !== null && init.userns === viewUserns)
    return `state.json names pid ${init.pid}, which runs in the host's user namespace: not a container's init`;
  // The map is readable by everyone, even where the ns link is not (a ptrace-protected process).
  let text: string;
  try {
    text = readFileSync(`${proc}/${init.pid}/uid_map`, 'utf8');
  } catch {
    return undefined; // gone meanwhile
  }
  let map;
  try {
    map = parseProcIdMap(text, { path: `${proc}/${init.pid}/uid_map` });
  } catch {
    return undefined;
  }
  if (map.some((e) => e.count === 4294967295))
    return `state.json names pid ${init.pid}, which runs in the host's user namespace: not a container's init`;
  if (!subuid) return undefined;
  const blocks = subuid.filter((e) => e.owner === owner.name || e.owner === String(owner.uid));
  const fits = map.every(
    (e) =>
      (e.count === 1 && e.outside === owner.uid) ||
      blocks.some((b) => e.outside >= b.start && e.outside + e.count <= b.start + b.count),
  );
  return fits
    ? undefined
    : `state.json names pid ${init.pid}, whose user namespace maps ids not delegated to ${owner.name}: not this container's init`;
}

interface Scan {
  readonly byPid: ReadonlyMap<number, ProcSample>;
  readonly viewUserns: number | null;
  readonly subuid: readonly SubidEntry[] | undefined;
  readonly proc: string;
  readonly broken: BrokenContainer[];
}

/**
 * The running containers in TOP/REL (core/layout.ts containersWalk(): REL
 * ".local/share/igloo/containers" below a home, or "containers").
 * Everything below TOP belongs to the owner, who may have made any of it a
 * link, a FIFO or a huge file: the walk never follows a link, state.json
 * is read only if it is a regular file of at most 64 KiB
 * (host/untrusted.ts), and what is refused is reported as broken instead
 * of hanging or misleading the listing.
 */
function runningIn(top: string, rel: string, owner: Owner, scan: Scan): KnownContainer[] {
  const dirFd = openContainersDir(top, rel, owner, scan.broken);
  if (dirFd === undefined) return [];
  const dir = join(top, rel);
  const out: KnownContainer[] = [];
  const report = (name: string, path: string, reason: string) =>
    scan.broken.push({ owner: owner.name, uid: owner.uid, name, path, reason });
  try {
    let entries;
    try {
      entries = readdirFd(dirFd).sort((a, b) => (a.name < b.name ? -1 : 1));
    } catch {
      return [];
    }
    for (const e of entries) {
      if (e.isSymbolicLink()) {
        report(e.name, join(dir, e.name), 'the container directory is a symbolic link');
        continue;
      }
      if (!e.isDirectory()) continue;
      const name = e.name;
      const statePath = join(dir, name, STATE_FILE);
      let state: RecordedInit | undefined;
      let cfd: number;
      try {
        cfd = openDirAt(dirFd, name, join(dir, name), 'read');
      } catch (err) {
        report(name, join(dir, name), refusalReason(err));
        continue;
      }
      try {
        const text = readUntrustedText(fdPath(cfd, STATE_FILE), {
          op: 'read',
          maxBytes: STATE_MAX,
        });
        const value: unknown = JSON.parse(text);
        if (typeof value === 'object' && value !== null) state = value as RecordedInit;
        else report(name, statePath, 'state.json is not a JSON object');
      } catch (err) {
        if (!isMissing(err))
          report(
            name,
            statePath,
            err instanceof SyntaxError ? 'state.json does not parse' : refusalReason(err),
          );
      } finally {
        closeSync(cfd);
      }
      if (state?.status !== 'running' || typeof state.pid !== 'number') continue;
      const init = scan.byPid.get(state.pid);
      // Gone, a zombie, or a reused pid: the container is not running any more.
      if (!init || init.state === 'Z' || init.state === 'X') continue;
      if (typeof state.pidStart === 'number' && init.startTime !== state.pidStart) continue;
      const misfit = initFits(init, scan.viewUserns, owner, scan.subuid, scan.proc);
      if (misfit) {
        report(name, statePath, misfit);
        continue;
      }
      out.push({
        name,
        owner: { name: owner.name, uid: owner.uid },
        initPid: state.pid,
        userns: init.userns,
        pidns: init.pidns,
      });
    }
  } finally {
    closeSync(dirFd);
  }
  return out;
}

/** What the view knows that discovery checks a recorded init against. */
export interface DiscoverView {
  readonly userns: number | null;
  readonly subuid?: readonly SubidEntry[];
  readonly proc?: string;
}

/**
 * Running igloo containers: the caller's, or (with `all`) every user's.
 * `passwd` is the host's, `processes` the scan of /proc. Containers whose
 * files could not be trusted are added to `broken` (when given), with why.
 */
export function discoverContainers(
  opts: DiscoverOptions,
  passwd: readonly PasswdEntry[],
  processes: readonly ProcSample[],
  view?: DiscoverView,
  broken: BrokenContainer[] = [],
): KnownContainer[] {
  const scan: Scan = {
    byPid: new Map(processes.map((p) => [p.pid, p])),
    viewUserns: view?.userns ?? null,
    subuid: view?.subuid,
    proc: view?.proc ?? '/proc',
    broken,
  };
  const mine = iglooDirsFor(process.env, process.geteuid?.() ?? 0);
  const uid = process.getuid?.() ?? 0;
  const me = passwd.find((u) => u.uid === uid);
  // The caller's own directory is found as the lifecycle finds it (a link
  // they made there is theirs to make); other users' are walked link-free.
  const found = runningIn(
    containersDir(mine.data),
    '',
    { name: me?.name ?? String(uid), uid },
    scan,
  );
  if (opts.all) {
    const seen = new Set([mine.data]);
    for (const user of passwd) {
      const dirs = defaultDirsOf(user);
      if (seen.has(dirs.data)) continue;
      seen.add(dirs.data);
      // Below the home (from /etc/passwd), every component is the user's: none may be a link.
      const walk = containersWalk(dirs.data, user.home);
      found.push(...runningIn(walk.top, walk.rel, user, scan));
    }
  }
  return found;
}
