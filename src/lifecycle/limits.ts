/**
 * A container's resource limits at run time: which cgroup it gets, made
 * and limited before its init runs; live changes (igloo set), usage (igloo
 * stats), freeze/thaw, and the cgroup's removal (destroy).
 *
 * Who gets a cgroup:
 *   root                 igloo/root/NAME, when the container has limits
 *   a delegated user     igloo/user-USER/NAME, always (the user's ceiling
 *                        must bound every one of their containers)
 *   anyone else          none: limits are refused (no cgroup to put them
 *                        in), and the container still gets RLIMIT_NPROC on
 *                        its own host uids (NPROC_FALLBACK), never nothing
 */
import { formatConfig } from '../core/config/file.ts';
import type { ContainerConfig } from '../core/config/model.ts';
import { validateConfig } from '../core/config/validate.ts';
import type { RunnableConfig } from '../core/config/runnable.ts';
import { IglooError } from '../core/errors.ts';
import { toOutside } from '../core/idmap/index.ts';
import {
  checkCeiling,
  checkLimits,
  containerCgroup,
  cgroupViewMounts,
  cpuPercent,
  cpuSetMembers,
  describeLimits,
  hasLimits,
  parseLimit,
  userCgroup,
  type Ceiling,
  type Limits,
  type Usage,
} from '../core/limits/index.ts';
import type { CgroupJoin } from '../core/plan/plan.ts';
import { findDelegation } from '../host/cgroups/delegation.ts';
import { cgroupDriver, type CgroupDriver } from '../host/cgroups/driver.ts';
import { CgroupDirs } from '../host/cgroups/fs.ts';
import { replaceFileAtomically } from '../host/files.ts';
import { liveState, readConfig, withContainerLock } from './store.ts';
import type { UserContainers } from './user-containers.ts';

/** RLIMIT_NPROC a container without a cgroup gets (per host uid of its slice). */
export const NPROC_FALLBACK = 4096;

export interface ContainerCgroup {
  readonly driver: CgroupDriver;
  /** Relative to each hierarchy's root. */
  readonly rel: string;
  /** The owner's ceiling (a delegated user's), if any. */
  readonly ceiling?: Ceiling;
}

/** Where the caller's containers can have cgroups: undefined when nowhere. */
export async function cgroupPlace(
  user: UserContainers,
): Promise<{ driver: CgroupDriver; ceiling?: Ceiling; delegated: boolean } | undefined> {
  const driver = cgroupDriver();
  if (!driver) return undefined;
  const owner = await user.owner();
  if (owner.uid === 0) return { driver, delegated: false };
  const d = findDelegation(driver, owner);
  return d ? { driver, ceiling: d.ceiling, delegated: true } : undefined;
}

/** The cgroup NAME has or would have, if the caller can have cgroups. */
export async function containerCgroupOf(
  user: UserContainers,
  name: string,
): Promise<ContainerCgroup | undefined> {
  const place = await cgroupPlace(user);
  if (!place) return undefined;
  const rel = containerCgroup(await user.owner(), name);
  return { driver: place.driver, rel, ...(place.ceiling && { ceiling: place.ceiling }) };
}

/**
 * Checks LIMITS for a container of the caller: they fit together, the host
 * has their controllers, they are under the owner's ceiling, the cpuset
 * names allowed CPUs; and there is a cgroup to put them in. Changes nothing.
 */
export async function checkContainerLimits(
  user: UserContainers,
  limits: Limits,
  op: string,
): Promise<void> {
  if (!hasLimits(limits)) return;
  checkLimits(limits, op);
  const place = await cgroupPlace(user);
  const owner = await user.owner();
  if (!place)
    throw new IglooError(
      'EPERM',
      `Cannot apply limits (${describeLimits(limits)}): no cgroup is delegated to ${owner.name}`,
      {
        op,
        subject: owner.name,
        hint: `Ask root to run: igloo limit set ${owner.name} --memory 4G --pids 4096 (see igloo check, docs/limits.md)`,
      },
    );
  const parentRel = place.delegated ? userCgroup(owner.name) : '';
  place.driver.checkControllers(limits, op, parentRel);
  if (place.ceiling) checkCeiling(limits, place.ceiling, owner.name, op);
  if (limits.cpuset !== undefined) {
    const allowed = place.driver.allowedCpus(parentRel);
    const bad = allowed && cpuSetMembers(limits.cpuset).filter((c) => !allowed.includes(c));
    if (bad && bad.length)
      throw new IglooError(
        'EINVAL',
        `Cannot use --cpuset ${limits.cpuset}: CPU ${bad.join(', ')} is not available here`,
        { op, subject: limits.cpuset, hint: `Choose among CPUs ${allowed!.join(',')}` },
      );
  }
}

