/**
 * Which of igloo's containers are running, and the namespaces of their init,
 * so that a process can be matched to its container by pid namespace.
 *
 * A user sees their own containers (the directories igloo would use for
 * them, including IGLOO_DATA_DIR). Root with `all` also scans every passwd
 * user's default data directory (~/.local/share/igloo; /var/lib/igloo for
 * root). Directories that do not exist or cannot be read are skipped.
 */
import { readlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { KnownContainer } from '../core/inspect/model.ts';
import { parseNsLink } from '../core/inspect/proc.ts';
import { Igloo, type Owner } from '../lifecycle/containers.ts';
import type { IglooDirs } from '../lifecycle/paths.ts';
import { readPasswd } from '../host/users.ts';

export interface DiscoverOptions {
  /** Every user's containers (root only: others' directories are private). */
  all?: boolean;
  proc?: string;
}

/** The data and run directories igloo uses for another user, by default. */
export function defaultDirsOf(user: { uid: number; home: string }): IglooDirs {
  if (user.uid === 0) return { data: '/var/lib/igloo', run: '/run/igloo' };
  return { data: join(user.home, '.local/share/igloo'), run: `/tmp/igloo-run-${user.uid}` };
}

async function nsOf(proc: string, pid: number, kind: 'user' | 'pid'): Promise<number | null> {
  try {
    return parseNsLink(await readlink(`${proc}/${pid}/ns/${kind}`), kind) ?? null;
  } catch {
    return null;
  }
}

async function runningIn(igloo: Igloo, owner: Owner, proc: string): Promise<KnownContainer[]> {
  let list: Awaited<ReturnType<Igloo['list']>>;
  try {
    list = await igloo.list();
  } catch {
    return [];
  }
  const out: KnownContainer[] = [];
  for (const c of list) {
    if (c.state.status !== 'running' || c.state.pid === undefined) continue;
    const [userns, pidns] = await Promise.all([
      nsOf(proc, c.state.pid, 'user'),
      nsOf(proc, c.state.pid, 'pid'),
    ]);
    out.push({
      name: c.name,
      owner: { name: owner.name, uid: owner.uid },
      initPid: c.state.pid,
      userns,
      pidns,
    });
  }
  return out;
}

/** Running igloo containers: the caller's, or (with `all`) every user's. */
export async function discoverContainers(opts: DiscoverOptions = {}): Promise<KnownContainer[]> {
  const proc = opts.proc ?? '/proc';
  const mine = new Igloo();
  const places: Array<{ igloo: Igloo; owner: Owner }> = [
    { igloo: mine, owner: await mine.owner() },
  ];
  if (opts.all) {
    const seen = new Set([mine.dirs.data]);
    for (const user of await readPasswd()) {
      const dirs = defaultDirsOf(user);
      if (seen.has(dirs.data)) continue;
      seen.add(dirs.data);
      places.push({ igloo: new Igloo(dirs), owner: user });
    }
  }
  const found = await Promise.all(places.map((p) => runningIn(p.igloo, p.owner, proc)));
  return found.flat();
}
