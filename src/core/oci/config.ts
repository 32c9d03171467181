/**
 * An OCI bundle's config.json (runtime-spec 1.x, the subset igloo runs) read
 * into an OciLaunch: what to create and join, the id maps, the mounts as
 * plan steps, the process, masks, sysctls, devices, hooks, seccomp and the
 * cgroup request. Pure: the caller reads the file and hands the JSON and
 * the bundle's path. Every refusal names the field and what to do.
 *
 * Deliberately not supported (refused with ENOTSUP, never silently
 * ignored): the time namespace, idmap/ridmap mount options, ambient
 * capabilities of a process that is not uid 0, createContainer/startContainer hooks, process.user.username
 * (Windows), intelRdt, personality. Accepted and ignored, as the spec
 * allows where the host lacks the feature: apparmorProfile, selinuxLabel,
 * mountLabel (no LSM is loaded here), the z/Z relabel options.
 */
import { posix } from 'node:path';
import { capName } from '../caps.ts';
import type { NamespaceKind, Rlimit } from '../config/model.ts';
import { IglooError } from '../errors.ts';
import type { IdMapEntry, IdMaps } from '../idmap/index.ts';
import { MS } from '../plan/mount-flags.ts';
import type { Step } from '../plan/plan.ts';

type Json = Record<string, unknown>;

export const OCI_VERSION = '1.0.2';

export type HookKind =
  'prestart' | 'createRuntime' | 'createContainer' | 'startContainer' | 'poststart' | 'poststop';
export const HOOK_KINDS: readonly HookKind[] = [
  'prestart',
  'createRuntime',
  'createContainer',
  'startContainer',
  'poststart',
  'poststop',
];

export interface OciHook {
  readonly path: string;
  readonly args: readonly string[];
  readonly env: readonly string[];
  /** Seconds; absent: no limit. */
  readonly timeout?: number;
}

export interface OciProcess {
  readonly terminal: boolean;
  readonly args: readonly string[];
  readonly env: readonly string[];
  readonly cwd: string;
  readonly uid: number;
  readonly gid: number;
  readonly groups: readonly number[];
  readonly umask?: number;
  readonly rlimits: readonly Rlimit[];
  /** The bounding set, as igloo's capability names (no cap_ prefix). */
  readonly bounding: readonly string[];
  readonly noNewPrivileges: boolean;
  readonly oomScoreAdj?: number;
}

export interface OciDevice {
  readonly path: string;
  readonly type: 'c' | 'b' | 'u' | 'p';
  readonly major: number;
  readonly minor: number;
}

export interface OciLaunch {
  /** Absolute host path of the root file system. */
  readonly rootfs: string;
  readonly rootReadonly: boolean;
  readonly hostname?: string;
  /** Namespaces to create. */
  readonly create: readonly NamespaceKind[];
  /** Namespaces to join by path. */
  readonly joins: readonly { readonly kind: NamespaceKind; readonly path: string }[];
  /** Empty without a new user namespace. */
  readonly idmap: IdMaps;
  /** mount/bind/symlink steps, in config order, then the default /dev entries. */
  readonly mounts: readonly Step[];
  readonly devices: readonly OciDevice[];
  readonly maskedPaths: readonly string[];
  readonly readonlyPaths: readonly string[];
  readonly sysctl: readonly (readonly [string, string])[];
  readonly rootfsPropagation?: string;
  readonly process: OciProcess;
  /** linux.seccomp as given (parsed by core/seccomp's parseOciProfile when planned). */
  readonly seccomp?: unknown;
  readonly hooks: { readonly [K in HookKind]: readonly OciHook[] };
  readonly cgroupsPath?: string;
  readonly resources?: Json;
  readonly annotations: Readonly<Record<string, string>>;
}

const NS_KINDS: Readonly<Record<string, NamespaceKind>> = {
  pid: 'pid',
  network: 'net',
  mount: 'mnt',
  ipc: 'ipc',
  uts: 'uts',
  user: 'user',
  cgroup: 'cgroup',
};