/**
 * Makes NAME's cgroup with its config's limits, before its init runs;
 * undefined when it gets none (then `withFallbackLimits` applies).
 */
export async function prepareCgroup(
  user: UserContainers,
  name: string,
  config: ContainerConfig,
): Promise<(CgroupJoin & { rel: string }) | undefined> {
  const limits = config.limits ?? {};
  await checkContainerLimits(user, limits, 'start');
  const cg = await containerCgroupOf(user, name);
  if (!cg) return undefined;
  const owner = await user.owner();
  if (owner.uid === 0 && !hasLimits(limits)) return undefined;
  const parts = cg.rel.split('/');
  // one walk down each hierarchy serves the directories made and the limits written
  const dirs = new CgroupDirs('make cgroup');
  try {
    if (owner.uid === 0) cg.driver.create('', parts, dirs);
    else cg.driver.create(parts.slice(0, -1).join('/'), [parts[parts.length - 1]!], dirs);
    cg.driver.writeLimits(cg.rel, limits, undefined, dirs);
    // root's: the directory and what lets processes in become the container
    // root's, so that it can make child cgroups (a nested init's); its limit
    // files stay root's (docs/limits.md, "The container's own cgroup")
    if (owner.uid === 0) cg.driver.chown(cg.rel, containerRootIds(config), dirs);
  } finally {
    dirs.close();
  }
  return {
    rel: cg.rel,
    procs: cg.driver.procsFiles(cg.rel),
    mounts: cgroupViewMounts(
      cg.driver.version,
      cg.driver.hierarchies.map((h) => h.controllers),
      owner.uid === 0,
    ),
  };
}

/** The host ids of the container's root (its cgroup's owner, for root's containers). */
function containerRootIds(config: ContainerConfig): { uid: number; gid: number } {
  return {
    uid: toOutside(config.idmap.uid, 0, 'uid'),
    gid: toOutside(config.idmap.gid, 0, 'gid'),
  };
}

/** A runnable config without a cgroup gets RLIMIT_NPROC, unless it sets one itself. */
export function withFallbackLimits(config: RunnableConfig): RunnableConfig {
  if (config.rlimits.some((r) => r.type === 'RLIMIT_NPROC')) return config;
  return {
    ...config,
    rlimits: [
      ...config.rlimits,
      { type: 'RLIMIT_NPROC', soft: NPROC_FALLBACK, hard: NPROC_FALLBACK },
    ],
  };
}

/** NAME's cgroup if it exists now (a running container with limits, or a delegated user's). */
export async function existingCgroup(
  user: UserContainers,
  name: string,
): Promise<ContainerCgroup | undefined> {
  const cg = await containerCgroupOf(user, name);
  return cg && cg.driver.exists(cg.rel) ? cg : undefined;
}

/** What bounds NAME, in words (igloo create, igloo info). */
export async function limitsSummary(
  user: UserContainers,
  config: ContainerConfig,
): Promise<string> {
  const place = await cgroupPlace(user);
  const limits = describeLimits(config.limits ?? {});
  const owner = await user.owner();
  if (place && (hasLimits(config.limits) || place.delegated)) {
    const ceiling = place.ceiling
      ? `; ${owner.name}'s ceiling: ${describeLimits(place.ceiling)}`
      : '';
    return `cgroup limits: ${limits}${ceiling}`;
  }
  const why = place
    ? 'no limits set'
    : `no cgroup is delegated to ${owner.name} (igloo check says how)`;
  return `${why}: bounded by RLIMIT_NPROC ${NPROC_FALLBACK} per host uid of its slice only`;
}

