/**
 * User-namespace id maps: the lines of /proc/PID/uid_map and gid_map.
 *
 * An entry maps the ids [inside, inside + count) of a namespace to the ids
 * [outside, outside + count) of its parent namespace. A valid map has 1 to
 * KERNEL_MAX_MAP_LINES entries, and neither the inside ranges nor the outside
 * ranges overlap (the kernel refuses both).
 */
import { IglooError } from '../errors.ts';
import type { IdKind, IdRange } from './range.ts';
import { MAX_ID, formatRange, formatRanges, normalizeRanges, rangeProblem } from './range.ts';
import { idProblem, isId } from './util.ts';

export interface IdMapEntry {
  readonly inside: number;
  readonly outside: number;
  readonly count: number;
}

export interface IdMaps {
  readonly uid: readonly IdMapEntry[];
  readonly gid: readonly IdMapEntry[];
}

/** Lines the kernel accepts in one uid_map/gid_map write (since Linux 4.15). */
export const KERNEL_MAX_MAP_LINES = 340;

/** "0 2000000 65536", the entry as written to uid_map. */
export function formatEntry(e: IdMapEntry): string {
  return `${String(e.inside)} ${String(e.outside)} ${String(e.count)}`;
}

/** Why an entry is not well-formed, or undefined if it is. */
export function entryProblem(e: unknown): string | undefined {
  if (typeof e !== 'object' || e === null) return 'it is not an object';
  const { inside, outside, count } = e as Record<string, unknown>;
  const ins = rangeProblem(inside, count);
  if (ins !== undefined) return `inside ${ins}`;
  const out = rangeProblem(outside, count);
  if (out !== undefined) return `outside ${out}`;
  return undefined;
}

export interface CheckMapOptions {
  /** Refuse an empty map and one longer than KERNEL_MAX_MAP_LINES (default true). */
  kernelLimits?: boolean;
  /** Refuse overlapping inside or outside ranges (default true). */
  overlaps?: boolean;
  op?: string;
  path?: string;
  /** Describes entry i in messages (default `entry ${i + 1} "0 2000000 65536"`). */
  describe?: (i: number) => string;
  /** The line of entry i, for error details. */
  lineOf?: (i: number) => number | undefined;
}

/**
 * Validate a map and return a copy. The building block of validateMap and of
 * the parsers, which describe entries by their line.
 */
export function checkMap(
  entries: readonly IdMapEntry[],
  kind: IdKind | 'id',
  opts: CheckMapOptions = {},
): IdMapEntry[] {
  const op = opts.op ?? `validate ${kind} map`;
  const where = opts.path !== undefined ? ` in ${opts.path}` : '';
  const describe =
    opts.describe ??
    ((i: number) => {
      const e = entries[i];
      const text = e !== undefined && entryProblem(e) === undefined ? ` "${formatEntry(e)}"` : '';
      return `entry ${i + 1}${text}`;
    });
  if (!Array.isArray(entries)) {
    throw new IglooError('EINVAL', `Invalid ${kind} map${where}: it is not a list of entries`, {
      op,
      path: opts.path,
    });
  }
  if (opts.kernelLimits !== false) {
    if (entries.length === 0) {
      throw new IglooError('EINVAL', `Invalid ${kind} map${where}: it has no entries`, {
        op,
        path: opts.path,
        hint: `Give at least one ${kind} map entry such as "0 2000000 65536"`,
      });
    }
    if (entries.length > KERNEL_MAX_MAP_LINES) {
      throw new IglooError(
        'EINVAL',
        `Invalid ${kind} map${where}: it has ${entries.length} entries, the kernel accepts at most ${KERNEL_MAX_MAP_LINES}`,
        { op, path: opts.path, hint: 'Merge adjacent entries or map fewer ranges' },
      );
    }
  }
  const out: IdMapEntry[] = [];
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    const problem = entryProblem(e);
    if (problem !== undefined) {
      throw new IglooError(
        'EINVAL',
        `Invalid ${kind} map${where}: ${describe(i)} is not valid: ${problem}`,
        {
          op,
          path: opts.path,
          line: opts.lineOf?.(i),
          subject: describe(i),
          hint: `Ids are integers from 0 to ${MAX_ID}; a count is at least 1`,
        },
      );
    }
    const { inside, outside, count } = e as IdMapEntry;
    out.push({ inside, outside, count });
  }
  if (opts.overlaps !== false) {
    for (const side of ['inside', 'outside'] as const) {
      const pair = findOverlap(out, side);
      if (pair === undefined) continue;
      const [i, j] = pair;
      const a = out[i] as IdMapEntry;
      const b = out[j] as IdMapEntry;
      throw new IglooError(
        'EOVERLAP',
        `Invalid ${kind} map${where}: ${describe(i)} and ${describe(j)} overlap ${
          side === 'inside' ? 'inside' : 'outside'
        } (${formatRange(sideRange(a, side))} and ${formatRange(sideRange(b, side))})`,
        {
          op,
          path: opts.path,
          line: opts.lineOf?.(j),
          subject: `${formatEntry(a)}; ${formatEntry(b)}`,
          hint: `Each ${kind} may appear in only one entry on each side of the map`,
        },
      );
    }
  }
  return out;
}

