/**
 * Id ranges and sets of id ranges.
 *
 * An id is an integer in [0, MAX_ID]; 4294967295 is (uid_t)-1, the invalid id,
 * and never part of a range. A range is the half-open interval
 * [start, start + count) with count >= 1.
 *
 * A set of ranges is "normalized" when it is sorted by start, no two ranges
 * overlap and no two ranges are adjacent (adjacent ones are merged). Every set
 * function accepts any list of valid ranges and returns a normalized one.
 */
import { IglooError } from '../errors.ts';
import { MAX_ID_VALUE, countProblem, idProblem, isCount, isId } from './util.ts';

export type IdKind = 'uid' | 'gid';

export interface IdRange {
  readonly start: number;
  readonly count: number;
}

/** The highest valid id. */
export const MAX_ID = MAX_ID_VALUE;

/**
 * A validated range. Throws EINVAL unless start is an id, count is an integer
 * >= 1 and the last id start + count - 1 is at most MAX_ID.
 */
export function makeRange(start: number, count: number): IdRange {
  const problem = rangeProblem(start, count);
  if (problem !== undefined) {
    throw new IglooError(
      'EINVAL',
      `Cannot make an id range from start ${String(start)} and count ${String(count)}: ${problem}`,
      {
        op: 'make range',
        subject: `${String(start)}+${String(count)}`,
        hint: `Ids are integers from 0 to ${MAX_ID} and a range holds at least one id`,
      },
    );
  }
  return { start, count };
}

/** Why start/count do not form a valid range, or undefined if they do. */
export function rangeProblem(start: unknown, count: unknown): string | undefined {
  const s = idProblem(start);
  if (s !== undefined) return `start ${s}`;
  const c = countProblem(count);
  if (c !== undefined) return `count ${c}`;
  const last = (start as number) + (count as number) - 1;
  if (last > MAX_ID) return `last id ${last} is larger than ${MAX_ID}`;
  return undefined;
}

/** True if `r` is a well-formed range. */
export function isValidRange(r: unknown): r is IdRange {
  if (typeof r !== 'object' || r === null) return false;
  const { start, count } = r as { start: unknown; count: unknown };
  return isId(start) && isCount(count) && start + count - 1 <= MAX_ID;
}

/** The first id after the range (exclusive end). */
export function rangeEnd(r: IdRange): number {
  return r.start + r.count;
}

/** The last id in the range. */
export function rangeLast(r: IdRange): number {
  return r.start + r.count - 1;
}

export function containsId(r: IdRange, id: number): boolean {
  return id >= r.start && id < r.start + r.count;
}

/** True if the ranges share at least one id (adjacent ranges do not overlap). */
export function rangesOverlap(a: IdRange, b: IdRange): boolean {
  return a.start < b.start + b.count && b.start < a.start + a.count;
}

/** True if every id of `inner` is in `outer`. */
export function rangeContains(outer: IdRange, inner: IdRange): boolean {
  return inner.start >= outer.start && inner.start + inner.count <= outer.start + outer.count;
}

export function intersectRange(a: IdRange, b: IdRange): IdRange | null {
  const start = Math.max(a.start, b.start);
  const end = Math.min(a.start + a.count, b.start + b.count);
  return end > start ? { start, count: end - start } : null;
}

/** The ids of `a` that are not in `b`: zero, one or two ranges, in order. */
export function subtractRange(a: IdRange, b: IdRange): IdRange[] {
  if (!rangesOverlap(a, b)) return [{ start: a.start, count: a.count }];
  const out: IdRange[] = [];
  if (a.start < b.start) out.push({ start: a.start, count: b.start - a.start });
  const aEnd = a.start + a.count;
  const bEnd = b.start + b.count;
  if (bEnd < aEnd) out.push({ start: bEnd, count: aEnd - bEnd });
  return out;
}

/** "2000000-2065535" (first and last id, both inclusive). */
export function formatRange(r: IdRange): string {
  return `${r.start}-${rangeLast(r)}`;
}

/** A list of ranges for messages: "2000000-2065535, 3000000-3999999" or "none". */
export function formatRanges(rs: readonly IdRange[]): string {
  return rs.length === 0 ? 'none' : rs.map(formatRange).join(', ');
}

function checkRanges(rs: readonly IdRange[], op: string): void {
  for (let i = 0; i < rs.length; i++) {
    const r = rs[i];
    if (!isValidRange(r)) {
      const { start, count } = (r ?? {}) as { start?: unknown; count?: unknown };
      throw new IglooError(
        'EINVAL',
        `Cannot ${op}: range ${i} (start ${String(start)}, count ${String(count)}) is not valid: ${
          rangeProblem(start, count) ?? 'not an object'
        }`,
        { op, subject: `range ${i}` },
      );
    }
  }
}

/**
 * Sorted, non-overlapping, adjacent ranges merged. Throws EINVAL if a range
 * is not valid.
 */
export function normalizeRanges(rs: readonly IdRange[]): IdRange[] {
  checkRanges(rs, 'normalize id ranges');
  const sorted = [...rs].sort((x, y) => x.start - y.start || x.count - y.count);
  const out: { start: number; count: number }[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && r.start <= last.start + last.count) {
      const end = Math.max(last.start + last.count, r.start + r.count);
      last.count = end - last.start;
    } else {
      out.push({ start: r.start, count: r.count });
    }
  }
  return out;
}

export function unionRanges(a: readonly IdRange[], b: readonly IdRange[]): IdRange[] {
  return normalizeRanges([...a, ...b]);
}

/** The ids of `from` that are in no range of `remove`. */
export function subtractRanges(from: readonly IdRange[], remove: readonly IdRange[]): IdRange[] {
  const a = normalizeRanges(from);
  const b = normalizeRanges(remove);
  const out: IdRange[] = [];
  let j = 0;
  for (const r of a) {
    let start = r.start;
    const end = r.start + r.count;
    while (j < b.length && rangeEnd(b[j] as IdRange) <= start) j++;
    let k = j;
    while (start < end && k < b.length) {
      const cut = b[k] as IdRange;
      if (cut.start >= end) break;
      if (cut.start > start) out.push({ start, count: cut.start - start });
      start = Math.max(start, rangeEnd(cut));
      if (rangeEnd(cut) > end) break;
      k++;
    }
    if (start < end) out.push({ start, count: end - start });
  }
  return out;
}

/** The ids that are in both `a` and `b`. */
export function intersectRanges(a: readonly IdRange[], b: readonly IdRange[]): IdRange[] {
  const x = normalizeRanges(a);
  const y = normalizeRanges(b);
  const out: IdRange[] = [];
  let i = 0;
  let j = 0;
  while (i < x.length && j < y.length) {
    const p = x[i] as IdRange;
    const q = y[j] as IdRange;
    const common = intersectRange(p, q);
    if (common !== null) out.push(common);
    if (rangeEnd(p) < rangeEnd(q)) i++;
    else j++;
  }
  return out;
}

/** True if every id of `r` is in the union of `cover`. */
export function rangesCover(cover: readonly IdRange[], r: IdRange): boolean {
  checkRanges([r], 'check id range cover');
  return normalizeRanges(cover).some((c) => rangeContains(c, r));
}

/** The number of distinct ids in the union of `rs`. */
export function countIds(rs: readonly IdRange[]): number {
  return normalizeRanges(rs).reduce((sum, r) => sum + r.count, 0);
}
