/**
 * The per-container config file: `key = value` lines, one setting per line,
 * repeatable keys repeated, `#` comments. igloo's own keys are `igloo.*`; the
 * LXC keys that mean the same thing are accepted too (so an LXC container's
 * config can be read), and LXC keys igloo knows but does not support are
 * reported as warnings, never confused with typos. One table holds every key
 * (LXC's config_jump_table idea); a test walks the whole table.
 */
import { IglooError } from '../errors.ts';
import { capName } from '../caps.ts';
import { formatIdmapSpec, parseIdmapSpec, type IdMapEntry } from '../idmap/index.ts';
import { parseDenyList, type SyscallDeny } from '../seccomp/profile.ts';
import {
  formatNetSpec,
  formatPortForward,
  parseNetSpec,
  parsePortForward,
  type NetSpec,
  type PortForward,
} from '../net/spec.ts';
import {
  ALL_NAMESPACES,
  DEFAULT_ENV,
  DEFAULT_SECCOMP,
  type BindMount,
  type ContainerConfig,
  type NamespaceKind,
  type Rlimit,
} from './model.ts';
import { validateConfig } from './validate.ts';
import { checkLimits, hasLimits, LIMIT_KEYS, LIMIT_SPECS, type Limits } from '../limits/values.ts';

/** A config under construction: every field optional until validation. */
export interface ConfigDraft {
  name?: string;
  rootfs?: string;
  uidmap: IdMapEntry[];
  gidmap: IdMapEntry[];
  hostname?: string;
  init?: string[];
  env: string[];
  cwd?: string;
  uid?: number;
  gid?: number;
  namespaces?: NamespaceKind[];
  haltSignal?: string;
  mounts: BindMount[];
  rlimits: Rlimit[];
  seccompProfile?: string;
  seccompDeny: SyscallDeny[];
  capKeep: string[];
  capDrop: string[];
  noNewPrivs?: boolean;
  nesting?: boolean;
  net?: NetSpec;
  ports: PortForward[];
  autostart?: boolean;
  limits?: { -readonly [K in keyof Limits]: Limits[K] };
}

export function emptyDraft(): ConfigDraft {
  return {
    uidmap: [],
    gidmap: [],
    env: [],
    mounts: [],
    rlimits: [],
    seccompDeny: [],
    capKeep: [],
    capDrop: [],
    ports: [],
  };
}

class ValueError extends Error {}

function words(value: string): string[] {
  return value.split(/\s+/).filter(Boolean);
}

function argvFromJson(value: string): string[] {
  let list: unknown;
  try {
    list = JSON.parse(value);
  } catch {
    throw new ValueError('a command that starts with "[" must be a JSON list of strings');
  }
  if (!Array.isArray(list) || list.length === 0 || !list.every((a) => typeof a === 'string')) {
    throw new ValueError('a command that starts with "[" must be a JSON list of strings');
  }
  return list as string[];
}

function nonNegativeInt(value: string): number {
  if (!/^\d{1,10}$/.test(value) || Number(value) > 4294967294)
    throw new ValueError(`"${value}" is not an id`);
  return Number(value);
}

function limit(value: string): number | 'unlimited' {
  if (value === 'unlimited' || value === 'infinity') return 'unlimited';
  if (!/^\d{1,19}$/.test(value)) throw new ValueError(`"${value}" is not a limit`);
  return Number(value);
}

/** "sys_time, CAP_SYSLOG" or LXC's "sys_time syslog" -> capability names. */
function capList(value: string): string[] {
  return value
    .split(/[\s,]+/)
    .filter(Boolean)
    .map((t) => {
      const name = capName(t);
      if (name === undefined) throw new ValueError(`unknown capability "${t}"`);
      return name;
    });
}

function boolean(value: string): boolean {
  if (['true', '1', 'yes'].includes(value)) return true;
  if (['false', '0', 'no'].includes(value)) return false;
  throw new ValueError(`"${value}" is not true or false`);
}

function denyList(value: string): SyscallDeny[] {
  try {
    return parseDenyList(value);
  } catch (err) {
    throw new ValueError(err instanceof Error ? err.message : String(err));
  }
}

