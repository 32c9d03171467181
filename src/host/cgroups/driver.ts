/**
 * One interface over the host's cgroups: cgroup v1 (one hierarchy per
 * controller, what this host runs: the hybrid layout's v2 tree carries no
 * controller) and pure cgroup v2. A cgroup is named by its path relative
 * to each hierarchy's root (core/limits/cgroup.ts); the driver makes it in
 * every hierarchy igloo uses, writes its limits, reads its usage, freezes
 * it and removes it. Everything goes through descriptors (./fs.ts).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { IglooError } from '../../core/errors.ts';
import {
  controllerOf,
  LIMIT_SPECS,
  cpuSetMembers,
  limitWrites,
  parseBlkioBytes,
  parseCount,
  parseFlatKeyed,
  parseIoStat,
  V1_CONTROLLERS,
  V2_CONTROLLERS,
  type CgroupVersion,
  type LimitKey,
  type Limits,
  type Usage,
} from '../../core/limits/index.ts';
import type { CgroupDirs } from './fs.ts';
import {
  cgroupPids,
  chownCgroup,
  hasCgroupFile,
  mkdirCgroup,
  readCgroupFile,
  rmdirCgroupTree,
  withCgroupDir,
  withCgroupDirs,
  writeCgroupFile,
} from './fs.ts';

/** One mounted hierarchy: where, and which controllers it carries. */
export interface Hierarchy {
  readonly mount: string;
  readonly controllers: readonly string[];
}

export interface CgroupHost {
  readonly version: CgroupVersion;
  readonly hierarchies: readonly Hierarchy[];
}

const V1_OPTS_IGNORED = new Set([
  'rw',
  'ro',
  'relatime',
  'nosuid',
  'nodev',
  'noexec',
  'clone_children',
]);

/** The hierarchies igloo can use, from /proc/self/mounts and the v2 root's cgroup.controllers. */
export function detectCgroupHost(
  mountsText = readFileSync('/proc/self/mounts', 'utf8'),
  readControllers = (mount: string) => readFileSync(join(mount, 'cgroup.controllers'), 'utf8'),
): CgroupHost | undefined {
  const v1: Hierarchy[] = [];
  let unified: string | undefined;
  for (const line of mountsText.split('\n')) {
    const [, mount, fstype, options] = line.split(' ');
    if (!mount || !options) continue;
    if (fstype === 'cgroup2') unified ??= mount;
    if (fstype !== 'cgroup') continue;
    const controllers = options
      .split(',')
      .filter((o) => !V1_OPTS_IGNORED.has(o) && !o.includes('='))
      .filter((o) => (V1_CONTROLLERS as readonly string[]).includes(o));
    if (controllers.length && !v1.some((h) => h.mount === mount)) v1.push({ mount, controllers });
  }
  if (v1.length) return { version: 1, hierarchies: v1 };
  if (!unified) return undefined;
  let controllers: string[] = [];
  try {
    controllers = readControllers(unified).trim().split(/\s+/).filter(Boolean);
  } catch {
    return undefined;
  }
  if (!controllers.length) return undefined;
  return { version: 2, hierarchies: [{ mount: unified, controllers }] };
}

/** A cgroup's files to chown when it is delegated (the kernel's rules for each version). */
export function delegationFiles(version: CgroupVersion): string[] {
  return version === 1
    ? ['cgroup.procs', 'tasks']
    : ['cgroup.procs', 'cgroup.subtree_control', 'cgroup.threads'];
}