/** OCI's namespace type for igloo's kind (the reverse of NS_KINDS). */
export function ociNamespaceType(kind: NamespaceKind): string {
  return Object.entries(NS_KINDS).find(([, k]) => k === kind)![0];
}

const RLIMITS = new Set([
  'RLIMIT_CPU',
  'RLIMIT_FSIZE',
  'RLIMIT_DATA',
  'RLIMIT_STACK',
  'RLIMIT_CORE',
  'RLIMIT_RSS',
  'RLIMIT_NPROC',
  'RLIMIT_NOFILE',
  'RLIMIT_MEMLOCK',
  'RLIMIT_AS',
  'RLIMIT_LOCKS',
  'RLIMIT_SIGPENDING',
  'RLIMIT_MSGQUEUE',
  'RLIMIT_NICE',
  'RLIMIT_RTPRIO',
  'RLIMIT_RTTIME',
]);

/** Mount options that set (true) or clear (false) a flag. */
const FLAG_OPTIONS: Readonly<Record<string, readonly [number, boolean]>> = {
  ro: [MS.RDONLY, true],
  rw: [MS.RDONLY, false],
  nosuid: [MS.NOSUID, true],
  suid: [MS.NOSUID, false],
  nodev: [MS.NODEV, true],
  dev: [MS.NODEV, false],
  noexec: [MS.NOEXEC, true],
  exec: [MS.NOEXEC, false],
  sync: [16, true],
  async: [16, false],
  dirsync: [128, true],
  mand: [64, true],
  nomand: [64, false],
  noatime: [1024, true],
  atime: [1024, false],
  nodiratime: [2048, true],
  diratime: [2048, false],
  relatime: [MS.RELATIME, true],
  norelatime: [MS.RELATIME, false],
  strictatime: [MS.STRICTATIME, true],
  nostrictatime: [MS.STRICTATIME, false],
  nosymfollow: [256, true],
  symfollow: [256, false],
};

/** Options that only set propagation, or are accepted and ignored (no LSM here). */
const IGNORED_OPTIONS = new Set([
  'defaults',
  'private',
  'rprivate',
  'shared',
  'rshared',
  'slave',
  'rslave',
  'unbindable',
  'runbindable',
  'z',
  'Z',
  'rro',
  'rrw',
  'rnosuid',
  'rnodev',
  'rnoexec',
]);

/** What the bind step may carry (PROTOCOL.md `bind`). */
const BIND_KEEPS = MS.REC | MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC;

export interface OciReadContext {
  /** Absolute path of the bundle (relative paths in config.json are against it). */
  readonly bundle: string;
}

class Reader {
  constructor(readonly path: string) {}

  fail(field: string, what: string, hint: string, code: 'EINVAL' | 'ENOTSUP' = 'EINVAL'): never {
    throw new IglooError(code, `Invalid OCI config ${field}: ${what}`, {
      op: 'read config.json',
      path: this.path,
      subject: field,
      hint,
    });
  }

  obj(v: unknown, field: string): Json {
    if (v === undefined) return {};
    if (typeof v !== 'object' || v === null || Array.isArray(v))
      return this.fail(field, 'not a JSON object', 'Give an object, as in `igloo oci spec`');
    return v as Json;
  }

  arr(v: unknown, field: string): unknown[] {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) return this.fail(field, 'not an array', 'Give a JSON array');
    return v;
  }

  str(v: unknown, field: string): string {
    if (typeof v !== 'string') return this.fail(field, 'not a string', 'Give a string');
    return v;
  }

  optStr(v: unknown, field: string): string | undefined {
    return v === undefined ? undefined : this.str(v, field);
  }

  strings(v: unknown, field: string): string[] {
    return this.arr(v, field).map((s, i) => this.str(s, `${field}[${i}]`));
  }

  uint(v: unknown, field: string, max = 0xffffffff): number {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max)
      return this.fail(
        field,
        `${JSON.stringify(v)} is not a whole number 0..${max}`,
        'Fix the number',
      );
    return v;
  }

  int(v: unknown, field: string, min: number, max: number): number {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
      return this.fail(
        field,
        `${JSON.stringify(v)} is not a whole number ${min}..${max}`,
        'Fix the number',
      );
    return v;
  }

  bool(v: unknown, field: string): boolean {
    if (v === undefined) return false;
    if (typeof v !== 'boolean') return this.fail(field, 'not true or false', 'Give a boolean');
    return v;
  }
}