/** The cgroup of a running container, or a clear error. */
async function requireCgroup(
  user: UserContainers,
  name: string,
  op: string,
): Promise<ContainerCgroup> {
  const cg = await existingCgroup(user, name);
  if (!cg)
    throw new IglooError('ESTATE', `Cannot ${op} "${name}": it has no cgroup`, {
      op,
      subject: name,
      hint: `Give it a limit and restart it (igloo set ${name} --pids 4096; igloo stop ${name}; igloo start ${name}), or ask root for a delegation (igloo limit)`,
    });
  return cg;
}

export async function freezeContainer(
  user: UserContainers,
  name: string,
  frozen: boolean,
): Promise<void> {
  const cg = await requireCgroup(user, name, frozen ? 'freeze' : 'thaw');
  await cg.driver.setFrozen(cg.rel, frozen);
}

/** Writes LIMITS to NAME's cgroup now (a running container). */
export async function applyLimitsLive(
  user: UserContainers,
  name: string,
  limits: Limits,
): Promise<boolean> {
  const cg = await existingCgroup(user, name);
  if (!cg) return false;
  cg.driver.writeLimits(cg.rel, limits);
  return true;
}

export interface ContainerStats {
  readonly name: string;
  readonly cgroup?: string;
  readonly usage?: Usage;
  /** CPU use over the sampling interval, % of one CPU. */
  readonly cpuPercent?: number;
}

/**
 * Usage of NAMES: two samples `intervalMs` apart for CPU %, one pass over
 * every container each (a container without a cgroup has no usage).
 */
export async function containerStats(
  user: UserContainers,
  names: readonly string[],
  intervalMs = 200,
): Promise<ContainerStats[]> {
  const place = await cgroupPlace(user);
  if (!place) return names.map((name) => ({ name }));
  const owner = await user.owner();
  const { driver } = place;
  // One walk per hierarchy down to the owner's cgroups, then one open per container.
  const dirs = new CgroupDirs('read cgroup');
  try {
    const rels = names.map((n) => {
      const rel = containerCgroup(owner, n);
      return driver.exists(rel, dirs) ? rel : undefined;
    });
    const first = rels.map((rel) => (rel ? driver.usage(rel, dirs) : undefined));
    const t0 = process.hrtime.bigint();
    if (intervalMs > 0 && rels.some(Boolean)) await new Promise((r) => setTimeout(r, intervalMs));
    const t1 = process.hrtime.bigint();
    return names.map((name, i) => {
      const rel = rels[i];
      if (!rel) return { name };
      const usage = intervalMs > 0 ? driver.usage(rel, dirs) : first[i]!;
      const before = first[i]!.cpu?.usageNs;
      const after = usage.cpu?.usageNs;
      return {
        name,
        cgroup: rel,
        usage,
        ...(intervalMs > 0 &&
          before !== undefined &&
          after !== undefined && { cpuPercent: cpuPercent(before, after, Number(t1 - t0)) }),
      };
    });
  } finally {
    dirs.close();
  }
}

/** Removes NAME's cgroup (destroy, and after a one-shot run); nothing if it has none. */
export async function removeCgroup(user: UserContainers, name: string): Promise<void> {
  const cg = await containerCgroupOf(user, name);
  if (cg && cg.driver.exists(cg.rel)) await cg.driver.remove(cg.rel);
}

/** Flag texts of `igloo set` / create / run ("max" or "none" removes a limit in set). */
export type LimitTexts = { readonly [K in keyof Limits]?: string | undefined };

/**
 * igloo set NAME --memory 1G ...: the new limits (the ones not given are
 * kept, "max" removes one) are checked first, then written to the config
 * atomically under the container's lock, then to its cgroup if it runs.
 * Returns the limits and whether they took effect now.
 */
