/**
 * Allocation of ids at the two levels of delegation:
 *  (a) the administrator grants a user a block in /etc/subuid and /etc/subgid
 *      (chooseBlock);
 *  (b) a user gives each container its own slice of their delegated blocks
 *      (chooseSlice), and a container's map may use only delegated ids
 *      (checkMapDelegated).
 */
import { IglooError } from '../errors.ts';
import type { IdKind, IdRange } from './range.ts';
import {
  MAX_ID,
  formatRange,
  formatRanges,
  makeRange,
  normalizeRanges,
  rangeEnd,
  rangesCover,
  rangesOverlap,
  subtractRanges,
} from './range.ts';
import type { IdMapEntry } from './map.ts';
import { checkMap, formatEntry } from './map.ts';
import type { SubidEntry } from './subid.ts';
import { describeSubidEntry } from './subid.ts';
import { countProblem, idProblem } from './util.ts';
import { RESERVED_IDS, reservedOverlap } from './reserved.ts';

export interface GrantOptions {
  /** Ids in the block (default 65536). */
  count?: number;
  /** Use exactly this start instead of searching. */
  start?: number;
  /** Lowest id a searched block may use (default 100000, shadow-utils' SUB_UID_MIN). */
  min?: number;
  /** Highest id a block may use, inclusive (default MAX_ID, like SUB_UID_MAX). */
  max?: number;
  /** Searched blocks start at multiples of this (default 65536). */
  align?: number;
}

export const DEFAULT_BLOCK_COUNT = 65536;
export const DEFAULT_SUB_MIN = 100000;
export const DEFAULT_ALIGN = 65536;
export const DEFAULT_SLICE_SIZE = 65536;

function checkOption(
  op: string,
  name: string,
  value: number | undefined,
  kind: 'id' | 'count',
): void {
  if (value === undefined) return;
  const problem = kind === 'id' ? idProblem(value) : countProblem(value);
  if (problem !== undefined) {
    throw new IglooError('EINVAL', `Cannot ${op}: option ${name} ${problem}`, {
      op,
      subject: name,
      hint:
        kind === 'id'
          ? `Give ${name} as an integer from 0 to ${MAX_ID}`
          : `Give ${name} as an integer of at least 1`,
    });
  }
}

function alignUp(value: number, align: number): number {
  return Math.ceil(value / align) * align;
}

/**
 * Choose a block of subordinate ids for a user: the lowest start at or above
 * `min`, a multiple of `align`, whose block lies at or below `max` and
 * overlaps no existing entry of any owner nor the reserved ids (reserved.ts).
 * With `start`, that exact block is checked instead: it must fit below `max`
 * (EINVAL) and overlap nothing (EOVERLAP, naming the other owner and its
 * line, or what the reserved ids are for). ENOSPACE if nothing fits.
 */
export function chooseBlock(existing: readonly SubidEntry[], opts: GrantOptions = {}): IdRange {
  const op = 'grant subordinate ids';
  checkOption(op, 'count', opts.count, 'count');
  checkOption(op, 'start', opts.start, 'id');
  checkOption(op, 'min', opts.min, 'id');
  checkOption(op, 'max', opts.max, 'id');
  checkOption(op, 'align', opts.align, 'count');
  const count = opts.count ?? DEFAULT_BLOCK_COUNT;
  const min = opts.min ?? DEFAULT_SUB_MIN;
  const max = opts.max ?? MAX_ID;
  const align = opts.align ?? DEFAULT_ALIGN;

  if (opts.start !== undefined) {
    const start = opts.start;
    if (start + count - 1 > max) {
      throw new IglooError(
        'EINVAL',
        `Cannot grant ids ${start}-${start + count - 1}: the block goes beyond the highest allowed id ${max}`,
        { op, subject: String(start), hint: 'Choose a lower start or a smaller count' },
      );
    }
    const wanted = makeRange(start, count);
    const reserved = reservedOverlap(wanted);
    if (reserved !== undefined) {
      throw new IglooError(
        'EOVERLAP',
        `Cannot grant ids ${formatRange(wanted)}: they overlap ${formatRange(reserved)}, reserved for ${reserved.purpose}`,
        {
          op,
          subject: formatRange(reserved),
          hint: 'Choose a start outside the reserved range, or leave start out to pick a free block',
        },
      );
    }
    const clash = [...existing]
      .sort((a, b) => a.line - b.line)
      .find((e) => rangesOverlap(wanted, e));
    if (clash !== undefined) {
      throw new IglooError(
        'EOVERLAP',
        `Cannot grant ids ${formatRange(wanted)}: they overlap the block of ${describeSubidEntry(clash)}`,
        {
          op,
          line: clash.line,
          subject: clash.owner,
          hint: 'Choose a start outside every existing block, or leave start out to pick a free block',
        },
      );
    }
    return wanted;
  }

  // A searched block avoids the other owners' blocks and the reserved ids.
  const used = normalizeRanges([
    ...existing.map((e) => ({ start: e.start, count: e.count })),
    ...RESERVED_IDS,
  ]);
  let s = alignUp(min, align);
  let j = 0;
  while (s + count - 1 <= max) {
    while (j < used.length && rangeEnd(used[j] as IdRange) <= s) j++;
    const next = used[j];
    if (next === undefined || next.start >= s + count) return { start: s, count };
    s = alignUp(rangeEnd(next), align);
  }
  throw new IglooError(
    'ENOSPACE',
    `Cannot grant ${count} ids: no free block of that size between ${min} and ${max} (aligned to ${align})`,
    {
      op,
      subject: String(count),
      hint: 'Ask for fewer ids, lower min or the alignment, or raise max',
    },
  );
}