function readMaps(r: Reader, v: unknown, field: string): IdMapEntry[] {
  return r.arr(v, field).map((e, i) => {
    const o = r.obj(e, `${field}[${i}]`);
    const count = r.uint(o.size, `${field}[${i}].size`);
    if (count === 0) r.fail(`${field}[${i}].size`, 'is 0', 'A mapping maps at least one id');
    return {
      inside: r.uint(o.containerID, `${field}[${i}].containerID`),
      outside: r.uint(o.hostID, `${field}[${i}].hostID`),
      count,
    };
  });
}

function readNamespaces(r: Reader, v: unknown): Pick<OciLaunch, 'create' | 'joins'> {
  const create: NamespaceKind[] = [];
  const joins: { kind: NamespaceKind; path: string }[] = [];
  const seen = new Set<string>();
  r.arr(v, 'linux.namespaces').forEach((e, i) => {
    const field = `linux.namespaces[${i}]`;
    const o = r.obj(e, field);
    const type = r.str(o.type, `${field}.type`);
    if (type === 'time')
      r.fail(
        `${field}.type`,
        'the time namespace is not supported',
        'Remove it (igloo-runc features lists what is)',
        'ENOTSUP',
      );
    const kind = NS_KINDS[type];
    if (!kind)
      r.fail(
        `${field}.type`,
        `unknown namespace type "${type}"`,
        `Use one of ${Object.keys(NS_KINDS).join(', ')}`,
      );
    if (seen.has(type))
      r.fail(`${field}.type`, `namespace "${type}" is listed twice`, 'List each namespace once');
    seen.add(type);
    const path = r.optStr(o.path, `${field}.path`);
    if (path === undefined || path === '') create.push(kind);
    else {
      if (!path.startsWith('/'))
        r.fail(
          `${field}.path`,
          `"${path}" is not absolute`,
          'Give the namespace file, e.g. /proc/PID/ns/net',
        );
      joins.push({ kind, path });
    }
  });
  return { create, joins };
}

/** `rootfs/...` or the bundle-relative `root.path` made absolute. */
function absolute(bundle: string, path: string): string {
  return posix.normalize(path.startsWith('/') ? path : posix.join(bundle, path));
}

interface MountContext {
  readonly bundle: string;
  readonly create: readonly NamespaceKind[];
}

