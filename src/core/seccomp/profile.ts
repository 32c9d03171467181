/**
 * Seccomp profiles: what a container's filter allows and denies, per
 * system call, before it is assembled into a BPF program (assemble.ts).
 *
 * igloo's default profile is a deny list, as LXC's is: every system call is
 * allowed except the few that load kernel code, reach the kernel's key
 * store, or open files by handle (which walks around the container's root),
 * and a forced umount. A deny list keeps every program working that worked
 * on the host, while the calls that matter most to a kernel attacker are
 * cut off. It handles the x86_64 and i386 ABIs; x32 calls are answered
 * ENOSYS as a whole (practically no x32 programs exist, and a compat ABI a
 * filter forgets is a classic way around it).
 *
 * An OCI seccomp profile (config.json's linux.seccomp, or Docker's
 * profile JSON) can replace the default; a config's `igloo.seccomp.deny`
 * adds rules in front of either. Rules are matched in order, first match
 * wins; a call no rule matches gets the profile's default action.
 */
import { IglooError } from '../errors.ts';
import { knownSyscall, type Arch } from './tables.ts';

export type ActionKind = 'allow' | 'errno' | 'kill-process' | 'kill-thread' | 'trap' | 'log';

export interface SeccompAction {
  readonly kind: ActionKind;
  /** For 'errno': the error number the call returns. */
  readonly errno?: number;
}

export type CompareOp = 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge' | 'masked_eq';

export interface ArgCondition {
  /** Argument index, 0..5. */
  readonly index: number;
  readonly op: CompareOp;
  /** The value compared with (masked_eq: the mask). */
  readonly value: bigint;
  /** masked_eq: the value (arg & mask) must equal. */
  readonly valueTwo?: bigint;
}

export interface SeccompRule {
  readonly names: readonly string[];
  readonly action: SeccompAction;
  /** All must hold (AND). */
  readonly args: readonly ArgCondition[];
}

export interface SeccompProfile {
  readonly defaultAction: SeccompAction;
  /** The ABIs whose calls the rules apply to; calls of the others get ENOSYS. */
  readonly arches: readonly Arch[];
  readonly rules: readonly SeccompRule[];
}

/** errno names igloo accepts in configs and profiles (asm-generic/errno-base.h, errno.h). */
export const ERRNO: Readonly<Record<string, number>> = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  ENOEXEC: 8,
  EBADF: 9,
  ECHILD: 10,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENODEV: 19,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ENFILE: 23,
  EMFILE: 24,
  ENOTTY: 25,
  ENOSPC: 28,
  ESPIPE: 29,
  EROFS: 30,
  EMLINK: 31,
  EPIPE: 32,
  ERANGE: 34,
  ENOSYS: 38,
  ENOTSUP: 95,
  EOPNOTSUPP: 95,
  EAFNOSUPPORT: 97,
};

const EPERM: SeccompAction = { kind: 'errno', errno: ERRNO.EPERM! };
const MNT_FORCE = 1n;

/** The calls igloo's default profile denies, and why (shown by `igloo audit`). */
export const DEFAULT_DENY: ReadonlyArray<{ names: readonly string[]; errno: string; why: string }> =
  [
    {
      names: ['kexec_load', 'kexec_file_load'],
      errno: 'EPERM',
      why: 'load a new kernel',
    },
    {
      names: ['init_module', 'finit_module', 'delete_module'],
      errno: 'EPERM',
      why: 'load or unload kernel modules',
    },
    {
      names: ['open_by_handle_at'],
      errno: 'EPERM',
      why: 'open any file of a file system by its handle, around the container root',
    },
    {
      names: ['add_key', 'request_key', 'keyctl'],
      errno: 'ENOSYS',
      why: "the kernel key store is not namespaced, and every session keyring counts against the owner's quota",
    },
    { names: ['iopl', 'ioperm'], errno: 'EPERM', why: 'raw I/O port access' },
    { names: ['swapon', 'swapoff'], errno: 'EPERM', why: "change the host's swap" },
    { names: ['acct'], errno: 'EPERM', why: 'process accounting to a file' },
  ];

export function defaultProfile(): SeccompProfile {
  return {
    defaultAction: { kind: 'allow' },
    arches: ['x86_64', 'i386'],
    rules: [
      ...DEFAULT_DENY.map((d) => ({
        names: d.names,
        action: { kind: 'errno' as const, errno: ERRNO[d.errno]! },
        args: [],
      })),
      // umount2(path, MNT_FORCE): a forced umount can hit a file system the
      // container shares with the host (LXC's reject_force_umount)
      {
        names: ['umount2'],
        action: EPERM,
        args: [{ index: 1, op: 'masked_eq', value: MNT_FORCE, valueTwo: MNT_FORCE }],
      },
    ],
  };
}

