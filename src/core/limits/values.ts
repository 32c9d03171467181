/**
 * Resource limits of a container (and ceilings of a user): the values the
 * CLI flags and the `igloo.limits.*` config keys give, parsed and checked
 * here, with no I/O. Sizes are bytes, `cpus` is a number of CPUs (quota
 * over period), weights use cgroup v2's 1..10000 scale (100 = default).
 *
 *   --memory 512M|1G|1048576     memory (RAM) in bytes, at least 4M
 *   --memory-swap 2G             memory plus swap (at least --memory)
 *   --pids N                     processes and threads, 1..4194304
 *   --cpus 1.5                   CPU time per period (quota), 0.01..1024
 *   --cpu-weight 1..10000        share under contention
 *   --cpuset 0-1,3               CPUs the container may run on
 *   --io-weight 1..10000         block I/O share under contention
 */
import { IglooError } from '../errors.ts';

export interface Limits {
  readonly memory?: number;
  readonly memorySwap?: number;
  readonly pids?: number;
  readonly cpus?: number;
  readonly cpuWeight?: number;
  readonly cpuset?: string;
  readonly ioWeight?: number;
}

export type LimitKey = keyof Limits;

/** A user's ceiling over all their containers together (set by root). */
export type Ceiling = Pick<Limits, 'memory' | 'pids' | 'cpus'>;

export const CEILING_KEYS: readonly (keyof Ceiling)[] = ['memory', 'pids', 'cpus'];

/** Each limit: its CLI flag, its config key, how a value is parsed and shown. */
interface LimitSpec {
  readonly flag: string;
  readonly key: string;
  readonly what: string;
  parse(text: string): number | string;
  format(value: number | string): string;
}

const UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };
export const MIN_MEMORY = 4 * 1024 * 1024;
export const MAX_PIDS = 4194304;
export const CPU_PERIOD_US = 100000;

class LimitValueError extends Error {}

/** "512M", "1g", "1048576", "1.5G" -> bytes (a whole number). */
export function parseSize(text: string): number {
  const m = /^(\d{1,16}(?:\.\d{1,6})?)\s*([kmgt]?)(?:i?b)?$/i.exec(text.trim());
  if (!m) throw new LimitValueError(`"${text}" is not a size (e.g. 512M, 1G, or bytes)`);
  const bytes = Math.floor(Number(m[1]) * UNITS[m[2]!.toUpperCase()]!);
  if (!Number.isSafeInteger(bytes))
    throw new LimitValueError(`"${text}" is too large (the limit is 8P)`);
  return bytes;
}

/** Bytes as the shortest exact "512M" / "1G" / bytes. */
export function formatSize(bytes: number): string {
  for (const unit of ['T', 'G', 'M', 'K'] as const) {
    const u = UNITS[unit]!;
    if (bytes >= u && bytes % u === 0) return `${bytes / u}${unit}`;
  }
  return String(bytes);
}

function integer(text: string, min: number, max: number, what: string): number {
  if (!/^\d{1,12}$/.test(text.trim())) throw new LimitValueError(`"${text}" is not a ${what}`);
  const n = Number(text.trim());
  if (n < min || n > max) throw new LimitValueError(`${what} ${n} is outside ${min}..${max}`);
  return n;
}

/** "0-1,3" -> the normalised list (ascending, merged), CPU numbers 0..4095. */
export function parseCpuList(text: string): string {
  const cpus = new Set<number>();
  const t = text.trim();
  if (t === '') throw new LimitValueError('an empty CPU list');
  for (const part of t.split(',')) {
    const m = /^(\d{1,4})(?:-(\d{1,4}))?$/.exec(part.trim());
    if (!m) throw new LimitValueError(`"${part}" is not a CPU or a range like 0-3`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a) throw new LimitValueError(`range "${part}" goes backwards`);
    if (b > 4095) throw new LimitValueError(`CPU ${b} is above 4095`);
    for (let i = a; i <= b; i++) cpus.add(i);
  }
  return formatCpuSet([...cpus]);
}

