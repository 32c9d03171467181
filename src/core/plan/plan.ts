/**
 * RunnableConfig -> LaunchPlan (a config whose seccomp profile is loaded,
 * core/config/runnable.ts). The plan is plain data: which namespaces to
 * create, the id maps the parent writes, and the ordered steps the native
 * helper executes in the new process. It is serialisable and snapshot-tested;
 * the helper makes no decisions of its own.
 */
import { boundingSet, capMaskHex } from '../caps.ts';
import type { ContainerConfig, NamespaceKind } from '../config/model.ts';
import type { RunnableConfig } from '../config/runnable.ts';
import { tryToOutside, type IdMaps } from '../idmap/index.ts';
import { containerFilter, encodeProgram } from '../seccomp/index.ts';
import { mountFlags } from './mount-flags.ts';

export type Step =
  | { op: 'rootfs'; path: string }
  | { op: 'mount'; source: string; target: string; fstype: string; flags: number; data: string }
  | { op: 'bind'; source: string; target: string; flags: number }
  | { op: 'mkdir'; path: string; mode: number }
  | { op: 'symlink'; target: string; path: string }
  /** The container's own process writes DATA as the whole file DST (beneath the root; resolv.conf). */
  | { op: 'writefile'; path: string; mode: number; data: string }
  | { op: 'pivot' }
  /** A fresh tmpfs on top of the rootfs: a one-shot container's files live in memory. */
  | { op: 'rootfstmpfs'; options: string }
  /**
   * Right after `rootfs`: an overlay on the rootfs whose lower layer is the
   * image directory `lower` (kept with its stored ids 0..65535) idmapped
   * through the container's user namespace; writes go to `upper` (PROTOCOL.md).
   */
  | { op: 'rootfsidmap'; lower: string; upper: string; work: string }
  /** The console pty, made from the container's devpts and bound onto /dev/console. */
  | { op: 'devconsole' }
  | { op: 'hostname'; name: string }
  /** Bring the network namespace's `lo` up (a new one starts with it down). */
  | { op: 'loopback' }
  | { op: 'chdir'; path: string }
  /**
   * chdir into the host directory `path`, opened before the process takes
   * its ids in its new user namespace: its parents need not be reachable
   * by those ids (PROTOCOL.md).
   */
  | { op: 'workdir'; path: string }
  | { op: 'rlimit'; resource: string; soft: number | 'unlimited'; hard: number | 'unlimited' }
  | { op: 'ids'; uid: number; gid: number; groups: readonly number[] }
  | { op: 'mask'; path: string }
  | { op: 'readonly'; path: string }
  | { op: 'caps'; keep: string }
  | { op: 'nnp' }
  | { op: 'seccomp'; program: string }
  /** The program's umask (OCI process.user.umask), octal, set just before exec. */
  | { op: 'umask'; mask: number }
  | { op: 'exec'; file: string; argv: readonly string[]; env: readonly string[] };

export type Console = 'inherit' | 'pty' | 'null';

export interface LaunchPlan {
  readonly version: 1;
  readonly kind: 'start' | 'exec';
  /**
   * created (start only, the OCI runtime's create): every step runs, then
   * the process waits on `gate` before exec and the helper exits after
   * READY (PROTOCOL.md). detached exec: the helper exits after READY.
   */
  readonly mode: 'foreground' | 'detached' | 'created';
  /** start: namespaces to create. exec: namespaces of `joinPid` to join. */
  readonly namespaces: readonly NamespaceKind[];
  readonly joinPid?: number;
  /**
   * exec: the start time of `joinPid` (field 22 of /proc/PID/stat): the
   * helper joins through a pidfd and checks it after opening the pidfd, so
   * a recycled pid cannot redirect the join. 0 or absent: no check.
   */
  readonly joinStart?: number;
  readonly console: Console;
  readonly rundir?: string;
  /**
   * detached with a pty: the monitor keeps the console's output in
   * DIR/console.log, at most 2 x MAX bytes (console.log and console.log.1).
   */
  readonly consoleLog?: ConsoleLog;
  /** Written by the helper (newuidmap or /proc) while the child waits. Empty for exec. */
  readonly idmap: IdMaps;
  /** start: a host process that lives as long as init (user-mode networking; PROTOCOL.md "Sidecar"). */
  readonly sidecar?: Sidecar;
  readonly steps: readonly Step[];
  /**
   * The cgroup.procs files (one per hierarchy) the container's process
   * joins before it runs anything (src/core/limits; PROTOCOL.md `cgroup`).
   */
  readonly cgroups?: readonly string[];
  /** mode created: the exec fifo the helper makes (it must not exist). */
  readonly gate?: string;
  /** start without a new user namespace: no maps and no PID/MAPPED exchange. */
  readonly nomaps?: boolean;
  /** start: namespaces joined by path before clone() (OCI linux.namespaces[].path). */
  readonly joins?: readonly { readonly kind: NamespaceKind; readonly path: string }[];
  /** console pty: the unix socket the pty master is sent to (the engine's). */
  readonly consoleSocket?: string;
}