/** The files usage() reads, by version: [controller, file]. */
const USAGE_FILES = {
  1: {
    memory: ['memory', 'memory.usage_in_bytes'],
    memoryLimit: ['memory', 'memory.limit_in_bytes'],
    memoryPeak: ['memory', 'memory.max_usage_in_bytes'],
    memoryEvents: ['memory', 'memory.oom_control'],
    failcntKey: 'max',
    cpuStat: ['cpu', 'cpu.stat'],
    io: ['blkio', 'blkio.throttle.io_service_bytes'],
    frozen: ['freezer', 'freezer.state'],
  },
  2: {
    memory: ['memory', 'memory.current'],
    memoryLimit: ['memory', 'memory.max'],
    memoryPeak: ['memory', 'memory.peak'],
    memoryEvents: ['memory', 'memory.events'],
    failcntKey: 'max',
    // cpu.stat and cgroup.freeze exist in every v2 cgroup: any controller's tree finds them
    cpuStat: ['memory', 'cpu.stat'],
    io: ['io', 'io.stat'],
    frozen: ['memory', 'cgroup.freeze'],
  },
} as const;
const V1_FAILCNT = ['memory', 'memory.failcnt'] as const;
const V1_CPUACCT = ['cpuacct', 'cpuacct.usage'] as const;

export class CgroupDriver {
  readonly version: CgroupVersion;
  readonly hierarchies: readonly Hierarchy[];

  constructor(host: CgroupHost) {
    this.version = host.version;
    this.hierarchies = host.hierarchies;
  }

  /** The controllers the host has. */
  controllers(): string[] {
    return this.hierarchies.flatMap((h) => h.controllers);
  }

  private hierarchyOf(controller: string): Hierarchy | undefined {
    return this.hierarchies.find((h) => h.controllers.includes(controller));
  }

  /**
   * Refuses limits whose controller the host lacks, or whose file the
   * cgroup PARENT (v1: the hierarchy's root) does not have (swap without
   * swap accounting, an I/O weight without a proportional scheduler),
   * naming it. Writes nothing.
   */
  checkControllers(limits: Limits, op: string, parent = '', dirs?: CgroupDirs): void {
    for (const key of Object.keys(limits) as LimitKey[]) {
      if (limits[key] === undefined) continue;
      const flag = LIMIT_SPECS[key].flag;
      const c = controllerOf(this.version, key);
      const h = this.hierarchyOf(c);
      if (!h)
        throw new IglooError(
          'EHOST',
          `Cannot apply --${flag}: this host has no cgroup ${this.version === 1 ? 'v1' : 'v2'} ${c} controller`,
          {
            op,
            subject: c,
            hint: `Leave --${flag} out; controllers here: ${this.controllers().join(', ') || 'none'}`,
          },
        );
      if (key !== 'memorySwap' && key !== 'ioWeight') continue;
      const where = this.version === 1 ? '' : parent;
      if (this.version === 2 && where === '') continue; // the v2 root has no limit files
      const file = limitWrites(this.version, limits, [key])[0]!.file;
      const present = withCgroupDirs(op, (d) => hasCgroupFile(d.dir(h.mount, where), file), dirs);
      if (!present)
        throw new IglooError(
          'EHOST',
          `Cannot apply --${flag}: ${join(h.mount, where, file)} does not exist`,
          {
            op,
            path: join(h.mount, where, file),
            hint:
              key === 'memorySwap'
                ? 'This kernel does not account swap (swapaccount=1): leave --memory-swap out'
                : 'No proportional I/O scheduler (BFQ) here: leave --io-weight out',
          },
        );
    }
  }

  /** Absolute path of REL in each hierarchy (what `igloo info` shows). */
  paths(rel: string): string[] {
    return this.hierarchies.map((h) => join(h.mount, rel));
  }

  /** The cgroup.procs file of REL in each hierarchy: what the helper writes the container's pid to. */
  procsFiles(rel: string): string[] {
    return this.hierarchies.map((h) => join(h.mount, rel, 'cgroup.procs'));
  }

  /** Whether REL exists (in the first hierarchy). */
  exists(rel: string, dirs?: CgroupDirs): boolean {
    const h = this.hierarchies[0]!;
    try {
      return withCgroupDirs('open cgroup', (d) => d.dir(h.mount, rel) >= 0, dirs);
    } catch {
      return false;
    }
  }