/** One entry of `igloo.seccomp.deny`: a system call and the errno it returns. */
export interface SyscallDeny {
  readonly name: string;
  readonly errno: string;
}

/** Parses "keyctl, ptrace:ENOSYS" (default errno EPERM). Throws Error with the reason. */
export function parseDenyList(text: string): SyscallDeny[] {
  const out: SyscallDeny[] = [];
  for (const item of text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const [name = '', errno = 'EPERM', ...rest] = item.split(':').map((s) => s.trim());
    if (rest.length || !/^[a-z0-9_]+$/.test(name))
      throw new Error(`"${item}" is not SYSCALL or SYSCALL:ERRNO`);
    if (!knownSyscall(name)) throw new Error(`unknown system call "${name}"`);
    if (ERRNO[errno] === undefined)
      throw new Error(`unknown errno "${errno}" (known: ${Object.keys(ERRNO).join(', ')})`);
    out.push({ name, errno });
  }
  return out;
}

/** The profile with a container's extra denies in front of its rules. */
export function extendProfile(
  profile: SeccompProfile,
  deny: readonly SyscallDeny[],
): SeccompProfile {
  return {
    ...profile,
    rules: [
      ...deny.map((d) => ({
        names: [d.name],
        action: { kind: 'errno' as const, errno: ERRNO[d.errno]! },
        args: [],
      })),
      ...profile.rules,
    ],
  };
}

// ---- OCI / Docker profile JSON -----------------------------------------

const OCI_ARCHES: Readonly<Record<string, Arch>> = {
  SCMP_ARCH_X86_64: 'x86_64',
  SCMP_ARCH_X86: 'i386',
  SCMP_ARCH_X32: 'x32',
};

const OCI_OPS: Readonly<Record<string, CompareOp>> = {
  SCMP_CMP_EQ: 'eq',
  SCMP_CMP_NE: 'ne',
  SCMP_CMP_LT: 'lt',
  SCMP_CMP_LE: 'le',
  SCMP_CMP_GT: 'gt',
  SCMP_CMP_GE: 'ge',
  SCMP_CMP_MASKED_EQ: 'masked_eq',
};

/** The names Docker uses for the host architecture in includes/excludes. */
const NATIVE_ARCH_NAMES = ['amd64', 'x86_64', 'SCMP_ARCH_X86_64'];

export interface OciParseOptions {
  /** The profile's path, for messages. */
  readonly path?: string;
  /** The container's bounding set (for Docker's includes/excludes caps). */
  readonly caps?: readonly string[];
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * An OCI runtime-spec `linux.seccomp` object or a Docker seccomp profile ->
 * SeccompProfile. Supported: defaultAction, defaultErrnoRet, architectures
 * (or Docker's archMap), syscalls[].names/name, action, errnoRet, args,
 * and Docker's includes/excludes by arch and caps (minKernel is ignored:
 * this kernel is newer). SCMP_ACT_TRACE and SCMP_ACT_NOTIFY need a
 * supervisor igloo does not run, and are refused. Names no ABI knows are
 * ignored in allow rules (a profile may be newer than igloo) and refused
 * in any other rule (a deny that silently does nothing is worse).
 */
export function parseOciProfile(json: unknown, opts: OciParseOptions = {}): SeccompProfile {
  const where = opts.path ?? 'the seccomp profile';
  const bad = (what: string, hint?: string): never => {
    throw new IglooError('EINVAL', `Invalid seccomp profile ${where}: ${what}`, {
      op: 'parse seccomp profile',
      ...(opts.path !== undefined && { path: opts.path }),
      hint: hint ?? 'See the OCI runtime spec, linux.seccomp',
    });
  };
  if (!isObject(json)) return bad('it is not a JSON object');
  const errnoOf = (v: unknown, what: string): number => {
    if (v === undefined) return ERRNO.EPERM!;
    if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 4095) return v;
    return bad(`${what} ${JSON.stringify(v)} is not an errno number`);
  };
  const action = (v: unknown, errnoRet: unknown, what: string): SeccompAction => {
    switch (v) {
      case 'SCMP_ACT_ALLOW':
        return { kind: 'allow' };
      case 'SCMP_ACT_ERRNO':
        return { kind: 'errno', errno: errnoOf(errnoRet, `${what} errnoRet`) };
      case 'SCMP_ACT_KILL':
      case 'SCMP_ACT_KILL_THREAD':
        return { kind: 'kill-thread' };
      case 'SCMP_ACT_KILL_PROCESS':
        return { kind: 'kill-process' };
      case 'SCMP_ACT_TRAP':
        return { kind: 'trap' };
      case 'SCMP_ACT_LOG':
        return { kind: 'log' };
      case 'SCMP_ACT_TRACE':
      case 'SCMP_ACT_NOTIFY':
        return bad(`${what} ${v} needs a tracer or a seccomp agent, which igloo does not run`);
      default:
        return bad(`${what} ${JSON.stringify(v)} is not a seccomp action`);
    }
  };
  const defaultAction = action(json.defaultAction, json.defaultErrnoRet, 'defaultAction');