export async function setContainerLimits(
  user: UserContainers,
  name: string,
  texts: LimitTexts,
): Promise<{ limits: Limits; live: boolean }> {
  const paths = user.paths(name);
  await readConfig(paths, name);
  const remove = (Object.keys(texts) as (keyof Limits)[]).filter((k) =>
    ['max', 'none', 'unlimited'].includes(texts[k] ?? ''),
  );
  const given = Object.fromEntries(
    Object.entries(texts).filter(
      ([k, v]) => v !== undefined && !remove.includes(k as keyof Limits),
    ),
  ) as LimitTexts;
  if (Object.keys(given).length === 0 && remove.length === 0)
    throw new IglooError('EINVAL', `Cannot set limits of "${name}": no limit given`, {
      op: 'set',
      subject: name,
      hint: `For example: igloo set ${name} --memory 1G --pids 512`,
    });
  // Each value alone here; how they fit together is checked on the merged limits.
  const parsed = Object.fromEntries(
    Object.entries(given).map(([k, v]) => [k, parseLimit(k as keyof Limits, v!, 'set')]),
  );
  return withContainerLock(paths, async () => {
    const config = await readConfig(paths, name);
    const merged: Record<string, unknown> = { ...config.limits, ...parsed };
    for (const k of remove) delete merged[k];
    const limits = merged as Limits;
    await checkContainerLimits(user, limits, 'set');
    const next: ContainerConfig = { ...config };
    delete (next as { limits?: Limits }).limits;
    const updated = validateConfig(hasLimits(limits) ? { ...next, limits } : next);
    const state = await liveState(paths);
    // The cgroup first: if the kernel refuses, the config still says what runs.
    const live = state.status === 'running' && (await applyLimitsLive(user, name, limits));
    await replaceFileAtomically(paths.config, formatConfig(updated), { mode: 0o644 });
    return { limits, live };
  });
}

/** Whether NAME runs in a cgroup of its own (as prepareCgroup decides at start). */
async function wantsCgroup(user: UserContainers, config: ContainerConfig): Promise<boolean> {
  const place = await cgroupPlace(user);
  return place !== undefined && (place.delegated || hasLimits(config.limits));
}

/**
 * CRIU's cgroup options for checkpointing NAME. A container with a cgroup
 * is dumped with `--manage-cgroups=soft`: CRIU records each task's cgroup
 * paths and its cgroup namespace (rooted at the container's cgroups), so
 * that restore can put the tree back there (checkpointRestoreCgroup). One
 * without is dumped with `ignore`. Refused when what runs does not match
 * its config (limits set or removed while it ran, without a restart): the
 * restore decides from the config, and the signature binds the config.
 */
export async function checkpointCgroupArgs(
  user: UserContainers,
  name: string,
  config: ContainerConfig,
): Promise<string[]> {
  const wants = await wantsCgroup(user, config);
  const has = (await existingCgroup(user, name)) !== undefined;
  if (wants !== has)
    throw new IglooError(
      'ESTATE',
      `Cannot checkpoint "${name}": ${has ? 'it runs in a cgroup but its config has no limits' : 'its config has limits but it runs without a cgroup'} (changed since it started)`,
      {
        op: 'checkpoint',
        subject: name,
        hint: `Restart it so that its cgroup matches its config (igloo stop ${name}; igloo start ${name}), then checkpoint it`,
      },
    );
  return [has ? '--manage-cgroups=soft' : '--manage-cgroups=ignore'];
}

/**
 * Before restoring NAME (checkpointed as DUMPEDNAME): a container with a
 * cgroup gets it made and limited from its config, as at start, and CRIU
 * runs with `--manage-cgroups=soft`. CRIU then finds the cgroups it dumped
 * already there (soft: it leaves their limits as igloo wrote them), moves
 * each restored task into its own, and restores the cgroup namespace
 * rooted there, so the tree is never outside its limits. CRIU restores the
 * dumped paths as they were: a checkpoint made under another name (an
 * import with --name) would land in that name's cgroups, so it is refused.
 * Returns CRIU's options, and the cgroup.procs files `igloo exec` joins.
 */
export async function restoreCgroupArgs(
  user: UserContainers,
  name: string,
  config: ContainerConfig,
  dumpedName: string,
): Promise<{ args: string[]; procs?: readonly string[] }> {
  if (!(await wantsCgroup(user, config))) return { args: ['--manage-cgroups=ignore'] };
  const owner = await user.owner();
  if (containerCgroup(owner, dumpedName) !== containerCgroup(owner, name))
    throw new IglooError(
      'ESTATE',
      `Cannot restore "${name}": its checkpoint was made as "${dumpedName}", whose cgroup is ${containerCgroup(owner, dumpedName)}, and CRIU would restore it there`,
      {
        op: 'restore',
        subject: name,
        hint: `Start it afresh (igloo start ${name}), or restore it under its old name`,
      },
    );
  const cgroup = await prepareCgroup(user, name, config);
  return { args: ['--manage-cgroups=soft'], ...(cgroup && { procs: cgroup.procs }) };
}
