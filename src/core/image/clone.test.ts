import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { IglooError } from '../errors.ts';
import { clonePlan, cloneRoot, nextSnapshotName } from './clone.ts';

const slice = (start: number, count = 65536) => ({
  uid: [{ inside: 0, outside: start, count }],
  gid: [{ inside: 0, outside: start, count }],
});

describe('clonePlan()', () => {
  test('the same slice: its own map, no shift', () => {
    const p = clonePlan(slice(2_000_000), slice(2_000_000), 'snapshot');
    assert.deepEqual(p, { map: slice(2_000_000), ranges: [] });
    assert.deepEqual(cloneRoot(p, slice(2_000_000)), { uid: 0, gid: 0 });
  });
  test('another slice: both mapped, one above the other, and every id shifted by the span', () => {
    const from = slice(2_000_000);
    const to = slice(2_065_536);
    const p = clonePlan(from, to, 'copy');
    assert.deepEqual(p.map.uid, [
      { inside: 0, outside: 2_000_000, count: 65536 },
      { inside: 65536, outside: 2_065_536, count: 65536 },
    ]);
    assert.deepEqual(p.ranges, [
      { kind: 'u', from: 0, to: 65536, count: 65536 },
      { kind: 'g', from: 0, to: 65536, count: 65536 },
    ]);
    assert.deepEqual(cloneRoot(p, from), { uid: 65536, gid: 65536 });
    // inside id 1000 of FROM (host 2001000) ends as inside 66536: TO's host 2066536
    const inside = 1000 + 65536;
    const e = p.map.uid.find((m) => inside >= m.inside && inside < m.inside + m.count)!;
    assert.equal(e.outside + inside - e.inside, 2_065_536 + 1000);
  });
  test('nesting slices (8 x 65536) shift as a whole', () => {
    const p = clonePlan(slice(3_000_000, 524288), slice(4_000_000, 524288), 'copy');
    assert.deepEqual(p.ranges[0], { kind: 'u', from: 0, to: 524288, count: 524288 });
  });
  test('maps of different inside layouts are refused', () => {
    assert.throws(
      () => clonePlan(slice(1, 65536), slice(100_000, 1000), 'copy a to b'),
      (e: unknown) => e instanceof IglooError && /different inside ids/.test(e.message),
    );
  });
});

test('nextSnapshotName(): snap0, snap1, … the first free', () => {
  assert.equal(nextSnapshotName([]), 'snap0');
  assert.equal(nextSnapshotName(['snap0', 'snap2']), 'snap1');
  assert.equal(nextSnapshotName(['mine']), 'snap0');
});