  /**
   * Makes REL (below an existing PARENT) in every hierarchy. v1's cpuset
   * starts with no CPUs and no memory nodes: they are copied from the
   * parent, or nothing could join. v2: the parent's subtree_control gets
   * the controllers. Returns the relative paths of the levels made.
   */
  create(parent: string, names: readonly string[], dirs?: CgroupDirs): void {
    withCgroupDirs(
      'make cgroup',
      (d) => {
        for (const h of this.hierarchies) {
          let rel = parent;
          for (const name of names) {
            const shown = join(h.mount, rel);
            const fd = d.dir(h.mount, rel);
            if (this.version === 2) this.enableControllers(fd, h, shown);
            mkdirCgroup(fd, name, shown);
            rel = join(rel, name);
            // also when it was there: a start that died before filling it
            if (this.version === 1 && h.controllers.includes('cpuset')) this.fillCpuset(h, rel, d);
          }
        }
      },
      dirs,
    );
  }

  private enableControllers(fd: number, h: Hierarchy, shown: string): void {
    const want = V2_CONTROLLERS.filter((c) => h.controllers.includes(c));
    const have = (readCgroupFile(fd, 'cgroup.subtree_control', shown) ?? '').split(/\s+/);
    const missing = want.filter((c) => !have.includes(c));
    if (missing.length)
      writeCgroupFile(fd, 'cgroup.subtree_control', missing.map((c) => `+${c}`).join(' '), shown);
  }

  private fillCpuset(h: Hierarchy, rel: string, dirs: CgroupDirs): void {
    const fd = dirs.dir(h.mount, rel);
    const shown = join(h.mount, rel);
    for (const f of ['cpus', 'mems'] as const) {
      if ((readCgroupFile(fd, `cpuset.${f}`, shown) ?? '').trim() !== '') continue;
      const parentRel = rel.split('/').slice(0, -1).join('/');
      const from = readCgroupFile(dirs.dir(h.mount, parentRel), `cpuset.${f}`, h.mount) ?? '';
      writeCgroupFile(fd, `cpuset.${f}`, from.trim(), shown);
    }
  }

  /**
   * Writes LIMITS to REL (restricted to KEYS; the unset ones reset). v1
   * refuses memory.limit_in_bytes above memory.memsw.limit_in_bytes and
   * the reverse: when one order fails, the other is tried.
   */
  writeLimits(rel: string, limits: Limits, keys?: readonly LimitKey[], dirs?: CgroupDirs): void {
    withCgroupDirs('set limits', (d) => this.writeLimitsIn(d, rel, limits, keys), dirs);
  }

  private writeLimitsIn(
    dirs: CgroupDirs,
    rel: string,
    limits: Limits,
    keys?: readonly LimitKey[],
  ): void {
    this.checkControllers(limits, 'set limits', rel.split('/').slice(0, -1).join('/'), dirs);
    const writes = limitWrites(this.version, limits, keys);
    const run = (list: typeof writes) => {
      for (const w of list) {
        const h = this.hierarchyOf(w.controller);
        if (!h) continue; // a reset of a controller the host lacks (checked above for set ones)
        const shown = join(h.mount, rel);
        ((fd: number) => {
          if (!hasCgroupFile(fd, w.file)) {
            if (w.optional) return;
            throw new IglooError(
              'EHOST',
              `Cannot apply the ${w.key} limit: ${join(shown, w.file)} does not exist`,
              {
                op: 'set limits',
                path: join(shown, w.file),
                hint:
                  w.key === 'memorySwap'
                    ? 'This kernel does not account swap (swapaccount=1); leave --memory-swap out'
                    : `Leave the ${w.key} limit out on this host`,
              },
            );
          }
          let value = w.value;
          if (value === undefined) {
            // v1 cpuset.cpus reset: the parent's CPUs
            const parentRel = rel.split('/').slice(0, -1).join('/');
            value = (readCgroupFile(dirs.dir(h.mount, parentRel), w.file, h.mount) ?? '').trim();
          }
          writeCgroupFile(fd, w.file, value, shown);
        })(dirs.dir(h.mount, rel));
      }
    };
    const memory = writes.filter((w) => w.key === 'memory' || w.key === 'memorySwap');
    const rest = writes.filter((w) => !memory.includes(w));
    try {
      run(memory);
    } catch (err) {
      if (!(err instanceof IglooError) || err.errno !== 'EINVAL') throw err;
      run([...memory].reverse());
    }
    run(rest);
  }