function sideRange(e: IdMapEntry, side: 'inside' | 'outside'): IdRange {
  return { start: e[side], count: e.count };
}

/** The first pair (by position of the later entry) whose `side` ranges overlap. */
function findOverlap(
  entries: readonly IdMapEntry[],
  side: 'inside' | 'outside',
): [number, number] | undefined {
  const order = entries
    .map((_, i) => i)
    .sort((x, y) => {
      const ex = entries[x] as IdMapEntry;
      const ey = entries[y] as IdMapEntry;
      return ex[side] - ey[side] || x - y;
    });
  // Sweep in start order: an entry that starts before the furthest end seen so
  // far overlaps the entry that reached it. Report the pair whose later entry
  // comes first in the map.
  let best: [number, number] | undefined;
  let reach = -1;
  let reachIdx = -1;
  for (const idx of order) {
    const e = entries[idx] as IdMapEntry;
    if (reachIdx >= 0 && e[side] < reach) {
      const pair: [number, number] = reachIdx < idx ? [reachIdx, idx] : [idx, reachIdx];
      if (best === undefined || pair[1] < best[1] || (pair[1] === best[1] && pair[0] < best[0]))
        best = pair;
    }
    const end = e[side] + e.count;
    if (end > reach) {
      reach = end;
      reachIdx = idx;
    }
  }
  return best;
}

/**
 * Check a map as the kernel would before it is written: 1 to
 * KERNEL_MAX_MAP_LINES entries (EINVAL), valid numbers (EINVAL), no two
 * inside ranges and no two outside ranges overlapping (EOVERLAP, naming both
 * entries). Returns a copy of the entries in their order.
 */
export function validateMap(entries: readonly IdMapEntry[], kind: IdKind): IdMapEntry[] {
  return checkMap(entries, kind);
}

function find(
  map: readonly IdMapEntry[],
  id: number,
  from: 'inside' | 'outside',
): IdMapEntry | undefined {
  if (!isId(id)) return undefined;
  for (const e of map) {
    if (id >= e[from] && id < e[from] + e.count) return e;
  }
  return undefined;
}

/** The parent-namespace id of `id`, or undefined if the map does not cover it. */
export function tryToOutside(map: readonly IdMapEntry[], id: number): number | undefined {
  const e = find(map, id, 'inside');
  return e === undefined ? undefined : e.outside + (id - e.inside);
}

/** The namespace id of parent id `id`, or undefined if the map does not cover it. */
export function tryToInside(map: readonly IdMapEntry[], id: number): number | undefined {
  const e = find(map, id, 'outside');
  return e === undefined ? undefined : e.inside + (id - e.outside);
}

function checkId(id: number, kind: IdKind, op: string): void {
  const problem = idProblem(id);
  if (problem !== undefined) {
    throw new IglooError('EINVAL', `Cannot ${op} ${kind} ${String(id)}: ${problem}`, {
      op,
      subject: String(id),
    });
  }
}

function unmapped(id: number, message: string, hint: string): IglooError {
  return new IglooError('EUNMAPPED', message, { op: 'translate', subject: String(id), hint });
}

/** Translate an id of the namespace to its parent. EUNMAPPED if not covered. */
export function toOutside(map: readonly IdMapEntry[], id: number, kind: IdKind): number {
  checkId(id, kind, 'translate');
  const out = tryToOutside(map, id);
  if (out !== undefined) return out;
  throw unmapped(
    id,
    `Cannot translate ${kind} ${id} to the parent namespace: no entry of the ${kind} map covers it (mapped inside: ${formatRanges(insideRanges(map))})`,
    `Use a ${kind} that the container maps, or add an entry for it to the ${kind} map`,
  );
}

