/**
 * The parent of each user namespace, derived for the tree behind `igloo ps`
 * and `igloo tree` (model.ts gathers the facts from one scan). Pure: no I/O,
 * unit-tested through model.test.ts.
 *
 * The kernel's NS_GET_PARENT ioctl is not reachable from Node, so the tree
 * is derived from what /proc shows:
 *  - every uid_map/gid_map is read by the viewer, and the kernel prints its
 *    outside column in the viewer's ids whatever the nesting depth, so each
 *    namespace's map says which view ids it uses;
 *  - a child's ids are always a subset of its parent's (the kernel refuses a
 *    map that uses ids the parent does not map), so the candidates for the
 *    parent of N are the namespaces whose uid and gid ranges cover N's;
 *  - a candidate whose processes all sit in deeper pid namespaces (NSpid
 *    length) than N's is dropped: a child is not shallower than its parent;
 *  - the most specific candidate (fewest ids) wins ("map"); between equally
 *    specific ones (two containers sharing a slice), the one that holds the
 *    parent process of N's oldest process, then the deepest;
 *  - a candidate with exactly the same ranges as N (a nested namespace that
 *    maps its parent one to one) is accepted only when all its processes sit
 *    in shallower pid namespaces than N's (NSpid length), the usual shape of
 *    a nested container; then the basis is "map+pid-depth";
 *  - with no candidate left the view's own namespace is the parent ("view").
 * Siblings with identical maps are therefore never nested under each other,
 * and a nested namespace with the same map and no pid namespace of its own
 * shows as a sibling: the basis field says how each edge was derived.
 */
import type { IdMapEntry } from '../idmap/map.ts';
import type { IdRange } from '../idmap/range.ts';
import { countIds, normalizeRanges } from '../idmap/range.ts';

/** How an edge of the tree was derived (the rules above). */
export type ParentBasis = 'view' | 'map' | 'map+pid-depth' | 'unknown-map';

/** A map's outside column (ids in the view) as normalized ranges. */
export const outsideRanges = (map: readonly IdMapEntry[]): IdRange[] =>
  normalizeRanges(map.map((e) => ({ start: e.outside, count: e.count })));

/** Whether normalized `outer` holds every range of `inner` (each lies within one of outer's). */
function covers(outer: readonly IdRange[], inner: readonly IdRange[]): boolean {
  for (const r of inner) {
    let inside = false;
    for (const c of outer) {
      if (c.start <= r.start && r.start + r.count <= c.start + c.count) {
        inside = true;
        break;
      }
    }
    if (!inside) return false;
  }
  return true;
}

const sameRanges = (a: readonly IdRange[], b: readonly IdRange[]): boolean =>
  a.length === b.length && a.every((r, i) => r.start === b[i]!.start && r.count === b[i]!.count);

/** What the derivation knows of one user namespace (model.ts gathers it from a scan). */
export interface NsFacts {
  readonly userns: number;
  readonly uid: IdRange[] | null;
  readonly gid: IdRange[] | null;
  readonly minPidDepth: number;
  readonly maxPidDepth: number;
  /** The user namespace of the parent process of the namespace's oldest process. */
  readonly parentProcessNs?: number | null;
}

/**
 * The parent of every user namespace but the view's, by the rules in this
 * file's header comment. `viewNs` covers every id.
 */
export function deriveParents(
  viewNs: number,
  facts: readonly NsFacts[],
): Map<number, { parent: number; basis: ParentBasis }> {
  // Everything a pair needs is worked out once per namespace: with a thousand
  // containers there are a million pairs. Normalized ranges are sorted and
  // merged, so a range is covered when one of them holds it, and a namespace
  // whose lowest or highest id lies outside another's span cannot be covered.
  interface Prepared {
    readonly f: NsFacts;
    readonly uid: IdRange[];
    readonly gid: IdRange[];
    readonly size: number;
    readonly lo: number;
    readonly hi: number;
  }
  const prepare = (f: NsFacts): Prepared | undefined => {
    if (f.uid === null || f.gid === null) return undefined;
    const uid = normalizeRanges(f.uid);
    const gid = normalizeRanges(f.gid);
    const first = uid[0];
    const last = uid[uid.length - 1];
    return {
      f,
      uid,
      gid,
      size: countIds(uid) + countIds(gid),
      lo: first ? first.start : Infinity,
      hi: last ? last.start + last.count : -Infinity,
    };
  };
  const candidates: Prepared[] = [];
  const prepared = new Map<NsFacts, Prepared>();
  for (const f of facts) {
    const p = prepare(f);
    if (p === undefined) continue;
    prepared.set(f, p);
    if (f.userns !== viewNs) candidates.push(p);
  }
  const out = new Map<number, { parent: number; basis: ParentBasis }>();
  for (const n of facts) {
    if (n.userns === viewNs) continue;
    const pn = prepared.get(n);
    if (pn === undefined) {
      out.set(n.userns, { parent: viewNs, basis: 'unknown-map' });
      continue;
    }
    let best: { m: NsFacts; size: number; basis: ParentBasis } | undefined;
    for (const pm of candidates) {
      const m = pm.f;
      if (m.userns === n.userns) continue;
      if (pm.lo > pn.lo || pm.hi < pn.hi) continue;
      if (!covers(pm.uid, pn.uid) || !covers(pm.gid, pn.gid)) continue;
      // A parent's processes do not sit in deeper pid namespaces than its child's.
      if (m.minPidDepth > n.minPidDepth) continue;
      let basis: ParentBasis = 'map';
      if (sameRanges(pm.uid, pn.uid) && sameRanges(pm.gid, pn.gid)) {
        if (!(m.maxPidDepth < n.minPidDepth)) continue;
        basis = 'map+pid-depth';
      }
      const size = pm.size;
      // Fewest ids wins; among equal sizes, the one holding the parent process of
      // N's oldest process, then the one with the deepest pid namespace.
      const rank = (f: NsFacts) => [f.userns === n.parentProcessNs ? 1 : 0, f.minPidDepth];
      const better = (a: number[], b: number[]) =>
        a[0]! > b[0]! || (a[0] === b[0] && a[1]! > b[1]!);
      if (
        best === undefined ||
        size < best.size ||
        (size === best.size && better(rank(m), rank(best.m)))
      ) {
        best = { m, size, basis };
      }
    }
    out.set(
      n.userns,
      best ? { parent: best.m.userns, basis: best.basis } : { parent: viewNs, basis: 'view' },
    );
  }
  return out;
}