function readMount(r: Reader, e: unknown, i: number, ctx: MountContext): Step[] {
  const field = `mounts[${i}]`;
  const o = r.obj(e, field);
  const target = r.str(o.destination, `${field}.destination`);
  if (!target.startsWith('/'))
    r.fail(
      `${field}.destination`,
      `"${target}" is not absolute`,
      'Give a path in the container, e.g. /data',
    );
  const type = r.optStr(o.type, `${field}.type`) ?? '';
  const options = r.strings(o.options, `${field}.options`);
  let source = r.optStr(o.source, `${field}.source`) ?? type;
  let flags = 0;
  let bind = type === 'bind';
  let rec = false;
  const data: string[] = [];
  for (const opt of options) {
    if (opt === 'bind') bind = true;
    else if (opt === 'rbind') {
      bind = true;
      rec = true;
    } else if (opt === 'idmap' || opt === 'ridmap')
      r.fail(
        `${field}.options`,
        `"${opt}" (idmapped bind mounts) is not supported by igloo-runc yet`,
        'Leave it out and give the files the container ids, or use a user namespace map that covers them',
        'ENOTSUP',
      );
    else if (opt === 'remount')
      r.fail(`${field}.options`, '"remount" makes no sense in a new container', 'Leave it out');
    else if (opt === 'tmpcopyup')
      r.fail(`${field}.options`, '"tmpcopyup" is not supported', 'Leave it out', 'ENOTSUP');
    else if (FLAG_OPTIONS[opt]) {
      const [bit, set] = FLAG_OPTIONS[opt];
      flags = set ? flags | bit : flags & ~bit;
    } else if (!IGNORED_OPTIONS.has(opt)) data.push(opt);
  }
  if (options.includes('rro')) flags |= MS.RDONLY;
  if (bind) {
    if (source === '' || source === 'bind')
      r.fail(`${field}.source`, 'a bind mount needs a source', 'Give the host path to bind');
    source = absolute(ctx.bundle, source);
    return [{ op: 'bind', source, target, flags: (flags | (rec ? MS.REC : 0)) & BIND_KEEPS }];
  }
  if (type === '')
    r.fail(
      `${field}.type`,
      'a mount that is not a bind needs a type',
      'Give a file system type, e.g. tmpfs',
    );
  // sysfs belongs to the owner of the network namespace: a new user
  // namespace without a new network namespace gets the host's, read-only
  // (runc does the same).
  if (type === 'sysfs' && ctx.create.includes('user') && !ctx.create.includes('net'))
    return [
      {
        op: 'bind',
        source: '/sys',
        target,
        flags: MS.REC | MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC,
      },
    ];
  // A cgroup file system: this host may run cgroup v1 (a hierarchy per
  // controller); the host's tree is shown read-only, as runc does without
  // a cgroup namespace.
  if (type === 'cgroup' || type === 'cgroup2')
    return [
      {
        op: 'bind',
        source: '/sys/fs/cgroup',
        target,
        flags: MS.REC | MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC,
      },
    ];
  return [{ op: 'mount', source, target, fstype: type, flags, data: data.join(',') }];
}

/** Host devices every OCI container gets (runtime-spec "Default devices"). */
export const DEFAULT_DEVICES = ['null', 'zero', 'full', 'random', 'urandom', 'tty'] as const;

/** What every container's /dev holds when config.json mounts a fresh /dev. */
function defaultDev(mounts: readonly Step[], devices: readonly OciDevice[]): Step[] {
  const targets = new Set(mounts.map((m) => ('target' in m ? m.target : '')));
  if (!mounts.some((m) => m.op === 'mount' && m.target === '/dev')) return [];
  const steps: Step[] = [];
  for (const dev of DEFAULT_DEVICES) {
    const path = `/dev/${dev}`;
    if (targets.has(path) || devices.some((d) => d.path === path)) continue;
    steps.push({ op: 'bind', source: path, target: path, flags: MS.NOSUID | MS.NOEXEC });
  }
  steps.push({ op: 'symlink', target: '/proc/self/fd', path: '/dev/fd' });
  for (const [i, name] of ['stdin', 'stdout', 'stderr'].entries())
    steps.push({ op: 'symlink', target: `/proc/self/fd/${i}`, path: `/dev/${name}` });
  if (!targets.has('/dev/ptmx'))
    steps.push({ op: 'symlink', target: 'pts/ptmx', path: '/dev/ptmx' });
  return steps;
}

