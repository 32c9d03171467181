/**
 * Where a container's cgroups are and which files carry its limits, for
 * cgroup v1 (one hierarchy per controller, this host) and cgroup v2 (one
 * tree). Pure: the host driver (src/host/cgroups/) opens and writes.
 *
 *   igloo/                       root's, in each hierarchy
 *   igloo/root/CONTAINER         root's containers
 *   igloo/user-NAME/             a user's delegation: root-owned limit files
 *                                (the ceiling), the directory, cgroup.procs
 *                                and tasks chowned to the user
 *   igloo/user-NAME/CONTAINER    made and limited by the user
 */
import { IglooError } from '../errors.ts';
import { mountFlags } from '../plan/mount-flags.ts';
import type { Step } from '../plan/plan.ts';
import { cpuQuota, weightToBlkio, weightToShares, type Limits, type LimitKey } from './values.ts';

export type CgroupVersion = 1 | 2;

/** The v1 controllers a container's cgroup is made in, when the host mounts them. */
export const V1_CONTROLLERS = [
  'memory',
  'pids',
  'cpu',
  'cpuacct',
  'cpuset',
  'freezer',
  'blkio',
] as const;
export type V1Controller = (typeof V1_CONTROLLERS)[number];

/** The v2 controllers igloo enables for a container's subtree, when available. */
export const V2_CONTROLLERS = ['memory', 'pids', 'cpu', 'cpuset', 'io'] as const;

export const IGLOO_CGROUP = 'igloo';

const USER_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;

function checkPart(kind: string, name: string): string {
  if (!USER_NAME.test(name) || name === '.' || name === '..')
    throw new IglooError('EINVAL', `Cannot make a cgroup for ${kind} "${name}": unusable name`, {
      op: 'cgroup path',
      subject: name,
      hint: 'Names of users and containers are letters, digits, "_", "." and "-"',
    });
  return name;
}

/** igloo/user-NAME: a user's delegated cgroup (relative to a hierarchy's root). */
export function userCgroup(user: string): string {
  return `${IGLOO_CGROUP}/user-${checkPart('user', user)}`;
}

/** The cgroup of a container, relative to a hierarchy's root. */
export function containerCgroup(owner: { name: string; uid: number }, container: string): string {
  const parent = owner.uid === 0 ? `${IGLOO_CGROUP}/root` : userCgroup(owner.name);
  return `${parent}/${checkPart('container', container)}`;
}

/**
 * A file write that carries a limit. `value` undefined is "the parent's"
 * (cpuset.cpus in v1 must be filled: the driver copies the parent's).
 * `optional`: a reset the driver may skip when the file does not exist
 * (a host without swap accounting or without a proportional I/O scheduler).
 */
export interface LimitWrite {
  readonly controller: string;
  readonly file: string;
  readonly value: string | undefined;
  readonly key: LimitKey;
  readonly optional?: boolean;
}

type Table = { readonly [K in LimitKey]-?: (l: Limits) => LimitWrite[] };

const w = (
  key: LimitKey,
  controller: string,
  file: string,
  value: string | undefined,
  optional = false,
): LimitWrite => ({ key, controller, file, value, ...(optional && { optional }) });

/** cgroup v1: each limit's files; an unset limit writes the unlimited value. */
export const V1_TABLE: Table = {
  memory: (l) => [w('memory', 'memory', 'memory.limit_in_bytes', String(l.memory ?? -1))],
  memorySwap: (l) => [
    w(
      'memorySwap',
      'memory',
      'memory.memsw.limit_in_bytes',
      String(l.memorySwap ?? -1),
      l.memorySwap === undefined,
    ),
  ],
  pids: (l) => [w('pids', 'pids', 'pids.max', l.pids === undefined ? 'max' : String(l.pids))],
  cpus: (l) => [
    w('cpus', 'cpu', 'cpu.cfs_period_us', String(cpuQuota(1).period)),
    w(
      'cpus',
      'cpu',
      'cpu.cfs_quota_us',
      l.cpus === undefined ? '-1' : String(cpuQuota(l.cpus).quota),
    ),
  ],
  cpuWeight: (l) => [
    w(
      'cpuWeight',
      'cpu',
      'cpu.shares',
      String(l.cpuWeight === undefined ? 1024 : weightToShares(l.cpuWeight)),
    ),
  ],
  cpuset: (l) => [w('cpuset', 'cpuset', 'cpuset.cpus', l.cpuset)],
  ioWeight: (l) => [
    w(
      'ioWeight',
      'blkio',
      'blkio.weight',
      String(l.ioWeight === undefined ? 500 : weightToBlkio(l.ioWeight)),
      l.ioWeight === undefined,
    ),
  ],
};