/** Translate a parent-namespace id into the namespace. EUNMAPPED if not covered. */
export function toInside(map: readonly IdMapEntry[], id: number, kind: IdKind): number {
  checkId(id, kind, 'translate');
  const ins = tryToInside(map, id);
  if (ins !== undefined) return ins;
  throw unmapped(
    id,
    `Cannot translate parent ${kind} ${id} into the namespace: no entry of the ${kind} map covers it (mapped outside: ${formatRanges(outsideRanges(map))})`,
    'Inside the namespace such ids appear as the overflow id (usually 65534, "nobody")',
  );
}

/** The normalized set of namespace ids the map covers. */
export function insideRanges(map: readonly IdMapEntry[]): IdRange[] {
  return normalizeRanges(map.map((e) => ({ start: e.inside, count: e.count })));
}

/** The normalized set of parent ids the map covers. */
export function outsideRanges(map: readonly IdMapEntry[]): IdRange[] {
  return normalizeRanges(map.map((e) => ({ start: e.outside, count: e.count })));
}

/**
 * Express a nested namespace's map in the ids of the outer map's parent.
 *
 * `inner` maps the nested namespace to its parent P (as the kernel shows
 * /proc/PID/uid_map to a reader in P); `outer` maps P to its own parent G.
 * The result maps the nested namespace straight to G. An inner entry is split
 * wherever the outer entries it passes through split; the pieces keep the
 * order of `inner`. EUNMAPPED if some id of an inner entry's outside range is
 * not mapped by `outer`. Both maps must be valid apart from the kernel's line
 * limit (the result may have more entries than either input).
 */
export function composeMaps(
  outer: readonly IdMapEntry[],
  inner: readonly IdMapEntry[],
  kind: IdKind,
): IdMapEntry[] {
  const op = `compose ${kind} maps`;
  const o = checkMap(outer, kind, { kernelLimits: false, op });
  const n = checkMap(inner, kind, { kernelLimits: false, op });
  const sortedOuter = [...o].sort((a, b) => a.inside - b.inside);
  const out: IdMapEntry[] = [];
  for (const e of n) {
    let pos = e.outside; // an id of P
    const end = e.outside + e.count;
    for (const oe of sortedOuter) {
      if (pos >= end) break;
      const oEnd = oe.inside + oe.count;
      if (oEnd <= pos) continue;
      if (oe.inside > pos) break; // gap at pos
      const pieceEnd = Math.min(end, oEnd);
      out.push({
        inside: e.inside + (pos - e.outside),
        outside: oe.outside + (pos - oe.inside),
        count: pieceEnd - pos,
      });
      pos = pieceEnd;
    }
    if (pos < end) {
      const next = sortedOuter.find((oe) => oe.inside > pos);
      const gapEnd = next === undefined ? end : Math.min(end, next.inside);
      const gap = { start: pos, count: gapEnd - pos };
      throw new IglooError(
        'EUNMAPPED',
        `Cannot compose ${kind} maps: inner entry "${formatEntry(e)}" uses parent ${kind}s ${formatRange(
          gap,
        )}, which the outer ${kind} map does not map`,
        {
          op,
          subject: formatEntry(e),
          hint: `A nested container can only use ${kind}s that its parent container maps (parent maps ${formatRanges(
            insideRanges(o),
          )})`,
        },
      );
    }
  }
  return out;
}

/** The same map seen from the other side: inside and outside swapped. */
export function invertMap(map: readonly IdMapEntry[]): IdMapEntry[] {
  return map.map((e) => ({ inside: e.outside, outside: e.inside, count: e.count }));
}

function byInside(a: IdMapEntry, b: IdMapEntry): number {
  return a.inside - b.inside || a.outside - b.outside || a.count - b.count;
}

/** True if both maps have the same entries, in any order. */
export function sameMap(a: readonly IdMapEntry[], b: readonly IdMapEntry[]): boolean {
  if (a.length !== b.length) return false;
  const x = [...a].sort(byInside);
  const y = [...b].sort(byInside);
  return x.every((e, i) => {
    const f = y[i] as IdMapEntry;
    return e.inside === f.inside && e.outside === f.outside && e.count === f.count;
  });
}

/**
 * The shortest equivalent map: entries sorted by inside, and entries that
 * continue each other on both sides merged. Two maps translate every id the
 * same way exactly when their canonical maps are equal (sameMap).
 */
export function canonicalMap(map: readonly IdMapEntry[]): IdMapEntry[] {
  const out: { inside: number; outside: number; count: number }[] = [];
  for (const e of [...map].sort(byInside)) {
    const last = out[out.length - 1];
    if (
      last !== undefined &&
      last.inside + last.count === e.inside &&
      last.outside + last.count === e.outside
    ) {
      last.count += e.count;
    } else {
      out.push({ inside: e.inside, outside: e.outside, count: e.count });
    }
  }
  return out;
}