  /** The host's CPUs that REL's parent allows (v1 and v2 cpuset.cpus.effective or cpuset.cpus). */
  allowedCpus(rel: string): number[] | undefined {
    const h = this.hierarchyOf('cpuset');
    if (!h) return undefined;
    return withCgroupDir(h.mount, rel, 'read cgroup', (fd) => {
      const text =
        readCgroupFile(fd, 'cpuset.effective_cpus', h.mount) ??
        readCgroupFile(fd, 'cpuset.cpus.effective', h.mount) ??
        readCgroupFile(fd, 'cpuset.cpus', h.mount);
      return text === undefined ? undefined : cpuSetMembers(text);
    });
  }

  /** chown REL and its delegation files (and, for v1, in every hierarchy). */
  chown(rel: string, owner: { uid: number; gid: number }, dirs?: CgroupDirs): void {
    withCgroupDirs(
      'chown cgroup',
      (d) => {
        for (const h of this.hierarchies)
          chownCgroup(
            d.dir(h.mount, rel),
            delegationFiles(this.version),
            owner,
            join(h.mount, rel),
          );
      },
      dirs,
    );
  }

  /** Reads one number-or-max file of REL's CONTROLLER (ceilings, limits). */
  readValue(rel: string, controller: string, file: string, dirs?: CgroupDirs): string | undefined {
    const h = this.hierarchyOf(controller);
    if (!h) return undefined;
    try {
      return withCgroupDirs(
        'read cgroup',
        (d) => readCgroupFile(d.dir(h.mount, rel), file, join(h.mount, rel)),
        dirs,
      )?.trim();
    } catch {
      return undefined;
    }
  }

  /** Live usage of REL; fields of controllers the host lacks are left out. */
  usage(rel: string, dirs?: CgroupDirs): Usage {
    return withCgroupDirs('read cgroup', (d) => this.usageIn(rel, d), dirs);
  }

  private usageIn(rel: string, dirs: CgroupDirs): Usage {
    const f = USAGE_FILES[this.version];
    const read = (file: readonly [string, string]) => this.readValue(rel, file[0], file[1], dirs);
    const count = (file: readonly [string, string]) => parseCount(read(file) ?? '');
    const u: Usage = {};
    const current = count(f.memory);
    if (current !== undefined) {
      const events = parseFlatKeyed(read(f.memoryEvents) ?? '');
      const limit = count(f.memoryLimit);
      const peak = count(f.memoryPeak);
      u.memory = {
        current,
        ...(limit !== undefined && { limit }),
        ...(peak !== undefined && { peak }),
        failcnt: this.version === 1 ? Number(read(V1_FAILCNT) ?? 0) : (events[f.failcntKey] ?? 0),
        oomKills: events.oom_kill ?? 0,
      };
    }
    const stat = parseFlatKeyed(read(f.cpuStat) ?? '');
    const usageNs =
      this.version === 1 ? count(V1_CPUACCT) : stat.usage_usec && stat.usage_usec * 1000;
    const throttledNs =
      this.version === 1 ? stat.throttled_time : stat.throttled_usec && stat.throttled_usec * 1000;
    if (usageNs !== undefined)
      u.cpu = {
        usageNs,
        ...(stat.nr_periods !== undefined && { periods: stat.nr_periods }),
        ...(stat.nr_throttled !== undefined && { throttled: stat.nr_throttled }),
        ...(throttledNs !== undefined && { throttledNs }),
      };
    const pids = count(['pids', 'pids.current']);
    if (pids !== undefined) {
      const limit = count(['pids', 'pids.max']);
      u.pids = { current: pids, ...(limit !== undefined && { limit }) };
    }
    const io = read(f.io);
    if (io !== undefined) u.io = this.version === 1 ? parseBlkioBytes(io) : parseIoStat(io);
    const frozen = read(f.frozen);
    if (frozen !== undefined)
      u.frozen = this.version === 1 ? frozen === 'FROZEN' || frozen === 'FREEZING' : frozen === '1';
    return u;
  }

