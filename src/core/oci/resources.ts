/**
 * linux.resources (config.json, `update --resources`) -> igloo's Limits
 * (core/limits), the device rules of a v1 devices cgroup, and the cgroup a
 * container gets from linux.cgroupsPath. Pure. A field igloo cannot apply
 * is refused, naming it (the spec: a runtime MUST error when it cannot
 * apply a resource); fields that only tune (memory.swappiness,
 * reservation, kernel memory) are returned as ignored, for a warning.
 */
import { IglooError } from '../errors.ts';
import type { Limits } from '../limits/values.ts';

type Json = Record<string, unknown>;

export interface OciResources {
  readonly limits: Limits;
  /** v1 devices cgroup rules ("c 1:3 rwm"), in order: deny all, then these allows. */
  readonly deviceAllows: readonly string[];
  /** Fields given but not applied (a warning each). */
  readonly ignored: readonly string[];
}

/** The device rules every container gets (runc's defaults): what the default /dev binds. */
export const DEFAULT_DEVICE_ALLOWS = [
  'c 1:3 rwm', // null
  'c 1:5 rwm', // zero
  'c 1:7 rwm', // full
  'c 1:8 rwm', // random
  'c 1:9 rwm', // urandom
  'c 5:0 rwm', // tty
  'c 5:1 rwm', // console
  'c 5:2 rwm', // ptmx
  'c 136:* rwm', // pts
];

function bad(
  field: string,
  what: string,
  hint: string,
  code: 'EINVAL' | 'ENOTSUP' = 'EINVAL',
): never {
  throw new IglooError(code, `Invalid OCI linux.resources ${field}: ${what}`, {
    op: 'read linux.resources',
    subject: field,
    hint,
  });
}

function obj(v: unknown, field: string): Json {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v))
    return bad(field, 'not an object', 'Give an object');
  return v as Json;
}

/** A positive limit, or undefined for none (absent, 0, -1: unlimited). */
function limit(v: unknown, field: string): number | undefined {
  if (v === undefined || v === null || v === 0 || v === -1) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0)
    return bad(field, `${JSON.stringify(v)} is not a limit`, 'Give a whole number, or -1 for none');
  return v;
}

/** A value that asks for something (not absent, empty, 0, -1 or false). */
const given = (v: unknown) =>
  v !== undefined && v !== null && v !== '' && v !== 0 && v !== -1 && v !== false;

/** cgroup v1 cpu.shares (2..262144, 1024 default) -> the 1..10000 weight (runc's formula). */
export function sharesToWeight(shares: number): number {
  return Math.max(1, Math.min(10000, Math.round(1 + ((shares - 2) * 9999) / 262142)));
}

export function readOciResources(json: unknown): OciResources {
  const r = obj(json, '(resources)');
  const ignored: string[] = [];
  const memory = obj(r.memory, 'memory');
  const cpu = obj(r.cpu, 'cpu');
  const pids = obj(r.pids, 'pids');
  const blockIO = obj(r.blockIO, 'blockIO');
  const limits: { -readonly [K in keyof Limits]: Limits[K] } = {};
  const mem = limit(memory.limit, 'memory.limit');
  if (mem !== undefined) limits.memory = mem;
  const swap = limit(memory.swap, 'memory.swap');
  if (swap !== undefined) {
    if (mem === undefined || swap < mem)
      bad(
        'memory.swap',
        'is memory plus swap: it needs memory.limit, and at least it',
        'Give memory.limit <= memory.swap',
      );
    limits.memorySwap = swap;
  }
  for (const k of [
    'reservation',
    'kernel',
    'kernelTCP',
    'swappiness',
    'disableOOMKiller',
    'useHierarchy',
    'checkBeforeUpdate',
  ])
    if (given(memory[k])) ignored.push(`memory.${k}`);
  const p = limit(pids.limit, 'pids.limit');
  if (p !== undefined) limits.pids = p;
  const quota = limit(cpu.quota, 'cpu.quota');
  const period = limit(cpu.period, 'cpu.period') ?? 100000;
  if (quota !== undefined) limits.cpus = Math.round((quota / period) * 100) / 100;
  const shares = limit(cpu.shares, 'cpu.shares');
  if (shares !== undefined) limits.cpuWeight = sharesToWeight(shares);
  if (typeof cpu.cpus === 'string' && cpu.cpus !== '') limits.cpuset = cpu.cpus;
  for (const k of ['mems', 'realtimeRuntime', 'realtimePeriod', 'idle', 'burst'])
    if (given(cpu[k])) ignored.push(`cpu.${k}`);
  const weight = limit(blockIO.weight, 'blockIO.weight');
  if (weight !== undefined)
    limits.ioWeight = Math.max(1, Math.min(10000, Math.round((weight - 10) * (9999 / 990) + 1)));
  for (const k of [
    'weightDevice',
    'throttleReadBpsDevice',
    'throttleWriteBpsDevice',
    'throttleReadIOPSDevice',
    'throttleWriteIOPSDevice',
  ])
    if (Array.isArray(blockIO[k]) && (blockIO[k] as unknown[]).length > 0)
      bad(`blockIO.${k}`, 'per-device I/O limits are not supported', 'Leave them out', 'ENOTSUP');
  for (const k of ['hugepageLimits', 'rdma', 'unified'])
    if (r[k] !== undefined && r[k] !== null && Object.keys(r[k] as object).length > 0)
      bad(k, 'is not supported by igloo-runc', 'Leave it out', 'ENOTSUP');
  if (r.network !== undefined && r.network !== null) ignored.push('network');
  const deviceAllows: string[] = [];
  for (const [i, d] of (Array.isArray(r.devices) ? r.devices : []).entries()) {
    const o = obj(d, `devices[${i}]`);
    const type = typeof o.type === 'string' ? o.type : 'a';
    const num = (v: unknown) => (typeof v === 'number' && v >= 0 ? String(v) : '*');
    const access = typeof o.access === 'string' && /^[rwm]+$/.test(o.access) ? o.access : 'rwm';
    if (o.allow === true)
      deviceAllows.push(type === 'a' ? 'a' : `${type} ${num(o.major)}:${num(o.minor)} ${access}`);
  }
  return { limits, deviceAllows, ignored };
}

/**
 * The cgroup (relative to each hierarchy's root) of a container: cgroupsPath
 * as given (absolute; runc's cgroupfs form), or igloo-runc/ID. A systemd
 * form (slice:prefix:name) is refused: there is no systemd here.
 */
export function ociCgroup(cgroupsPath: string | undefined, id: string): string {
  if (cgroupsPath === undefined || cgroupsPath === '') return `igloo-runc/${id}`;
  if (/^[^/]*:[^/]*:[^/]*$/.test(cgroupsPath))
    return bad(
      'cgroupsPath',
      `"${cgroupsPath}" is systemd's form, and igloo-runc has no systemd driver`,
      'Configure the engine with the cgroupfs cgroup manager',
      'ENOTSUP',
    );
  const parts = cgroupsPath.split('/').filter((p) => p !== '');
  if (parts.some((p) => p === '..' || p === '.'))
    return bad(
      'cgroupsPath',
      `"${cgroupsPath}" leaves the cgroup tree`,
      'Give a path such as /igloo/c1',
    );
  return parts.length ? parts.join('/') : `igloo-runc/${id}`;
}
