/**
 * Copying a container's files to another slice (`igloo copy`) or within
 * its own (`igloo snapshot`): the user namespace the copy runs in, and the
 * ownership shift inside it, as data.
 *
 * The namespace maps FROM's ids where FROM has them (inside 0..SPAN-1) and
 * TO's right above (SPAN..2*SPAN-1), so one process sees both trees with
 * their real owners and no other host id; a file of inside id N of FROM
 * becomes inside id SPAN+N, i.e. TO's host id for N. Maps of the same
 * slice need no second part and no shift.
 */
import { IglooError } from '../errors.ts';
import type { IdMapEntry, IdMaps } from '../idmap/index.ts';
import type { ShiftRange } from './shift.ts';

export interface ClonePlan {
  /** The task's namespace map (a user's task adds the user's own ids above it). */
  readonly map: IdMaps;
  /** `igloo-helper shift` ranges, in the namespace's ids; empty for the same map. */
  readonly ranges: readonly ShiftRange[];
}

const span = (entries: readonly IdMapEntry[]) =>
  entries.reduce((n, e) => Math.max(n, e.inside + e.count), 0);

const sameEntries = (a: readonly IdMapEntry[], b: readonly IdMapEntry[]) =>
  a.length === b.length &&
  a.every(
    (e, i) => e.inside === b[i]!.inside && e.outside === b[i]!.outside && e.count === b[i]!.count,
  );

/** The inside layout of a map: its entries without their host ids. */
const shape = (entries: readonly IdMapEntry[]) =>
  entries.map((e) => `${e.inside}+${e.count}`).join(',');

export function clonePlan(from: IdMaps, to: IdMaps, what: string): ClonePlan {
  if (sameEntries(from.uid, to.uid) && sameEntries(from.gid, to.gid))
    return { map: from, ranges: [] };
  if (shape(from.uid) !== shape(to.uid) || shape(from.gid) !== shape(to.gid)) {
    throw new IglooError(
      'EINVAL',
      `Cannot ${what}: the two id maps map different inside ids (${shape(from.uid)} and ${shape(to.uid)})`,
      {
        op: 'copy',
        hint: 'A copy gets a slice of the same size as its source; give --idmap a map with the same inside ranges',
      },
    );
  }
  const up = (entries: readonly IdMapEntry[], by: number) =>
    entries.map((e) => ({ ...e, inside: e.inside + by }));
  const su = span(from.uid);
  const sg = span(from.gid);
  return {
    map: { uid: [...from.uid, ...up(to.uid, su)], gid: [...from.gid, ...up(to.gid, sg)] },
    ranges: [
      ...from.uid.map((e): ShiftRange => ({
        kind: 'u',
        from: e.inside,
        to: e.inside + su,
        count: e.count,
      })),
      ...from.gid.map((e): ShiftRange => ({
        kind: 'g',
        from: e.inside,
        to: e.inside + sg,
        count: e.count,
      })),
    ],
  };
}

/** The inside uid and gid that TO's root has in the clone's namespace. */
export function cloneRoot(plan: ClonePlan, from: IdMaps): { uid: number; gid: number } {
  return plan.ranges.length === 0
    ? { uid: 0, gid: 0 }
    : { uid: span(from.uid), gid: span(from.gid) };
}

/** lxc-snapshot's names: snap0, snap1, … the first one not taken. */
export function nextSnapshotName(taken: readonly string[]): string {
  for (let i = 0; ; i++) if (!taken.includes(`snap${i}`)) return `snap${i}`;
}