function readProcess(r: Reader, v: unknown): OciProcess {
  const o = r.obj(v, 'process');
  if (v === undefined)
    r.fail('process', 'is missing', 'A container needs process.args (igloo oci spec writes one)');
  const args = r.strings(o.args, 'process.args');
  if (args.length === 0 || args[0] === '')
    r.fail('process.args', 'is empty', 'Name the program to run, e.g. ["sh"]');
  if (o.commandLine !== undefined)
    r.fail('process.commandLine', 'is for Windows', 'Use process.args', 'ENOTSUP');
  const cwd = r.optStr(o.cwd, 'process.cwd') ?? '/';
  if (!cwd.startsWith('/'))
    r.fail('process.cwd', `"${cwd}" is not absolute`, 'Give an absolute path');
  const user = r.obj(o.user, 'process.user');
  if (user.username !== undefined)
    r.fail('process.user.username', 'is for Windows', 'Give process.user.uid and gid', 'ENOTSUP');
  const rlimits: Rlimit[] = [];
  r.arr(o.rlimits, 'process.rlimits').forEach((e, i) => {
    const f = `process.rlimits[${i}]`;
    const rl = r.obj(e, f);
    const type = r.str(rl.type, `${f}.type`);
    if (!RLIMITS.has(type))
      r.fail(`${f}.type`, `unknown rlimit "${type}"`, `Use one of ${[...RLIMITS].join(', ')}`);
    if (rlimits.some((x) => x.type === type))
      r.fail(`${f}.type`, `${type} is given twice`, 'Give each rlimit once');
    const num = (x: unknown, n: string) =>
      typeof x === 'number' && x >= 2 ** 63 ? 'unlimited' : r.uint(x, n, Number.MAX_SAFE_INTEGER);
    const hard = num(rl.hard, `${f}.hard`);
    const soft = num(rl.soft, `${f}.soft`);
    if (hard !== 'unlimited' && (soft === 'unlimited' || soft > hard))
      r.fail(`${f}.soft`, `soft ${String(soft)} is above hard ${hard}`, 'Make soft at most hard');
    rlimits.push({ type, soft, hard });
  });
  const capsObj = r.obj(o.capabilities, 'process.capabilities');
  const capList = (key: string): string[] =>
    r.strings(capsObj[key], `process.capabilities.${key}`).map((c) => {
      const name = capName(c);
      if (!name)
        r.fail(
          `process.capabilities.${key}`,
          `unknown capability "${c}"`,
          'Use names such as CAP_CHOWN',
        );
      return name;
    });
  const bounding = capList('bounding');
  for (const set of ['effective', 'permitted', 'inheritable'] as const) capList(set);
  // The ambient set matters to a process that is not uid 0 (root gets its
  // permitted and effective sets from the bounding set at exec anyway), and
  // the helper clears it: accepted for uid 0, as `runc spec` writes it.
  if (capList('ambient').length > 0 && (user.uid ?? 0) !== 0)
    r.fail(
      'process.capabilities.ambient',
      'ambient capabilities for a process that is not uid 0 are not supported (igloo clears the ambient set)',
      'Leave it empty, or run the process as uid 0 (it then has the bounding set)',
      'ENOTSUP',
    );
  const umask =
    user.umask === undefined ? undefined : r.uint(user.umask, 'process.user.umask', 0o777);
  const oom =
    o.oomScoreAdj === undefined
      ? undefined
      : r.int(o.oomScoreAdj, 'process.oomScoreAdj', -1000, 1000);
  return {
    terminal: r.bool(o.terminal, 'process.terminal'),
    args,
    env: r.strings(o.env, 'process.env'),
    cwd,
    uid: r.uint(user.uid ?? 0, 'process.user.uid', 0xfffffffe),
    gid: r.uint(user.gid ?? 0, 'process.user.gid', 0xfffffffe),
    groups: r
      .arr(user.additionalGids, 'process.user.additionalGids')
      .map((g, i) => r.uint(g, `process.user.additionalGids[${i}]`, 0xfffffffe)),
    ...(umask !== undefined && { umask }),
    rlimits,
    bounding,
    noNewPrivileges: r.bool(o.noNewPrivileges, 'process.noNewPrivileges'),
    ...(oom !== undefined && { oomScoreAdj: oom }),
  };
}