/**
 * A container's cgroups: the cgroup.procs files its process joins, and the
 * mounts that show them inside (its cgroup namespace is rooted there).
 */
export interface CgroupJoin {
  readonly procs: readonly string[];
  readonly mounts: readonly Step[];
}

/** Host devices every container gets, bound read-write from the host's /dev. */
export const HOST_DEVICES = ['null', 'zero', 'full', 'random', 'urandom', 'tty'] as const;

/**
 * Paths in /proc and /sys a container must not read or write: files get
 * /dev/null bound over them, directories an empty read-only tmpfs. They
 * show kernel memory (kcore), the host's keys, timers and scheduler
 * internals that help kernel exploits (timer_list, sched_debug,
 * latency_stats), trigger the host's SysRq, or reach firmware and hardware.
 * Paths this kernel does not have are skipped.
 */
export const MASKED_PATHS: readonly string[] = [
  '/proc/acpi',
  '/proc/asound',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/proc/sysrq-trigger',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];

/** Kernel settings and hardware views made read-only (bound onto themselves, remounted ro). */
export const READONLY_PATHS: readonly string[] = [
  '/proc/bus',
  '/proc/fs',
  '/proc/irq',
  '/proc/sys',
];

/**
 * The capability, no_new_privs and seccomp steps around `ids` (PROTOCOL.md,
 * "Order of steps"). The filter is installed last, just before exec, so the
 * helper's own steps never run under it. Installing a filter needs either
 * no_new_privs or CAP_SYS_ADMIN in the user namespace: with no_new_privs
 * (the default) it comes after `ids`; without it, before `ids`, while the
 * process is still root of the namespace.
 */
function withHardening(config: RunnableConfig, ids: Step): Step[] {
  const caps: Step = { op: 'caps', keep: capMaskHex(boundingSet(config.caps)) };
  const program = seccompProgram(config);
  const seccomp: Step[] = program ? [{ op: 'seccomp', program }] : [];
  if (config.noNewPrivs) return [caps, { op: 'nnp' }, ids, ...seccomp];
  return [caps, ...seccomp, ids];
}

/**
 * The encoded filter of a config, remembered by what determines it (the
 * seccomp settings, the capabilities and nesting): assembling it takes about 2 ms,
 * which a program starting many containers would otherwise pay each time.
 */
const programs = new Map<string, string | undefined>();
function seccompProgram(config: RunnableConfig): string | undefined {
  const key = JSON.stringify([config.seccomp, config.caps, !!config.nesting]);
  if (programs.has(key)) return programs.get(key);
  const filter = containerFilter(config);
  const program = filter && encodeProgram(filter);
  if (programs.size >= 32) programs.delete(programs.keys().next().value!);
  programs.set(key, program);
  return program;
}

/** The mounts of a system container, in the order they must happen (see PROTOCOL.md). */
export function containerMounts(config: ContainerConfig): Step[] {
  const steps: Step[] = [{ op: 'rootfs', path: config.rootfs }];
  steps.push({
    op: 'mount',
    source: 'proc',
    target: '/proc',
    fstype: 'proc',
    flags: mountFlags('NOSUID', 'NODEV', 'NOEXEC'),
    data: '',
  });
  steps.push({
    op: 'mount',
    source: 'tmpfs',
    target: '/dev',
    fstype: 'tmpfs',
    flags: mountFlags('NOSUID', 'STRICTATIME'),
    data: 'mode=755,size=65536k',
  });
  for (const dev of HOST_DEVICES) {
    steps.push({
      op: 'bind',
      source: `/dev/${dev}`,
      target: `/dev/${dev}`,
      flags: mountFlags('NOSUID', 'NOEXEC'),
    });
  }
  // devpts: a private instance, so the container's ptys are its own. gid=5
  // (tty) only when the container maps it, or the mount is refused.
  const ttyGid = tryToOutside(config.idmap.gid, 5) !== undefined ? ',gid=5' : '';
  steps.push({
    op: 'mount',
    source: 'devpts',
    target: '/dev/pts',
    fstype: 'devpts',
    flags: mountFlags('NOSUID', 'NOEXEC'),
    data: `newinstance,ptmxmode=0666,mode=0620${ttyGid}`,
  });
  steps.push({ op: 'symlink', target: 'pts/ptmx', path: '/dev/ptmx' });
  steps.push({
    op: 'mount',
    source: 'shm',
    target: '/dev/shm',
    fstype: 'tmpfs',
    flags: mountFlags('NOSUID', 'NODEV', 'NOEXEC'),
    data: 'mode=1777,size=65536k',
  });
  if (config.namespaces.includes('ipc')) {
    steps.push({
      op: 'mount',
      source: 'mqueue',
      target: '/dev/mqueue',
      fstype: 'mqueue',
      flags: mountFlags('NOSUID', 'NODEV', 'NOEXEC'),
      data: '',
    });
  }
  steps.push({ op: 'symlink', target: '/proc/self/fd', path: '/dev/fd' });
  for (const [i, name] of ['stdin', 'stdout', 'stderr'].entries()) {
    steps.push({ op: 'symlink', target: `/proc/self/fd/${i}`, path: `/dev/${name}` });
  }
  // sysfs may only be mounted by the owner of the network namespace; without
  // a new one, the host's /sys is bound read-only instead.
  if (config.namespaces.includes('net')) {
    steps.push({
      op: 'mount',
      source: 'sysfs',
      target: '/sys',
      fstype: 'sysfs',
      flags: mountFlags('RDONLY', 'NOSUID', 'NODEV', 'NOEXEC'),
      data: '',
    });
  } else {
    steps.push({
      op: 'bind',
      source: '/sys',
      target: '/sys',
      flags: mountFlags('REC', 'RDONLY', 'NOSUID', 'NODEV', 'NOEXEC'),
    });
  }
  for (const m of config.mounts) {
    steps.push({
      op: 'bind',
      source: m.source,
      target: m.target,
      flags: mountFlags('REC', 'NOSUID', 'NODEV') | (m.readonly ? mountFlags('RDONLY') : 0),
    });
  }
  // A nesting container leaves /proc and /sys whole: with any of them
  // masked, the kernel refuses the nested container's own proc and sysfs.
  if (!config.nesting) {
    for (const path of READONLY_PATHS) steps.push({ op: 'readonly', path });
    for (const path of MASKED_PATHS) steps.push({ op: 'mask', path });
  }
  return steps;
}

/** The steps that make the container's process itself: where, limits, who, hardening, what. */
function processSteps(
  config: RunnableConfig,
  p: {
    cwd: string;
    user: { uid: number; gid: number; groups: readonly number[] };
    argv: readonly string[];
    env: readonly string[];
  },
): Step[] {
  return [
    { op: 'chdir', path: p.cwd },
    ...config.rlimits.map((r) => ({
      op: 'rlimit' as const,
      resource: r.type,
      soft: r.soft,
      hard: r.hard,
    })),
    ...withHardening(config, {
      op: 'ids',
      uid: p.user.uid,
      gid: p.user.gid,
      groups: p.user.groups,
    }),
    { op: 'exec', file: p.argv[0]!, argv: p.argv, env: p.env },
  ];
}

/** What a busybox system needs, made in memory by the helper (no files on disk). */
export interface MemoryRootfs {
  /** The host's static busybox, bound read-only as /bin/busybox. */
  readonly busybox: string;
  /** Applet paths as `busybox --list-full` prints them ("bin/ls"). */
  readonly applets: readonly string[];
}

const MEMORY_DIRS: ReadonlyArray<readonly [string, number]> = [
  ['/bin', 0o755],
  ['/sbin', 0o755],
  ['/usr/bin', 0o755],
  ['/usr/sbin', 0o755],
  ['/etc', 0o755],
  ['/root', 0o700],
  ['/tmp', 0o1777],
  ['/home', 0o755],
  ['/run', 0o755],
  ['/var/tmp', 0o1777],
];

/**
 * The steps that fill a tmpfs rootfs with a busybox system: nothing is built
 * on disk and nothing is left to remove, so a one-shot `igloo run` costs one
 * helper and no work in a user namespace.
 */
export function memoryRootfsSteps(m: MemoryRootfs): Step[] {
  const steps: Step[] = [{ op: 'rootfstmpfs', options: 'mode=0755,size=65536k' }];
  for (const [path, mode] of MEMORY_DIRS) steps.push({ op: 'mkdir', path, mode });
  steps.push({
    op: 'bind',
    source: m.busybox,
    target: '/bin/busybox',
    flags: mountFlags('RDONLY', 'NOSUID', 'NODEV'),
  });
  for (const applet of m.applets) {
    if (applet === 'bin/busybox' || applet.split('/').includes('..')) continue;
    const depth = applet.split('/').length - 1;
    steps.push({ op: 'symlink', target: `${'../'.repeat(depth)}bin/busybox`, path: `/${applet}` });
  }
  return steps;
}

export interface ConsoleLog {
  readonly dir: string;
  readonly maxBytes: number;
}

export interface StartOptions {
  readonly mode: 'foreground' | 'detached';
  readonly console: Console;
  readonly rundir?: string;
  /** Where the monitor keeps the console's output (detached, pty). */
  readonly consoleLog?: ConsoleLog;
  /** Replaces the config's init command (igloo run -- CMD). */
  readonly command?: readonly string[];
  /** Build the rootfs in memory instead of using the one on disk. */
  readonly memoryRootfs?: MemoryRootfs;
  /** The rootfs is an overlay of a shared image (root's containers; see IdmappedRootfs). */
  readonly idmappedRootfs?: IdmappedRootfs;
  /** The container's cgroups (limits, usage, freezer); absent: none. */
  readonly cgroup?: CgroupJoin;
  /** What the container's network adds (lifecycle/network.ts prepareNetwork). */
  readonly network?: NetLaunch;
}

/**
 * What a container's network adds to its launch plan (user mode; see
 * docs/network.md). The helper starts `sidecar` once the container's
 * namespaces exist, before its first process runs, and keeps it running
 * while init runs (PROTOCOL.md, "Sidecar").
 */
export interface NetLaunch {
  readonly sidecar?: Sidecar;
  /** Files the container's own process writes beneath its root before pivot (resolv.conf). */
  readonly files?: readonly {
    readonly path: string;
    readonly mode: number;
    readonly data: string;
  }[];
}

export interface Sidecar {
  /** argv[0] is an absolute host path; it gets fd 3 (its ready pipe), 4 (init's netns), 5 (init's userns). */
  readonly argv: readonly string[];
  /** The owner's directory where the helper keeps sidecar.log (its output) and sidecar.pid. */
  readonly dir: string;
  /** After each (re)start: each message sent on a new connection to the unix socket, one reply read. */
  readonly calls: readonly { readonly socket: string; readonly message: string }[];
}

/**
 * A container whose rootfs is an overlay: `image` is the shared image
 * directory (stored ids), idmapped through the container's user namespace
 * as the lower layer; `upper` and `work` are the container's own.
 */
export interface IdmappedRootfs {
  readonly image: string;
  readonly upper: string;
  readonly work: string;
}

export function planStart(config: RunnableConfig, opts: StartOptions): LaunchPlan {
  const argv = opts.command ?? config.init;
  const mounts = containerMounts(config);
  if (opts.cgroup) mounts.push(...opts.cgroup.mounts);
  if (opts.memoryRootfs) mounts.splice(1, 0, ...memoryRootfsSteps(opts.memoryRootfs));
  else if (opts.idmappedRootfs) {
    if (!config.namespaces.includes('user'))
      throw new Error('an idmapped rootfs needs a user namespace: its map is the idmapping');
    const { image, upper, work } = opts.idmappedRootfs;
    mounts.splice(1, 0, { op: 'rootfsidmap', lower: image, upper, work });
  }
  const netFiles = (opts.network?.files ?? []).map((f) => ({ op: 'writefile' as const, ...f }));
  const steps: Step[] = [
    ...mounts,
    ...netFiles,
    { op: 'pivot' },
    // A system container's init (and its gettys) use /dev/console. A
    // foreground run with a pty makes it at exec, as `igloo exec -t` does
    // (and as the native front runs the one-shot slot's plan with a pty).
    ...(opts.console === 'pty' && opts.mode === 'detached' ? [{ op: 'devconsole' as const }] : []),
    ...(config.namespaces.includes('uts')
      ? [{ op: 'hostname' as const, name: config.hostname }]
      : []),
    // none: a network namespace with nothing up, not even lo.
    ...(config.namespaces.includes('net') && config.net?.mode !== 'none'
      ? [{ op: 'loopback' as const }]
      : []),
    ...processSteps(config, { cwd: config.cwd, user: config.user, argv, env: config.env }),
  ];
  return {
    version: 1,
    kind: 'start',
    mode: opts.mode,
    namespaces: config.namespaces,
    console: opts.console,
    ...(opts.rundir !== undefined && { rundir: opts.rundir }),
    ...(opts.consoleLog !== undefined && { consoleLog: opts.consoleLog }),
    idmap: config.idmap,
    ...(opts.network?.sidecar && { sidecar: opts.network.sidecar }),
    steps,
    ...(opts.cgroup && { cgroups: opts.cgroup.procs }),
  };
}

export interface ExecOptions {
  readonly pid: number;
  /** The start time of `pid` (see LaunchPlan.joinStart); 0 or absent: unchecked. */
  readonly start?: number;
  readonly argv: readonly string[];
  readonly env: readonly string[];
  readonly cwd: string;
  readonly user: { uid: number; gid: number; groups: readonly number[] };
  readonly tty: boolean;
  /** The container's cgroup.procs files: the process joins them too. */
  readonly cgroups?: readonly string[];
}

export function planExec(config: RunnableConfig, opts: ExecOptions): LaunchPlan {
  return {
    version: 1,
    kind: 'exec',
    mode: 'foreground',
    namespaces: config.namespaces,
    joinPid: opts.pid,
    ...(opts.start ? { joinStart: opts.start } : {}),
    console: opts.tty ? 'pty' : 'inherit',
    idmap: { uid: [], gid: [] },
    // Joining namespaces inherits none of the limits, caps or filter: the
    // process gets the same ones as init.
    steps: processSteps(config, opts),
    ...(opts.cgroups?.length && { cgroups: opts.cgroups }),
  };
}

/**
 * A directory the task works in although its ids cannot reach it by path
 * (it lies below the owner's 0700 directory and the map has none of the
 * owner's ids): the helper opens it before the process takes those ids and
 * makes it the working directory. With `mountAt` (and a mount namespace)
 * it is also bound onto that host path, for a program that wants an
 * absolute path (debootstrap).
 */
export interface UsernsWorkdir {
  path: string;
  mountAt?: string;
}

/**
 * A plain user namespace with the given maps, no other namespace and no
 * mounts: the process runs as root of that namespace in the host's file
 * system. igloo uses it to make and remove files that belong to a
 * container's ids (as LXC's unprivileged templates and `podman unshare` do).
 */
export function planUserns(
  idmap: IdMaps,
  argv: readonly string[],
  env: readonly string[],
  cwd: string,
  namespaces: readonly NamespaceKind[] = ['user'],
  workdir?: UsernsWorkdir,
): LaunchPlan {
  const start: Step[] = workdir
    ? [
        { op: 'workdir', path: workdir.path },
        ...(workdir.mountAt
          ? [{ op: 'bind', source: '.', target: workdir.mountAt, flags: 0 } as const]
          : []),
      ]
    : [{ op: 'chdir', path: cwd }];
  return {
    version: 1,
    kind: 'start',
    mode: 'foreground',
    namespaces,
    console: 'inherit',
    idmap,
    steps: [
      ...start,
      { op: 'ids', uid: 0, gid: 0, groups: [] },
      { op: 'exec', file: argv[0]!, argv, env },
    ],
  };
}

/** The fields of a step's record, after its name. */
type Fields = ReadonlyArray<string | number>;

/**
 * How each step is written after its name, one entry per op, in the order of
 * the STEP rows of the helper's own op table (src/native/ops.h); the mapped
 * type makes the compiler demand an entry for every op (PROTOCOL.md, "Plan
 * encoding").
 */
const STEP_FIELDS: { readonly [K in Step['op']]: (s: Extract<Step, { op: K }>) => Fields } = {
  rootfs: (s) => [s.path],
  rootfstmpfs: (s) => [s.options],
  rootfsidmap: (s) => [s.lower, s.upper, s.work],
  mount: (s) => [s.source, s.target, s.fstype, s.flags, s.data],
  bind: (s) => [s.source, s.target, s.flags],
  mkdir: (s) => [s.path, s.mode.toString(8)],
  symlink: (s) => [s.target, s.path],
  writefile: (s) => [s.path, s.mode.toString(8), s.data],
  pivot: () => [],
  devconsole: () => [],
  hostname: (s) => [s.name],
  loopback: () => [],
  chdir: (s) => [s.path],
  workdir: (s) => [s.path],
  rlimit: (s) => [s.resource, s.soft, s.hard],
  mask: (s) => [s.path],
  readonly: (s) => [s.path],
  caps: (s) => [s.keep],
  nnp: () => [],
  ids: (s) => [s.uid, s.gid, s.groups.length, ...s.groups],
  seccomp: (s) => [s.program],
  umask: (s) => [s.mask.toString(8)],
  exec: (s) => [s.file, s.argv.length, ...s.argv, s.env.length, ...s.env],
};

function stepFields(s: Step): Fields {
  // TypeScript cannot correlate STEP_FIELDS[s.op] with s; the table's type
  // already ties each entry to its own op.
  const fields = STEP_FIELDS[s.op] as (s: Step) => Fields;
  return fields(s);
}

/** Encodes a plan for the helper: NUL-terminated strings (PROTOCOL.md). */
export function encodePlan(plan: LaunchPlan): string {
  const out: string[] = ['igloo-plan', '1'];
  const rec = (...fields: Array<string | number>) => {
    for (const f of fields) {
      const s = String(f);
      if (s.includes('\0')) throw new Error(`plan field contains NUL: ${JSON.stringify(s)}`);
      out.push(s);
    }
  };
  if (plan.kind === 'exec') {
    rec('join', plan.joinPid ?? 0, plan.namespaces.join(','));
    if (plan.joinStart) rec('joinstart', plan.joinStart);
  } else rec('namespaces', plan.namespaces.join(','));
  rec('mode', plan.mode);
  rec('console', plan.console);
  if (plan.rundir !== undefined) rec('rundir', plan.rundir);
  if (plan.consoleLog !== undefined)
    rec('consolelog', plan.consoleLog.dir, plan.consoleLog.maxBytes);
  if (plan.kind === 'start' && plan.namespaces.includes('user')) {
    // The helper installs the maps itself (as root, or with newuidmap/newgidmap).
    for (const kind of ['uid', 'gid'] as const) {
      const map = plan.idmap[kind];
      if (map.length > 0)
        rec('idmap', kind, map.length, ...map.flatMap((e) => [e.inside, e.outside, e.count]));
    }
  }
  for (const c of plan.cgroups ?? []) rec('cgroup', c);
  if (plan.gate !== undefined) rec('gate', plan.gate);
  if (plan.nomaps) rec('nomaps');
  for (const j of plan.joins ?? []) rec('joinns', j.kind, j.path);
  if (plan.consoleSocket !== undefined) rec('consolesocket', plan.consoleSocket);
  if (plan.sidecar) {
    const { dir, argv, calls } = plan.sidecar;
    rec('sidecar', dir, argv.length, ...argv);
    for (const c of calls) rec('sidecarcall', c.socket, c.message);
  }
  for (const s of plan.steps) rec(s.op, ...stepFields(s));
  return out.map((s) => `${s}\0`).join('');
}