/** CPU numbers -> "0-2,5". */
export function formatCpuSet(list: readonly number[]): string {
  const sorted = [...new Set(list)].sort((x, y) => x - y);
  const out: string[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    out.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return out.join(',');
}

/** CPUs of a cpuset list ("0-1,3" -> [0,1,3]); the text must be normalised or host-written. */
export function cpuSetMembers(list: string): number[] {
  if (list.trim() === '') return [];
  return list
    .trim()
    .split(',')
    .flatMap((part) => {
      const [a, b = a] = part.split('-').map(Number);
      return Array.from({ length: b! - a! + 1 }, (_, i) => a! + i);
    });
}

function cpus(text: string): number {
  if (!/^\d{1,4}(\.\d{1,3})?$/.test(text.trim()))
    throw new LimitValueError(`"${text}" is not a number of CPUs (e.g. 1.5)`);
  const n = Number(text.trim());
  if (n < 0.01 || n > 1024) throw new LimitValueError(`cpus ${n} is outside 0.01..1024`);
  return n;
}

/** A size limit (bytes, at least MIN_MEMORY). */
function sizeSpec(flag: string, key: string, what: string): LimitSpec {
  return {
    flag,
    key,
    what,
    parse: (t) => {
      const n = parseSize(t);
      if (n < MIN_MEMORY) throw new LimitValueError(`${flag} ${t} is below the minimum 4M`);
      return n;
    },
    format: (v) => formatSize(v as number),
  };
}

export const LIMIT_SPECS: { readonly [K in LimitKey]-?: LimitSpec } = {
  memory: sizeSpec('memory', 'igloo.limits.memory', 'memory'),
  memorySwap: sizeSpec('memory-swap', 'igloo.limits.memory_swap', 'memory plus swap'),
  pids: {
    flag: 'pids',
    key: 'igloo.limits.pids',
    what: 'process count',
    parse: (t) => integer(t, 1, MAX_PIDS, 'process count'),
    format: String,
  },
  cpus: {
    flag: 'cpus',
    key: 'igloo.limits.cpus',
    what: 'CPUs',
    parse: cpus,
    format: String,
  },
  cpuWeight: {
    flag: 'cpu-weight',
    key: 'igloo.limits.cpu_weight',
    what: 'CPU weight',
    parse: (t) => integer(t, 1, 10000, 'CPU weight'),
    format: String,
  },
  cpuset: {
    flag: 'cpuset',
    key: 'igloo.limits.cpuset',
    what: 'CPU list',
    parse: parseCpuList,
    format: String,
  },
  ioWeight: {
    flag: 'io-weight',
    key: 'igloo.limits.io_weight',
    what: 'I/O weight',
    parse: (t) => integer(t, 1, 10000, 'I/O weight'),
    format: String,
  },
};

export const LIMIT_KEYS = Object.keys(LIMIT_SPECS) as LimitKey[];

/**
 * Parses one limit's text. The error names the flag and the value, and
 * says what a good one looks like.
 */
export function parseLimit(key: LimitKey, text: string, op = 'set limits'): number | string {
  const spec = LIMIT_SPECS[key];
  try {
    return spec.parse(text);
  } catch (err) {
    if (!(err instanceof LimitValueError)) throw err;
    throw new IglooError('EINVAL', `Cannot use --${spec.flag} ${text}: ${err.message}`, {
      op,
      subject: text,
      hint: HINTS[key],
    });
  }
}

const HINTS: Record<LimitKey, string> = {
  memory: 'Give bytes or a size with K, M, G or T, at least 4M: --memory 512M',
  memorySwap: 'Give memory plus swap, at least --memory: --memory 512M --memory-swap 1G',
  pids: 'Give a whole number of processes from 1 to 4194304: --pids 512',
  cpus: 'Give a number of CPUs from 0.01 to 1024, up to 3 decimals: --cpus 1.5',
  cpuWeight: 'Give a weight from 1 to 10000 (100 is the default share): --cpu-weight 200',
  cpuset: 'Give CPU numbers and ranges: --cpuset 0-1,3',
  ioWeight: 'Give a weight from 1 to 10000 (100 is the default share): --io-weight 200',
};

/** Parses flag texts (undefined: not given) into Limits; the first bad one is the error. */
export function parseLimits(
  texts: { readonly [K in LimitKey]?: string | undefined },
  op = 'set limits',
): Limits {
  const out: Record<string, number | string> = {};
  for (const key of LIMIT_KEYS) {
    const t = texts[key];
    if (t !== undefined) out[key] = parseLimit(key, t, op);
  }
  const limits = out as Limits;
  checkLimits(limits, op);
  return limits;
}

/** Checks how limits fit together (memory-swap needs memory, and not below it). */
export function checkLimits(limits: Limits, op = 'set limits'): void {
  if (limits.memorySwap === undefined) return;
  if (limits.memory === undefined)
    throw new IglooError('EINVAL', 'Cannot use --memory-swap without --memory', {
      op,
      subject: formatSize(limits.memorySwap),
      hint: HINTS.memorySwap,
    });
  if (limits.memorySwap < limits.memory)
    throw new IglooError(
      'EINVAL',
      `Cannot use --memory-swap ${formatSize(limits.memorySwap)}: it is below --memory ${formatSize(limits.memory)} (it counts memory plus swap)`,
      { op, subject: formatSize(limits.memorySwap), hint: HINTS.memorySwap },
    );
}

/** Limits as "memory 512M, pids 100" (flag names), for messages and tables. */
export function describeLimits(limits: Limits): string {
  const parts = LIMIT_KEYS.filter((k) => limits[k] !== undefined).map(
    (k) => `${LIMIT_SPECS[k].flag} ${LIMIT_SPECS[k].format(limits[k]!)}`,
  );
  return parts.length ? parts.join(', ') : 'none';
}

export function hasLimits(limits: Limits | undefined): boolean {
  return !!limits && LIMIT_KEYS.some((k) => limits[k] !== undefined);
}

/**
 * A container's limits against its owner's ceiling: a limit above the
 * ceiling would be silently capped by the kernel (cgroup v1 accepts it),
 * so it is refused here, naming both.
 */
export function checkCeiling(limits: Limits, ceiling: Ceiling, who: string, op = 'set limits') {
  for (const key of CEILING_KEYS) {
    const c = ceiling[key];
    const v = limits[key];
    if (c === undefined || v === undefined || v <= c) continue;
    const spec = LIMIT_SPECS[key];
    throw new IglooError(
      'EINVAL',
      `Cannot use --${spec.flag} ${spec.format(v)}: it is above ${who}'s ceiling of ${spec.format(c)}`,
      {
        op,
        subject: spec.format(v),
        hint: `Give at most ${spec.format(c)}, or ask root to raise the ceiling: igloo limit set ${who} --${spec.flag} N`,
      },
    );
  }
}

/** --cpus as cgroup quota and period (microseconds). */
export function cpuQuota(cpus: number): { quota: number; period: number } {
  return { quota: Math.round(cpus * CPU_PERIOD_US), period: CPU_PERIOD_US };
}

/** cgroup v2's cpu.weight (1..10000, default 100) as v1's cpu.shares (default 1024). */
export function weightToShares(weight: number): number {
  return Math.min(262144, Math.max(2, Math.round((weight * 1024) / 100)));
}

/** A 1..10000 I/O weight as v1's blkio.weight (10..1000, default 500). */
export function weightToBlkio(weight: number): number {
  return Math.min(1000, Math.max(10, Math.round(weight * 5)));
}