function readHooks(r: Reader, v: unknown): OciLaunch['hooks'] {
  const o = r.obj(v, 'hooks');
  for (const key of Object.keys(o))
    if (!(HOOK_KINDS as readonly string[]).includes(key))
      r.fail(`hooks.${key}`, 'is not a hook the spec names', `Use ${HOOK_KINDS.join(', ')}`);
  const out = {} as Record<HookKind, OciHook[]>;
  for (const kind of HOOK_KINDS) {
    out[kind] = r.arr(o[kind], `hooks.${kind}`).map((e, i) => {
      const f = `hooks.${kind}[${i}]`;
      const h = r.obj(e, f);
      const path = r.str(h.path, `${f}.path`);
      if (!path.startsWith('/'))
        r.fail(`${f}.path`, `"${path}" is not absolute`, 'Give the hook program by absolute path');
      const timeout = h.timeout === undefined ? undefined : r.uint(h.timeout, `${f}.timeout`);
      if (timeout === 0) r.fail(`${f}.timeout`, 'is 0', 'Give a timeout above 0 seconds, or none');
      return {
        path,
        args: r.strings(h.args, `${f}.args`),
        env: r.strings(h.env, `${f}.env`),
        ...(timeout !== undefined && { timeout }),
      };
    });
    if ((kind === 'createContainer' || kind === 'startContainer') && out[kind].length > 0)
      r.fail(
        `hooks.${kind}`,
        `${kind} hooks (run inside the container) are not supported by igloo-runc`,
        'Use createRuntime or prestart hooks, which run on the host with the state on stdin',
        'ENOTSUP',
      );
  }
  return out;
}

function readDevices(r: Reader, v: unknown): OciDevice[] {
  return r.arr(v, 'linux.devices').map((e, i) => {
    const f = `linux.devices[${i}]`;
    const d = r.obj(e, f);
    const path = r.str(d.path, `${f}.path`);
    if (!path.startsWith('/'))
      r.fail(`${f}.path`, `"${path}" is not absolute`, 'Give a path such as /dev/fuse');
    const type = r.str(d.type, `${f}.type`);
    if (!['c', 'b', 'u', 'p'].includes(type))
      r.fail(`${f}.type`, `"${type}" is not c, b, u or p`, 'Fix the type');
    return {
      path,
      type: type as OciDevice['type'],
      major: type === 'p' ? 0 : r.uint(d.major, `${f}.major`),
      minor: type === 'p' ? 0 : r.uint(d.minor, `${f}.minor`),
    };
  });
}

const PROPAGATIONS = new Set([
  'private',
  'rprivate',
  'slave',
  'rslave',
  'shared',
  'rshared',
  'unbindable',
  'runbindable',
]);

