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
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KnownContainer, ProcSample } from '../core/inspect/model.ts';
import type { PasswdEntry } from '../core/passwd.ts';
import { iglooDirs, type IglooDirs } from '../lifecycle/paths.ts';

export interface DiscoverOptions {
  /** Every user's containers (root only: others' directories are private). */
  all?: boolean;
}

/** The data and run directories igloo uses for another user, by default. */
export function defaultDirsOf(user: { uid: number; home: string }): IglooDirs {
  if (user.uid === 0) return { data: '/var/lib/igloo', run: '/run/igloo' };
  return { data: join(user.home, '.local/share/igloo'), run: `/tmp/igloo-run-${user.uid}` };
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

function readState(path: string): RecordedInit | undefined {
  try {
    const value: unknown = JSON.parse(readFileSync(path, 'utf8'));
    return typeof value === 'object' && value !== null ? (value as RecordedInit) : undefined;
  } catch {
    return undefined;
  }
}

function runningIn(
  data: string,
  owner: Owner,
  byPid: ReadonlyMap<number, ProcSample>,
): KnownContainer[] {
  const dir = join(data, 'containers');
  let names: string[];
  try {
    names = readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort();
  } catch {
    return [];
  }
  const out: KnownContainer[] = [];
  for (const name of names) {
    const state = readState(join(dir, name, 'state.json'));
    if (state?.status !== 'running' || typeof state.pid !== 'number') continue;
    const init = byPid.get(state.pid);
    // Gone, a zombie, or a reused pid: the container is not running any more.
    if (!init || init.state === 'Z' || init.state === 'X') continue;
    if (typeof state.pidStart === 'number' && init.startTime !== state.pidStart) continue;
    out.push({
      name,
      owner: { name: owner.name, uid: owner.uid },
      initPid: state.pid,
      userns: init.userns,
      pidns: init.pidns,
    });
  }
  return out;
}

/**
 * Running igloo containers: the caller's, or (with `all`) every user's.
 * `passwd` is the host's, `processes` the scan of /proc.
 */
export function discoverContainers(
  opts: DiscoverOptions,
  passwd: readonly PasswdEntry[],
  processes: readonly ProcSample[],
): KnownContainer[] {
  const byPid = new Map(processes.map((p) => [p.pid, p]));
  const mine = iglooDirs();
  const uid = process.getuid?.() ?? 0;
  const me = passwd.find((u) => u.uid === uid);
  const found = runningIn(mine.data, { name: me?.name ?? String(uid), uid }, byPid);
  if (opts.all) {
    const seen = new Set([mine.data]);
    for (const user of passwd) {
      const dirs = defaultDirsOf(user);
      if (seen.has(dirs.data)) continue;
      seen.add(dirs.data);
      found.push(...runningIn(dirs.data, user, byPid));
    }
  }
  return found;
}