export interface SliceOptions {
  /** Ids in the slice (default 65536). */
  size?: number;
  /** Distance between candidate starts (default: size). */
  stride?: number;
  /** Use exactly this start instead of searching. */
  start?: number;
  /**
   * Search from the other end: the highest free candidate wins (the
   * one-shot run slot's slice, so that a user's first container keeps the
   * start of the block).
   */
  fromEnd?: boolean;
}

/**
 * Choose a container's slice inside its owner's delegated ranges. Candidates
 * are d.start + k*stride for each (normalized) delegated range d, lowest
 * first; the first that lies within d and overlaps none of `taken` wins.
 * With `start`, the slice must lie inside the delegation (ENOTDELEGATED) and
 * overlap nothing taken nor the reserved ids (EOVERLAP; reserved.ts). ENOSPACE when no candidate is free;
 * ENOTDELEGATED when nothing is delegated at all.
 */
/** chooseSlice's candidates from the highest down: the first free one, or undefined. */
function highestFree(
  own: readonly IdRange[],
  busy: readonly IdRange[],
  size: number,
  stride: number,
): IdRange | undefined {
  for (let i = own.length - 1; i >= 0; i--) {
    const d = own[i] as IdRange;
    if (d.count < size) continue;
    let k = Math.floor((d.count - size) / stride);
    while (k >= 0) {
      const s = d.start + k * stride;
      const clash = busy.find((t) => t.start < s + size && s < rangeEnd(t));
      if (clash === undefined) return { start: s, count: size };
      // Every candidate whose slice reaches into the clash is taken too.
      k = Math.min(k - 1, Math.floor((clash.start - size - d.start) / stride));
    }
  }
  return undefined;
}

export function chooseSlice(
  delegated: readonly IdRange[],
  taken: readonly IdRange[],
  opts: SliceOptions = {},
): IdRange {
  const op = 'allocate container ids';
  checkOption(op, 'size', opts.size, 'count');
  checkOption(op, 'stride', opts.stride, 'count');
  checkOption(op, 'start', opts.start, 'id');
  const size = opts.size ?? DEFAULT_SLICE_SIZE;
  const stride = opts.stride ?? size;
  const own = normalizeRanges(delegated);
  // Reserved ids are never a container's, even where a hand-written block covers them.
  const busy = normalizeRanges([...taken, ...RESERVED_IDS]);
  const noDelegation = (): IglooError =>
    new IglooError('ENOTDELEGATED', 'Cannot allocate container ids: no ids are delegated to you', {
      op,
      hint: 'Ask the administrator to grant you a block in /etc/subuid and /etc/subgid',
    });

  if (opts.start !== undefined) {
    const start = opts.start;
    if (own.length === 0) throw noDelegation();
    if (start + size - 1 > MAX_ID || !rangesCover(own, makeRange(start, size))) {
      const text = `${start}-${start + size - 1}`;
      throw new IglooError(
        'ENOTDELEGATED',
        `Cannot use ids ${text} for a container: they are not inside your delegated ids ${formatRanges(own)}`,
        {
          op,
          subject: text,
          hint: 'Choose a start inside your delegated ids, or leave start out to pick a free slice',
        },
      );
    }
    const wanted = makeRange(start, size);
    const reserved = reservedOverlap(wanted);
    if (reserved !== undefined) {
      throw new IglooError(
        'EOVERLAP',
        `Cannot use ids ${formatRange(wanted)} for a container: they overlap ${formatRange(reserved)}, reserved for ${reserved.purpose}`,
        {
          op,
          subject: formatRange(wanted),
          hint: 'Choose a start outside the reserved range, or leave start out to pick a free slice',
        },
      );
    }
    const clash = busy.find((t) => rangesOverlap(wanted, t));
    if (clash !== undefined) {
      throw new IglooError(
        'EOVERLAP',
        `Cannot use ids ${formatRange(wanted)} for a container: they overlap ids ${formatRange(clash)} already in use`,
        {
          op,
          subject: formatRange(wanted),
          hint: 'Choose another start, or leave start out to pick a free slice',
        },
      );
    }
    return wanted;
  }

  if (own.length === 0) throw noDelegation();
  const last = opts.fromEnd ? highestFree(own, busy, size, stride) : undefined;
  if (last !== undefined) return last;
  for (const d of opts.fromEnd ? [] : own) {
    const dEnd = rangeEnd(d);
    let k = 0;
    let j = 0;
    for (;;) {
      const s = d.start + k * stride;
      if (s + size > dEnd) break;
      while (j < busy.length && rangeEnd(busy[j] as IdRange) <= s) j++;
      const next = busy[j];
      if (next === undefined || next.start >= s + size) return { start: s, count: size };
      // Every later candidate starting before next ends overlaps it too.
      k = Math.max(k + 1, Math.ceil((rangeEnd(next) - d.start) / stride));
    }
  }
  const free = subtractRanges(own, busy);
  throw new IglooError(
    'ENOSPACE',
    `Cannot allocate ${size} ids for a container: no free slice left in your delegated ids ${formatRanges(
      own,
    )} (free: ${formatRanges(free)})`,
    {
      op,
      subject: String(size),
      hint: 'Ask the administrator for a bigger block in /etc/subuid and /etc/subgid, or destroy containers you no longer need',
    },
  );
}