interface KeyHandler {
  /** Applies one line's value to the draft. */
  set(draft: ConfigDraft, value: string): void;
  /** The lines this key contributes when a config is written (igloo keys only). */
  get?(config: ContainerConfig): string[];
}

const iglooKeys: Record<string, KeyHandler> = {
  'igloo.name': { set: (d, v) => void (d.name = v), get: (c) => [c.name] },
  'igloo.rootfs': { set: (d, v) => void (d.rootfs = v), get: (c) => [c.rootfs] },
  'igloo.idmap': {
    set: (d, v) => {
      const maps = parseIdmapSpec(v);
      d.uidmap.push(...maps.uid);
      d.gidmap.push(...maps.gid);
    },
    get: (c) => [
      ...c.idmap.uid.map((e) => formatIdmapSpec({ uid: [e], gid: [] })),
      ...c.idmap.gid.map((e) => formatIdmapSpec({ uid: [], gid: [e] })),
    ],
  },
  'igloo.hostname': { set: (d, v) => void (d.hostname = v), get: (c) => [c.hostname] },
  'igloo.init': {
    // Words, or a JSON list when an argument has spaces: ["/bin/sh", "-c", "a; b"]
    set: (d, v) => void (d.init = v.startsWith('[') ? argvFromJson(v) : words(v)),
    get: (c) => [
      c.init.some((a) => /[\s"'[\]]/.test(a) || a === '')
        ? JSON.stringify(c.init)
        : c.init.join(' '),
    ],
  },
  'igloo.env': { set: (d, v) => void d.env.push(v), get: (c) => [...c.env] },
  'igloo.cwd': { set: (d, v) => void (d.cwd = v), get: (c) => [c.cwd] },
  'igloo.user': {
    set: (d, v) => {
      const [u = '', g] = v.split(':');
      d.uid = nonNegativeInt(u);
      d.gid = g === undefined ? d.uid : nonNegativeInt(g);
    },
    get: (c) => [`${c.user.uid}:${c.user.gid}`],
  },
  'igloo.namespaces': {
    set: (d, v) => {
      const list = v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      for (const ns of list) {
        if (!(ALL_NAMESPACES as readonly string[]).includes(ns))
          throw new ValueError(`unknown namespace "${ns}" (known: ${ALL_NAMESPACES.join(', ')})`);
      }
      d.namespaces = list as NamespaceKind[];
    },
    get: (c) => [c.namespaces.join(',')],
  },
  'igloo.halt_signal': { set: (d, v) => void (d.haltSignal = v), get: (c) => [c.haltSignal] },
  'igloo.mount': {
    set: (d, v) => {
      const [source, target, ...opts] = words(v);
      if (!source || !target) throw new ValueError('expected "SOURCE TARGET [ro|rw]"');
      for (const o of opts)
        if (o !== 'ro' && o !== 'rw')
          throw new ValueError(`unknown mount option "${o}" (ro or rw)`);
      d.mounts.push({ source, target, readonly: opts.includes('ro') });
    },
    get: (c) => c.mounts.map((m) => `${m.source} ${m.target} ${m.readonly ? 'ro' : 'rw'}`),
  },
  'igloo.rlimit': {
    set: (d, v) => {
      const [type, soft, hard] = words(v);
      if (!type || soft === undefined) throw new ValueError('expected "RLIMIT_NAME SOFT [HARD]"');
      d.rlimits.push({ type, soft: limit(soft), hard: limit(hard ?? soft) });
    },
    get: (c) => c.rlimits.map((r) => `${r.type} ${r.soft} ${r.hard}`),
  },
  'igloo.seccomp': {
    set: (d, v) => void (d.seccompProfile = v),
    get: (c) => (c.seccomp ? [c.seccomp.profile] : []),
  },
  'igloo.seccomp.deny': {
    set: (d, v) => void d.seccompDeny.push(...denyList(v)),
    get: (c) =>
      c.seccomp?.deny.length
        ? [
            c.seccomp.deny
              .map((x) => (x.errno === 'EPERM' ? x.name : `${x.name}:${x.errno}`))
              .join(', '),
          ]
        : [],
  },
  'igloo.cap.keep': {
    set: (d, v) => void d.capKeep.push(...capList(v)),
    get: (c) => (c.caps?.keep.length ? [c.caps.keep.join(', ')] : []),
  },
  'igloo.cap.drop': {
    set: (d, v) => void d.capDrop.push(...capList(v)),
    get: (c) => (c.caps?.drop.length ? [c.caps.drop.join(', ')] : []),
  },
  'igloo.no_new_privs': {
    set: (d, v) => void (d.noNewPrivs = boolean(v)),
    get: (c) => (c.noNewPrivs === undefined ? [] : [String(c.noNewPrivs)]),
  },
  'igloo.nesting': {
    set: (d, v) => void (d.nesting = boolean(v)),
    get: (c) => (c.nesting ? ['true'] : []),
  },
  'igloo.net': {
    set: (d, v) => void (d.net = parseNetSpec(v)),
    get: (c) => (c.net ? [formatNetSpec(c.net)] : []),
  },
  'igloo.net.port': {
    set: (d, v) => void d.ports.push(parsePortForward(v)),
    get: (c) => (c.ports ?? []).map(formatPortForward),
  },
  'igloo.autostart': {
    set: (d, v) => void (d.autostart = boolean(v)),
    get: (c) => (c.autostart ? ['true'] : []),
  },
};

// igloo.limits.memory, .memory_swap, .pids, .cpus, .cpu_weight, .cpuset, .io_weight
for (const k of LIMIT_KEYS) {
  const spec = LIMIT_SPECS[k];
  iglooKeys[spec.key] = {
    set: (d, v) => {
      let parsed: number | string;
      try {
        parsed = spec.parse(v);
      } catch (err) {
        throw new ValueError(err instanceof Error ? err.message : String(err));
      }
      d.limits = { ...d.limits, [k]: parsed };
    },
    get: (c) => (c.limits?.[k] === undefined ? [] : [spec.format(c.limits[k])]),
  };
}

/** LXC keys with the same meaning as an igloo key. */
const lxcKeys: Record<string, KeyHandler> = {
  'lxc.idmap': iglooKeys['igloo.idmap']!,
  'lxc.id_map': iglooKeys['igloo.idmap']!,
  'lxc.uts.name': iglooKeys['igloo.hostname']!,
  'lxc.utsname': iglooKeys['igloo.hostname']!,
  'lxc.rootfs.path': { set: (d, v) => void (d.rootfs = v.replace(/^dir:/, '')) },
  'lxc.rootfs': { set: (d, v) => void (d.rootfs = v.replace(/^dir:/, '')) },
  'lxc.init.cmd': iglooKeys['igloo.init']!,
  'lxc.init.cwd': iglooKeys['igloo.cwd']!,
  'lxc.init.uid': { set: (d, v) => void (d.uid = nonNegativeInt(v)) },
  'lxc.init.gid': { set: (d, v) => void (d.gid = nonNegativeInt(v)) },
  'lxc.environment': iglooKeys['igloo.env']!,
  'lxc.signal.halt': iglooKeys['igloo.halt_signal']!,
  'lxc.cap.drop': iglooKeys['igloo.cap.drop']!,
  'lxc.no_new_privs': iglooKeys['igloo.no_new_privs']!,
};

/** Every key the file accepts; exported so a test can walk the whole table. */
export const CONFIG_KEYS: Readonly<Record<string, KeyHandler>> = { ...iglooKeys, ...lxcKeys };
export const IGLOO_KEYS: readonly string[] = Object.keys(iglooKeys);

export interface ParsedConfig {
  readonly draft: ConfigDraft;
  /** Known LXC keys igloo ignores, with their lines. */
  readonly warnings: string[];
}

/** Parses config text into a draft. Errors name the path, the line and the key. */
export function parseConfigText(text: string, opts: { path?: string } = {}): ParsedConfig {
  const where = opts.path ?? 'config';
  const draft = emptyDraft();
  const warnings: string[] = [];
  const lines = text.split('\n');
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const fail = (why: string, hint?: string): never => {
      throw new IglooError('EPARSE', `Cannot parse ${where} line ${i + 1} "${line}": ${why}`, {
        op: 'parse config',
        ...(opts.path !== undefined && { path: opts.path }),
        line: i + 1,
        subject: line,
        ...(hint !== undefined && { hint }),
      });
    };
    const eq = line.indexOf('=');
    if (eq < 0) fail('expected "key = value"');
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    // own keys only: "constructor" or "toString" are not config keys (fuzzing found it)
    const handler = Object.hasOwn(CONFIG_KEYS, key) ? CONFIG_KEYS[key] : undefined;
    if (!handler) {
      if (key.startsWith('lxc.')) {
        warnings.push(`${where} line ${i + 1}: ${key} is not supported by igloo and was ignored`);
        continue;
      }
      fail(`unknown key "${key}"`, `Known keys: ${IGLOO_KEYS.join(', ')}`);
    }
    try {
      handler!.set(draft, value);
    } catch (err) {
      if (err instanceof ValueError) fail(err.message);
      if (err instanceof IglooError) fail(err.message.replace(/^Cannot parse [^:]*: /, ''));
      throw err;
    }
  }
  return { draft, warnings };
}

/** Fills defaults and validates: the draft becomes a ContainerConfig or an error. */
export function finishConfig(draft: ConfigDraft, opts: { path?: string } = {}): ContainerConfig {
  const name = draft.name ?? '';
  const config: ContainerConfig = {
    name,
    rootfs: draft.rootfs ?? '',
    idmap: { uid: draft.uidmap, gid: draft.gidmap },
    hostname: draft.hostname ?? name,
    init: draft.init ?? ['/sbin/init'],
    env: draft.env.length ? draft.env : DEFAULT_ENV,
    cwd: draft.cwd ?? '/',
    user: { uid: draft.uid ?? 0, gid: draft.gid ?? draft.uid ?? 0, groups: [] },
    namespaces: draft.namespaces ?? ALL_NAMESPACES,
    haltSignal: draft.haltSignal ?? 'SIGUSR2',
    mounts: draft.mounts,
    rlimits: draft.rlimits,
    seccomp: {
      profile: draft.seccompProfile ?? DEFAULT_SECCOMP.profile,
      deny: draft.seccompDeny,
    },
    caps: { keep: draft.capKeep, drop: draft.capDrop },
    noNewPrivs: draft.noNewPrivs ?? !(draft.nesting ?? false),
    ...(draft.nesting && { nesting: true }),
    ...(draft.net && { net: draft.net }),
    ...(draft.ports.length && { ports: draft.ports }),
    ...(draft.autostart && { autostart: true }),
    ...(hasLimits(draft.limits) && { limits: draft.limits as Limits }),
  };
  if (config.limits) {
    try {
      checkLimits(config.limits, 'parse config');
    } catch (err) {
      // name the file, as every other config error does
      if (!(err instanceof IglooError) || opts.path === undefined) throw err;
      throw new IglooError(err.code, `Invalid container config (${opts.path}): ${err.message}`, {
        op: err.op ?? 'parse config',
        path: opts.path,
        ...(err.subject !== undefined && { subject: err.subject }),
        ...(err.hint !== undefined && { hint: err.hint }),
      });
    }
  }
  return validateConfig(config, opts);
}

export function parseConfig(text: string, opts: { path?: string } = {}): ContainerConfig {
  return finishConfig(parseConfigText(text, opts).draft, opts);
}

/** Writes a config in igloo's own keys; parseConfig(formatConfig(c)) equals c. */
export function formatConfig(config: ContainerConfig): string {
  const out = [
    `# igloo container config (see 'igloo create --help'); edit while the container is stopped`,
  ];
  for (const key of IGLOO_KEYS) {
    for (const value of iglooKeys[key]!.get!(config)) out.push(`${key} = ${value}`);
  }
  return out.join('\n') + '\n';
}