/** config.json's JSON (already parsed) -> OciLaunch; PATH names it in errors. */
export function readOciConfig(json: unknown, path: string, ctx: OciReadContext): OciLaunch {
  const r = new Reader(path);
  const top = r.obj(json, '(top level)');
  if (json === undefined || top !== json)
    r.fail('(top level)', 'not a JSON object', 'Write config.json with `igloo oci spec`');
  const version = r.str(top.ociVersion, 'ociVersion');
  if (!/^1\.\d+\.\d+/.test(version))
    r.fail(
      'ociVersion',
      `"${version}" is not a 1.x version`,
      'Write config.json for runtime-spec 1.x',
    );
  const root = r.obj(top.root, 'root');
  if (top.root === undefined) r.fail('root', 'is missing', 'Give root.path, the rootfs directory');
  const rootfs = absolute(ctx.bundle, r.str(root.path, 'root.path'));
  const linux = r.obj(top.linux, 'linux');
  for (const key of ['intelRdt', 'personality', 'memoryPolicy', 'netDevices'])
    if (linux[key] !== undefined)
      r.fail(`linux.${key}`, 'is not supported by igloo-runc', 'Remove it', 'ENOTSUP');
  const ns = readNamespaces(r, linux.namespaces);
  const uid = readMaps(r, linux.uidMappings, 'linux.uidMappings');
  const gid = readMaps(r, linux.gidMappings, 'linux.gidMappings');
  if (ns.create.includes('user')) {
    if (uid.length === 0 || gid.length === 0)
      r.fail(
        'linux.uidMappings',
        'a new user namespace needs both uidMappings and gidMappings',
        'Map the container ids onto ids you own (see /etc/subuid)',
      );
  } else if (uid.length > 0 || gid.length > 0)
    r.fail(
      'linux.uidMappings',
      'mappings are given but no new user namespace is',
      'Add {"type": "user"} to linux.namespaces, or remove the mappings',
    );
  if (ns.joins.some((j) => j.kind === 'user') && ns.create.length > 0 && ns.create.includes('user'))
    r.fail('linux.namespaces', 'the user namespace is both joined and created', 'Keep one');
  const hostname = r.optStr(top.hostname, 'hostname');
  if (hostname && !ns.create.includes('uts') && !ns.joins.some((j) => j.kind === 'uts'))
    r.fail('hostname', 'needs its own uts namespace', 'Add {"type": "uts"} to linux.namespaces');
  const mountCtx = { bundle: ctx.bundle, create: ns.create };
  const devices = readDevices(r, linux.devices);
  const mounts = r.arr(top.mounts, 'mounts').flatMap((e, i) => readMount(r, e, i, mountCtx));
  if (mounts.length > 0 && !ns.create.includes('mnt') && !ns.joins.some((j) => j.kind === 'mnt'))
    r.fail(
      'linux.namespaces',
      'mounts need a mount namespace',
      'Add {"type": "mount"} to linux.namespaces',
    );
  const sysctlObj = r.obj(linux.sysctl, 'linux.sysctl');
  const sysctl = Object.entries(sysctlObj).map(([k, v]) => {
    if (
      !/^[a-zA-Z0-9_.-]+$/.test(k) ||
      k.split('.').some((p) => p === '' || p === '..' || p === '.')
    )
      r.fail(`linux.sysctl.${k}`, 'is not a sysctl name', 'Use names such as net.ipv4.ip_forward');
    return [k, r.str(v, `linux.sysctl.${k}`)] as const;
  });
  const propagation = r.optStr(linux.rootfsPropagation, 'linux.rootfsPropagation');
  if (propagation !== undefined && !PROPAGATIONS.has(propagation))
    r.fail(
      'linux.rootfsPropagation',
      `"${propagation}" is not a propagation`,
      `Use ${[...PROPAGATIONS].join(', ')}`,
    );
  const annotations: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.obj(top.annotations, 'annotations')))
    annotations[k] = r.str(v, `annotations.${k}`);
  const resources =
    linux.resources === undefined ? undefined : r.obj(linux.resources, 'linux.resources');
  const cgroupsPath = r.optStr(linux.cgroupsPath, 'linux.cgroupsPath');
  return {
    rootfs,
    rootReadonly: r.bool(root.readonly, 'root.readonly'),
    ...(hostname !== undefined && { hostname }),
    create: ns.create,
    joins: ns.joins,
    idmap: { uid, gid },
    mounts: [...mounts, ...defaultDev(mounts, devices)],
    devices,
    maskedPaths: r.strings(linux.maskedPaths, 'linux.maskedPaths'),
    readonlyPaths: r.strings(linux.readonlyPaths, 'linux.readonlyPaths'),
    sysctl,
    ...(propagation !== undefined && { rootfsPropagation: propagation }),
    process: readProcess(r, top.process),
    ...(linux.seccomp !== undefined && { seccomp: r.obj(linux.seccomp, 'linux.seccomp') }),
    hooks: readHooks(r, top.hooks),
    ...(cgroupsPath !== undefined && { cgroupsPath }),
    ...(resources !== undefined && { resources }),
    annotations,
  };
}

/** An exec's process.json (`exec --process F`): the same reading as config.json's process. */
export function readOciProcess(json: unknown, path: string): OciProcess {
  return readProcess(new Reader(path), json);
}