/**
 * Check that a container's map uses only ids delegated to its owner: every
 * outside range must be covered by `delegated` plus the single ids in
 * `extra` (e.g. the owner's own uid when explicitly allowed). Host id 0 and
 * the reserved ids (reserved.ts) are refused always (EPERM), even if
 * delegated or extra. Otherwise
 * ENOTDELEGATED naming the first uncovered range and the kind.
 */
export function checkMapDelegated(
  map: readonly IdMapEntry[],
  kind: IdKind,
  delegated: readonly IdRange[],
  opts: { extra?: readonly number[]; owner?: string } = {},
): void {
  const op = `check ${kind} map`;
  const entries = checkMap(map, kind, { kernelLimits: false, op });
  const file = kind === 'uid' ? '/etc/subuid' : '/etc/subgid';
  const who = opts.owner !== undefined ? ` to ${JSON.stringify(opts.owner)}` : '';
  for (const e of entries) {
    if (e.outside === 0) {
      throw new IglooError(
        'EPERM',
        `Cannot map host ${kind} 0 (entry "${formatEntry(e)}"): host root is never mapped into a container`,
        { op, subject: formatEntry(e), hint: `Map ${kind}s from your delegated range in ${file}` },
      );
    }
  }
  for (const e of entries) {
    const reserved = reservedOverlap({ start: e.outside, count: e.count });
    if (reserved !== undefined) {
      throw new IglooError(
        'EPERM',
        `Cannot map host ${kind}s ${formatRange(reserved)} (entry "${formatEntry(e)}"): they are reserved for ${reserved.purpose}, and never mapped into a container`,
        {
          op,
          subject: formatEntry(e),
          hint: `Map ${kind}s from your delegated range in ${file} outside ${formatRange(reserved)}, and ask the administrator to move a block that covers them`,
        },
      );
    }
  }
  const extra = (opts.extra ?? []).map((id) => makeRange(id, 1));
  const allowed = normalizeRanges([...delegated, ...extra]);
  for (const e of entries) {
    const missing = subtractRanges([{ start: e.outside, count: e.count }], allowed)[0];
    if (missing !== undefined) {
      throw new IglooError(
        'ENOTDELEGATED',
        `Cannot use host ${kind}s ${formatRange(missing)} (entry "${formatEntry(e)}" of the ${kind} map): they are not delegated${who} in ${file}`,
        {
          op,
          path: file,
          subject: formatRange(missing),
          hint: `Use ${kind}s inside the delegated ranges ${formatRanges(allowed)}, or ask the administrator to delegate more in ${file}`,
        },
      );
    }
  }
}

/** The map igloo gives a container: inside ids 0..count-1 to the slice. */
export function sliceMap(slice: IdRange): IdMapEntry[] {
  const r = makeRange(slice.start, slice.count);
  return [{ inside: 0, outside: r.start, count: r.count }];
}
