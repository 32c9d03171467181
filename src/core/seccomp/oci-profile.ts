/**
 * An OCI seccomp profile (config.json's linux.seccomp, or Docker's profile
 * JSON) read into igloo's SeccompProfile (profile.ts), which replaces the
 * default when a config names one (igloo.seccomp = /path/profile.json).
 */
import { IglooError } from '../errors.ts';
import {
  ERRNO,
  type ArgCondition,
  type CompareOp,
  type SeccompAction,
  type SeccompProfile,
  type SeccompRule,
} from './profile.ts';
import { knownSyscall, type Arch } from './tables.ts';

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
  /**
   * `skip`: a name no ABI knows is left out of every rule, as runc and crun
   * do for a config.json (engines' default profiles list calls of other
   * architectures, pciconfig_iobase); default `refuse` for deny rules, so a
   * typo in igloo's own profile never silently weakens it.
   */
  readonly unknownNames?: 'refuse' | 'skip';
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
      else if (act.kind !== 'allow' && opts.unknownNames !== 'skip')
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
