/**
 * Id shifting of a rootfs from one container map to another: the host-id
 * ranges to rewrite (the helper's `shift` walk takes them as arguments).
 * A host id in `from` stands for an inside id; it becomes the host id of
 * the same inside id in `to`. Host ids outside `from`, or whose inside id
 * `to` does not map, are left alone.
 */
import type { IdMapEntry, IdMaps } from '../idmap/index.ts';

export interface ShiftRange {
  readonly kind: 'u' | 'g';
  readonly from: number;
  readonly to: number;
  readonly count: number;
}

function rangesOf(kind: 'u' | 'g', from: readonly IdMapEntry[], to: readonly IdMapEntry[]) {
  const out: ShiftRange[] = [];
  for (const e of from) {
    for (const f of to) {
      const start = Math.max(e.inside, f.inside);
      const end = Math.min(e.inside + e.count, f.inside + f.count);
      if (end <= start) continue;
      const src = e.outside + (start - e.inside);
      const dst = f.outside + (start - f.inside);
      if (src !== dst) out.push({ kind, from: src, to: dst, count: end - start });
    }
  }
  return out.sort((a, b) => a.from - b.from);
}

export function shiftRanges(from: IdMaps, to: IdMaps): ShiftRange[] {
  return [...rangesOf('u', from.uid, to.uid), ...rangesOf('g', from.gid, to.gid)];
}

/** The helper's argument form: "u:FROM:TO:COUNT". */
export function formatShiftRange(r: ShiftRange): string {
  return `${r.kind}:${r.from}:${r.to}:${r.count}`;
}
