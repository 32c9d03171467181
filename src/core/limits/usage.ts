/**
 * Live usage of a container's cgroup, parsed from the texts of its files
 * (cgroup v1 and v2 name them differently; the fields are the same).
 */

export interface Usage {
  memory?: {
    /** Bytes in use, the limit (undefined: none), the peak. */
    current: number;
    limit?: number;
    peak?: number;
    /** v1: times the limit was hit; v2: memory.events max. */
    failcnt?: number;
    /** Processes the OOM killer killed in this cgroup. */
    oomKills: number;
  };
  cpu?: {
    /** CPU time used, nanoseconds. */
    usageNs: number;
    periods?: number;
    throttled?: number;
    throttledNs?: number;
  };
  pids?: { current: number; limit?: number };
  io?: { readBytes: number; writeBytes: number };
  frozen?: boolean;
}

/** "key value" lines (memory.stat, cpu.stat, memory.oom_control) -> numbers. */
export function parseFlatKeyed(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^-?\d+$/.test(v)) out[k] = Number(v);
  }
  return out;
}

/** One number in a file ("max" or a v1 "unlimited" sentinel: undefined). */
export function parseCount(text: string): number | undefined {
  const t = text.trim();
  if (t === 'max' || !/^\d+$/.test(t)) return undefined;
  const n = Number(t);
  // v1's "no limit" is the largest page-aligned long (9223372036854771712).
  return n >= 2 ** 62 ? undefined : n;
}

/** v1 blkio.throttle.io_service_bytes: "8:0 Read 4096" lines, summed over devices. */
export function parseBlkioBytes(text: string): { readBytes: number; writeBytes: number } {
  let readBytes = 0;
  let writeBytes = 0;
  for (const line of text.split('\n')) {
    const [dev, op, n] = line.trim().split(/\s+/);
    if (!dev || !/^\d+:\d+$/.test(dev) || n === undefined) continue;
    if (op === 'Read') readBytes += Number(n);
    if (op === 'Write') writeBytes += Number(n);
  }
  return { readBytes, writeBytes };
}

/** v2 io.stat: "8:0 rbytes=1 wbytes=2 ..." lines, summed over devices. */
export function parseIoStat(text: string): { readBytes: number; writeBytes: number } {
  let readBytes = 0;
  let writeBytes = 0;
  for (const line of text.split('\n')) {
    for (const field of line.trim().split(/\s+/).slice(1)) {
      const [k, v] = field.split('=');
      if (k === 'rbytes') readBytes += Number(v);
      if (k === 'wbytes') writeBytes += Number(v);
    }
  }
  return { readBytes, writeBytes };
}

/** CPU use between two samples, as a percentage of one CPU (200 = two CPUs busy). */
export function cpuPercent(before: number, after: number, elapsedNs: number): number {
  if (elapsedNs <= 0 || after < before) return 0;
  return Math.round(((after - before) / elapsedNs) * 1000) / 10;
}
