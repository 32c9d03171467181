/**
 * Root's delegation of cgroups to a user (`igloo limit USER ...`): in every
 * hierarchy, igloo/user-NAME with the user's ceiling in files that stay
 * root's, the directory and its delegation files chowned to the user, who
 * then makes one child per container below it. Recorded in
 * /var/lib/igloo/limits.json (atomically, under its lock) so `igloo limit
 * ls` can list them; the cgroup files themselves are the truth a user's
 * igloo reads.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { IglooError } from '../../core/errors.ts';
import {
  CEILING_KEYS,
  CPU_PERIOD_US,
  IGLOO_CGROUP,
  parseCount,
  userCgroup,
  type Ceiling,
} from '../../core/limits/index.ts';
import { errnoOf, sysError } from '../errno.ts';
import { replaceFileAtomically, withFileLock } from '../files.ts';
import type { CgroupDriver } from './driver.ts';
import { rmdirCgroupTree, withCgroupDir } from './fs.ts';

export const DELEGATIONS_FILE = '/var/lib/igloo/limits.json';

export interface Delegation {
  readonly user: string;
  readonly uid: number;
  readonly ceiling: Ceiling;
  readonly at: string;
}

interface DelegationsFile {
  version: 1;
  users: Delegation[];
}

function readDelegations(path: string): DelegationsFile {
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as DelegationsFile;
    return { version: 1, users: Array.isArray(parsed.users) ? parsed.users : [] };
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return { version: 1, users: [] };
    throw sysError(err, 'read', path);
  }
}

/** The ceiling root wrote in a user's delegated cgroup (the kernel's files are the truth). */
export function readCeiling(driver: CgroupDriver, rel: string): Ceiling {
  const out: { -readonly [K in keyof Ceiling]: Ceiling[K] } = {};
  if (driver.version === 1) {
    const memory = parseCount(driver.readValue(rel, 'memory', 'memory.limit_in_bytes') ?? '');
    const pids = parseCount(driver.readValue(rel, 'pids', 'pids.max') ?? '');
    const quota = Number(driver.readValue(rel, 'cpu', 'cpu.cfs_quota_us') ?? -1);
    const period = Number(driver.readValue(rel, 'cpu', 'cpu.cfs_period_us') ?? CPU_PERIOD_US);
    if (memory !== undefined) out.memory = memory;
    if (pids !== undefined) out.pids = pids;
    if (quota > 0 && period > 0) out.cpus = Math.round((quota / period) * 1000) / 1000;
  } else {
    const memory = parseCount(driver.readValue(rel, 'memory', 'memory.max') ?? '');
    const pids = parseCount(driver.readValue(rel, 'pids', 'pids.max') ?? '');
    const [q, p] = (driver.readValue(rel, 'cpu', 'cpu.max') ?? 'max').split(' ');
    if (memory !== undefined) out.memory = memory;
    if (pids !== undefined) out.pids = pids;
    if (q !== 'max' && Number(p) > 0) out.cpus = Math.round((Number(q) / Number(p)) * 1000) / 1000;
  }
  return out;
}

/**
 * A user's delegation as their own igloo sees it: igloo/user-NAME exists
 * in every hierarchy and belongs to them. undefined: none.
 */
export function findDelegation(
  driver: CgroupDriver,
  user: { name: string; uid: number },
): { rel: string; ceiling: Ceiling } | undefined {
  const rel = userCgroup(user.name);
  for (const h of driver.hierarchies) {
    try {
      if (statSync(join(h.mount, rel)).uid !== user.uid) return undefined;
    } catch {
      return undefined;
    }
  }
  return { rel, ceiling: readCeiling(driver, rel) };
}

/** igloo limit USER: makes (or updates) igloo/user-NAME with CEILING, for root only. */
export async function delegate(
  driver: CgroupDriver,
  user: { name: string; uid: number; gid: number },
  ceiling: Ceiling,
  file = DELEGATIONS_FILE,
): Promise<Delegation> {
  const rel = userCgroup(user.name);
  driver.checkControllers(ceiling, 'limit');
  return withFileLock(file, async () => {
    const state = readDelegations(file);
    const old = state.users.find((d) => d.user === user.name);
    // Keep what is not given again (igloo limit anna --pids 200 keeps her memory).
    const merged: Ceiling = { ...old?.ceiling, ...ceiling };
    driver.create('', [IGLOO_CGROUP, `user-${user.name}`]);
    driver.writeLimits(rel, merged, CEILING_KEYS);
    driver.chown(rel, user);
    const entry: Delegation = {
      user: user.name,
      uid: user.uid,
      ceiling: merged,
      at: new Date().toISOString(),
    };
    state.users = [...state.users.filter((d) => d.user !== user.name), entry].sort((a, b) =>
      a.user.localeCompare(b.user),
    );
    await replaceFileAtomically(file, JSON.stringify(state, null, 2) + '\n', { mode: 0o644 });
    return entry;
  });
}

/** igloo limit ls */
export function listDelegations(file = DELEGATIONS_FILE): Delegation[] {
  return readDelegations(file).users;
}

/**
 * igloo limit rm USER: removes igloo/user-NAME and the containers' cgroups
 * below it; refused while any of them has processes (EBUSY, naming it).
 */
export async function undelegate(
  driver: CgroupDriver,
  userName: string,
  file = DELEGATIONS_FILE,
): Promise<void> {
  const rel = userCgroup(userName);
  await withFileLock(file, async () => {
    const state = readDelegations(file);
    const known = state.users.some((d) => d.user === userName);
    if (!known && !driver.exists(rel))
      throw new IglooError('ENOENT', `Cannot remove the limits of "${userName}": none are set`, {
        op: 'limit rm',
        subject: userName,
        hint: 'See them with: igloo limit ls',
      });
    for (const h of driver.hierarchies) {
      try {
        withCgroupDir(h.mount, IGLOO_CGROUP, 'limit rm', (fd) =>
          rmdirCgroupTree(fd, `user-${userName}`, join(h.mount, IGLOO_CGROUP)),
        );
      } catch (err) {
        if (err instanceof IglooError && err.errno === 'ENOENT') continue;
        throw err;
      }
    }
    state.users = state.users.filter((d) => d.user !== userName);
    await replaceFileAtomically(file, JSON.stringify(state, null, 2) + '\n', { mode: 0o644 });
  });
}
