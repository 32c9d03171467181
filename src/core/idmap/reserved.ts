/**
 * Host ids that no delegation may hold and no container may map, because
 * igloo gives them a meaning of their own on the host.
 *
 * Root's shared images are stored on disk with their ids shifted to
 * 0x7FFF0000 + N (lifecycle/idmapped.ts): files owned by ids no user has,
 * setuid to an id that is nobody's, capabilities whose root is such an id.
 * That holds only while nobody is given those ids: a user whose block
 * covered them would own every shared image's files from their own
 * containers (and their setuid programs would be setuid to that user's
 * container root). systemd reserves the same range as "foreign" for the same
 * purpose. Like host id 0, it is refused wherever ids are handed out or
 * mapped: `igloo subid grant`, a container's map, and `igloo audit` flags a
 * hand-written /etc/subuid line that covers it.
 */
import type { IdRange } from './range.ts';
import { rangesOverlap } from './range.ts';

export interface ReservedRange extends IdRange {
  /** What the ids are for, as a clause ("the owners of ..."). */
  readonly purpose: string;
}

/** Where root's shared images keep their ids: image id N is start + N. */
export const SHARED_IMAGE_IDS: ReservedRange = {
  start: 0x7fff0000, // 2147418112
  count: 65536,
  purpose: "the owners of root's shared images on disk (systemd's foreign range)",
};

export const RESERVED_IDS: readonly ReservedRange[] = [SHARED_IMAGE_IDS];

/** The first reserved range RANGE overlaps, if any. */
export function reservedOverlap(range: IdRange): ReservedRange | undefined {
  return RESERVED_IDS.find((r) => rangesOverlap(range, r));
}