  /** Freezes (or thaws) REL and waits until the kernel says it is done. */
  async setFrozen(rel: string, frozen: boolean): Promise<void> {
    const h = this.version === 1 ? this.hierarchyOf('freezer') : this.hierarchies[0];
    if (!h)
      throw new IglooError('EHOST', 'Cannot freeze: this host has no cgroup freezer', {
        op: frozen ? 'freeze' : 'thaw',
        hint: 'Mount the v1 freezer controller, or use a cgroup v2 host',
      });
    const shown = join(h.mount, rel);
    const [file, value, done] =
      this.version === 1
        ? ['freezer.state', frozen ? 'FROZEN' : 'THAWED', frozen ? 'FROZEN' : 'THAWED']
        : ['cgroup.freeze', frozen ? '1' : '0', frozen ? 'frozen 1' : 'frozen 0'];
    const check = () =>
      withCgroupDir(h.mount, rel, frozen ? 'freeze' : 'thaw', (fd) => {
        const text =
          this.version === 1
            ? readCgroupFile(fd, file, shown)
            : readCgroupFile(fd, 'cgroup.events', shown);
        return (text ?? '').split('\n').some((l) => l.trim() === done);
      });
    withCgroupDir(h.mount, rel, frozen ? 'freeze' : 'thaw', (fd) =>
      writeCgroupFile(fd, file, value, shown),
    );
    for (let delay = 1; !check(); delay = Math.min(delay * 2, 50)) {
      if (frozen && this.version === 1)
        withCgroupDir(h.mount, rel, 'freeze', (fd) => writeCgroupFile(fd, file, value, shown));
      await new Promise((r) => setTimeout(r, delay));
    }
  }

  /** The pids in REL (the first hierarchy that has it). */
  pids(rel: string): number[] {
    for (const h of this.hierarchies) {
      try {
        return withCgroupDir(h.mount, rel, 'read cgroup', (fd) =>
          cgroupPids(fd, join(h.mount, rel)),
        );
      } catch {
        // not made in this hierarchy
      }
    }
    return [];
  }

  /**
   * Removes REL in every hierarchy once its processes are gone, waiting up
   * to `timeoutMs` for them to leave (the exit of a pid namespace's init
   * takes its other processes along, a moment later).
   */
  async remove(rel: string, timeoutMs = 5000): Promise<void> {
    const parent = rel.split('/').slice(0, -1).join('/');
    const name = rel.split('/').pop()!;
    const deadline = Date.now() + timeoutMs;
    for (const h of this.hierarchies) {
      for (let delay = 2; ; delay = Math.min(delay * 2, 100)) {
        try {
          withCgroupDir(h.mount, parent, 'remove cgroup', (fd) =>
            rmdirCgroupTree(fd, name, join(h.mount, parent)),
          );
          break;
        } catch (err) {
          if (err instanceof IglooError && err.errno === 'ENOENT') break;
          if (!(err instanceof IglooError) || err.code !== 'EBUSY' || Date.now() > deadline)
            throw err;
        }
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }
}

let cached: CgroupDriver | null | undefined;

/** The host's driver, or undefined when no usable cgroup hierarchy is mounted. */
export function cgroupDriver(): CgroupDriver | undefined {
  if (cached === undefined) {
    const host = detectCgroupHost();
    cached = host ? new CgroupDriver(host) : null;
  }
  return cached ?? undefined;
}