  let archNames: string[] = [];
  if (Array.isArray(json.architectures)) archNames = json.architectures.map(String);
  else if (Array.isArray(json.archMap)) {
    for (const m of json.archMap) {
      if (isObject(m) && m.architecture === 'SCMP_ARCH_X86_64') {
        archNames = [
          'SCMP_ARCH_X86_64',
          ...(Array.isArray(m.subArchitectures) ? m.subArchitectures.map(String) : []),
        ];
      }
    }
  }
  const arches = [...new Set(archNames.map((a) => OCI_ARCHES[a]).filter((a) => a !== undefined))];
  // No list: libseccomp's default, the native ABI only.
  if (arches.length === 0) arches.push('x86_64');

  const caps = new Set(opts.caps ?? []);
  const applies = (cond: unknown, include: boolean): boolean => {
    if (cond === undefined) return true;
    if (!isObject(cond)) return bad('includes/excludes must be objects');
    const archList = Array.isArray(cond.arches) ? cond.arches.map(String) : undefined;
    const capList = Array.isArray(cond.caps)
      ? cond.caps.map((c) => String(c).toLowerCase().replace(/^cap_/, ''))
      : undefined;
    if (include) {
      if (archList && !archList.some((a) => NATIVE_ARCH_NAMES.includes(a))) return false;
      if (capList && !capList.every((c) => caps.has(c))) return false;
      return true;
    }
    if (archList?.some((a) => NATIVE_ARCH_NAMES.includes(a))) return false;
    if (capList?.some((c) => caps.has(c))) return false;
    return true;
  };

  const rules: SeccompRule[] = [];
  const list = json.syscalls ?? [];
  if (!Array.isArray(list)) return bad('syscalls is not an array');
  for (const [i, entry] of list.entries()) {
    const what = `syscalls[${i}]`;
    if (!isObject(entry)) return bad(`${what} is not an object`);
    if (!applies(entry.includes, true) || !applies(entry.excludes, false)) continue;
    const rawNames = Array.isArray(entry.names)
      ? entry.names
      : typeof entry.name === 'string'
        ? [entry.name]
        : bad(`${what} has no names`);
    const act = action(entry.action, entry.errnoRet, `${what} action`);
    const names: string[] = [];
    for (const n of rawNames) {
      if (typeof n !== 'string') return bad(`${what} names must be strings`);
      if (knownSyscall(n)) names.push(n);
      else if (act.kind !== 'allow')
        bad(
          `${what} names "${n}", a system call igloo does not know`,
          'Remove it, or check the spelling',
        );
    }
    const args: ArgCondition[] = [];
    if (entry.args !== undefined && entry.args !== null) {
      if (!Array.isArray(entry.args)) return bad(`${what} args is not an array`);
      for (const [j, a] of entry.args.entries()) {
        if (!isObject(a)) return bad(`${what} args[${j}] is not an object`);
        const index = a.index;
        if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index > 5)
          return bad(`${what} args[${j}].index must be 0..5`);
        const op = OCI_OPS[String(a.op)];
        if (!op) return bad(`${what} args[${j}].op ${JSON.stringify(a.op)} is not SCMP_CMP_*`);
        const num = (v: unknown, field: string): bigint => {
          if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return BigInt(v);
          if (typeof v === 'string' && /^\d+$/.test(v)) return BigInt(v);
          return bad(`${what} args[${j}].${field} must be a non-negative integer`);
        };
        const value = num(a.value ?? 0, 'value');
        const cond: ArgCondition =
          op === 'masked_eq'
            ? { index, op, value, valueTwo: num(a.valueTwo ?? 0, 'valueTwo') }
            : { index, op, value };
        if (value >= 1n << 64n || (cond.valueTwo ?? 0n) >= 1n << 64n)
          return bad(`${what} args[${j}] value does not fit in 64 bits`);
        args.push(cond);
      }
    }
    if (names.length) rules.push({ names, action: act, args });
  }
  return { defaultAction, arches, rules };
}