/** cgroup v2: each limit's file in the container's one directory. */
export const V2_TABLE: Table = {
  memory: (l) => [
    w('memory', 'memory', 'memory.max', l.memory === undefined ? 'max' : String(l.memory)),
  ],
  memorySwap: (l) => [
    w(
      'memorySwap',
      'memory',
      'memory.swap.max',
      l.memorySwap === undefined ? 'max' : String(l.memorySwap - (l.memory ?? 0)),
      l.memorySwap === undefined,
    ),
  ],
  pids: (l) => [w('pids', 'pids', 'pids.max', l.pids === undefined ? 'max' : String(l.pids))],
  cpus: (l) => [
    w(
      'cpus',
      'cpu',
      'cpu.max',
      l.cpus === undefined
        ? `max ${cpuQuota(1).period}`
        : `${cpuQuota(l.cpus).quota} ${cpuQuota(l.cpus).period}`,
    ),
  ],
  cpuWeight: (l) => [w('cpuWeight', 'cpu', 'cpu.weight', String(l.cpuWeight ?? 100))],
  cpuset: (l) => [w('cpuset', 'cpuset', 'cpuset.cpus', l.cpuset ?? '')],
  ioWeight: (l) => [
    w('ioWeight', 'io', 'io.weight', `default ${l.ioWeight ?? 100}`, l.ioWeight === undefined),
  ],
};

/**
 * The writes that give a cgroup exactly `limits` (the unset ones reset),
 * in an order the kernel accepts. `keys` restricts them (a ceiling sets
 * memory, pids and cpus only).
 */
export function limitWrites(
  version: CgroupVersion,
  limits: Limits,
  keys: readonly LimitKey[] = Object.keys(V1_TABLE) as LimitKey[],
): LimitWrite[] {
  const table = version === 1 ? V1_TABLE : V2_TABLE;
  return keys.flatMap((k) => table[k](limits));
}

/** The v1 controller (or v2 controller) each limit needs. */
export function controllerOf(version: CgroupVersion, key: LimitKey): string {
  return (version === 1 ? V1_TABLE : V2_TABLE)[key]({})[0]!.controller;
}

/**
 * The mounts that show a container its own cgroups at /sys/fs/cgroup,
 * through its cgroup namespace (rooted at its cgroups): read-only, or
 * read-write (WRITABLE) where the container's root owns its cgroup and may
 * make children in it (its limit files stay its owner's either way): for v1
 * a tmpfs with one mount per hierarchy (named by its controllers, as the
 * host names them), for v2 the one tree. The tmpfs also hides whatever a
 * bound host /sys carries there.
 */
export function cgroupViewMounts(
  version: CgroupVersion,
  hierarchies: readonly (readonly string[])[],
  writable = false,
): Step[] {
  const flags = writable
    ? mountFlags('NOSUID', 'NODEV', 'NOEXEC')
    : mountFlags('RDONLY', 'NOSUID', 'NODEV', 'NOEXEC');
  if (version === 2)
    return [
      {
        op: 'mount',
        source: 'cgroup2',
        target: '/sys/fs/cgroup',
        fstype: 'cgroup2',
        flags,
        data: '',
      },
    ];
  return [
    {
      op: 'mount',
      source: 'tmpfs',
      target: '/sys/fs/cgroup',
      fstype: 'tmpfs',
      flags: mountFlags('NOSUID', 'NODEV', 'NOEXEC'),
      data: 'mode=755,size=64k',
    },
    ...hierarchies.map((controllers): Step => ({
      op: 'mount',
      source: 'cgroup',
      target: `/sys/fs/cgroup/${controllers.join(',')}`,
      fstype: 'cgroup',
      flags,
      data: controllers.join(','),
    })),
  ];
}
