import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  MAX_ID,
  containsId,
  countIds,
  formatRange,
  formatRanges,
  intersectRange,
  intersectRanges,
  isValidRange,
  makeRange,
  normalizeRanges,
  rangeContains,
  rangeEnd,
  rangeLast,
  rangeProblem,
  rangesCover,
  rangesOverlap,
  subtractRange,
  subtractRanges,
  unionRanges,
} from './range.ts';
import type { IdRange } from './range.ts';
import { throwsIgloo } from '../../../test/support/errors.ts';

const r = (start: number, count: number): IdRange => ({ start, count });

describe('makeRange', () => {
  test('accepts valid ranges', () => {
    assert.deepEqual(makeRange(0, 1), { start: 0, count: 1 });
    assert.deepEqual(makeRange(2000000, 65536), { start: 2000000, count: 65536 });
    assert.deepEqual(makeRange(MAX_ID, 1), { start: MAX_ID, count: 1 });
    assert.deepEqual(makeRange(0, MAX_ID + 1), { start: 0, count: 4294967295 });
  });
  test('MAX_ID is (uid_t)-1 minus one', () => {
    assert.equal(MAX_ID, 4294967294);
  });
  const bad: [number, number, string][] = [
    [-1, 1, 'start -1 is negative'],
    [1.5, 1, 'start 1.5 is not an integer'],
    [NaN, 1, 'start NaN is not a number'],
    [Infinity, 1, 'start Infinity is not a finite number'],
    [0, -Infinity, 'count -Infinity is not a finite number'],
    [MAX_ID + 1, 1, 'start 4294967295 is larger than 4294967294'],
    [0, 0, 'count 0 is less than 1'],
    [0, -5, 'count -5 is less than 1'],
    [0, 2.5, 'count 2.5 is not an integer'],
    [0, NaN, 'count NaN is not a number'],
    [0, MAX_ID + 2, 'count 4294967296 is larger than 4294967295'],
    [MAX_ID, 2, 'last id 4294967295 is larger than 4294967294'],
    [4000000000, 300000000, 'last id 4299999999 is larger'],
  ];
  for (const [start, count, why] of bad) {
    test(`refuses start ${start} count ${count}`, () => {
      const err = throwsIgloo(
        () => makeRange(start, count),
        'EINVAL',
        `start ${String(start)} and count ${String(count)}`,
        why,
      );
      assert.equal(err.op, 'make range');
      assert.ok(err.hint);
    });
  }
  test('refuses non-number values', () => {
    throwsIgloo(
      () => makeRange('5' as unknown as number, 1),
      'EINVAL',
      'start "5" is not a number',
    );
    throwsIgloo(
      () => makeRange(5, null as unknown as number),
      'EINVAL',
      'count null is not a number',
    );
  });
  test('rangeProblem and isValidRange agree', () => {
    assert.equal(rangeProblem(0, 1), undefined);
    assert.equal(isValidRange(r(0, 1)), true);
    assert.equal(isValidRange(r(MAX_ID, 2)), false);
    assert.equal(isValidRange(null), false);
    assert.equal(isValidRange('x'), false);
    assert.equal(isValidRange({ start: 1 }), false);
  });
});

describe('single ranges', () => {
  test('end, last, format', () => {
    const a = r(2000000, 65536);
    assert.equal(rangeEnd(a), 2065536);
    assert.equal(rangeLast(a), 2065535);
    assert.equal(formatRange(a), '2000000-2065535');
    assert.equal(formatRange(r(5, 1)), '5-5');
    assert.equal(formatRange(r(0, MAX_ID + 1)), '0-4294967294');
    assert.equal(formatRanges([]), 'none');
    assert.equal(formatRanges([r(1, 2), r(10, 1)]), '1-2, 10-10');
  });
  test('containsId at the edges', () => {
    const a = r(10, 5);
    assert.equal(containsId(a, 9), false);
    assert.equal(containsId(a, 10), true);
    assert.equal(containsId(a, 14), true);
    assert.equal(containsId(a, 15), false);
    assert.equal(containsId(r(MAX_ID, 1), MAX_ID), true);
    assert.equal(containsId(r(MAX_ID, 1), MAX_ID + 1), false);
  });
  test('adjacent ranges do not overlap', () => {
    assert.equal(rangesOverlap(r(0, 10), r(10, 10)), false);
    assert.equal(rangesOverlap(r(10, 10), r(0, 10)), false);
    assert.equal(rangesOverlap(r(0, 11), r(10, 10)), true);
    assert.equal(rangesOverlap(r(0, 100), r(50, 1)), true);
    assert.equal(rangesOverlap(r(50, 1), r(0, 100)), true);
    assert.equal(rangesOverlap(r(5, 1), r(5, 1)), true);
  });
  test('rangeContains', () => {
    assert.equal(rangeContains(r(0, 10), r(0, 10)), true);
    assert.equal(rangeContains(r(0, 10), r(9, 1)), true);
    assert.equal(rangeContains(r(0, 10), r(9, 2)), false);
    assert.equal(rangeContains(r(1, 10), r(0, 2)), false);
    assert.equal(rangeContains(r(5, 1), r(0, 10)), false);
  });
  test('intersectRange', () => {
    assert.deepEqual(intersectRange(r(0, 10), r(5, 10)), r(5, 5));
    assert.deepEqual(intersectRange(r(5, 10), r(0, 10)), r(5, 5));
    assert.deepEqual(intersectRange(r(0, 10), r(2, 3)), r(2, 3));
    assert.equal(intersectRange(r(0, 10), r(10, 3)), null);
    assert.equal(intersectRange(r(20, 10), r(0, 3)), null);
  });
  test('subtractRange', () => {
    assert.deepEqual(subtractRange(r(0, 10), r(20, 5)), [r(0, 10)]);
    assert.deepEqual(subtractRange(r(0, 10), r(10, 5)), [r(0, 10)]);
    assert.deepEqual(subtractRange(r(0, 10), r(0, 10)), []);
    assert.deepEqual(subtractRange(r(0, 10), r(0, 20)), []);
    assert.deepEqual(subtractRange(r(0, 10), r(3, 4)), [r(0, 3), r(7, 3)]);
    assert.deepEqual(subtractRange(r(0, 10), r(0, 4)), [r(4, 6)]);
    assert.deepEqual(subtractRange(r(0, 10), r(6, 100)), [r(0, 6)]);
    assert.deepEqual(subtractRange(r(MAX_ID - 1, 2), r(MAX_ID, 1)), [r(MAX_ID - 1, 1)]);
  });
});

describe('sets of ranges', () => {
  test('normalizeRanges sorts, merges overlapping and adjacent', () => {
    assert.deepEqual(normalizeRanges([]), []);
    assert.deepEqual(normalizeRanges([r(10, 5), r(0, 5)]), [r(0, 5), r(10, 5)]);
    assert.deepEqual(normalizeRanges([r(5, 5), r(0, 5)]), [r(0, 10)]);
    assert.deepEqual(normalizeRanges([r(0, 6), r(5, 5)]), [r(0, 10)]);
    assert.deepEqual(normalizeRanges([r(0, 100), r(5, 5), r(50, 60)]), [r(0, 110)]);
    assert.deepEqual(normalizeRanges([r(3, 1), r(3, 1)]), [r(3, 1)]);
    assert.deepEqual(normalizeRanges([r(MAX_ID, 1), r(0, 1)]), [r(0, 1), r(MAX_ID, 1)]);
  });
  test('normalizeRanges does not alias its input', () => {
    const input = [r(0, 5)];
    const out = normalizeRanges(input);
    assert.notEqual(out[0], input[0]);
  });
  test('normalizeRanges refuses invalid ranges', () => {
    throwsIgloo(() => normalizeRanges([r(0, 1), r(0, 0)]), 'EINVAL', 'range 1', 'count 0');
    throwsIgloo(() => normalizeRanges([r(-1, 1)]), 'EINVAL', 'range 0', 'start -1');
    throwsIgloo(
      () => normalizeRanges([null as unknown as IdRange]),
      'EINVAL',
      'range 0',
      'start undefined',
    );
  });
  test('unionRanges', () => {
    assert.deepEqual(unionRanges([r(0, 5)], [r(5, 5)]), [r(0, 10)]);
    assert.deepEqual(unionRanges([r(0, 5)], [r(6, 5)]), [r(0, 5), r(6, 5)]);
    assert.deepEqual(unionRanges([], []), []);
  });
  test('subtractRanges', () => {
    assert.deepEqual(subtractRanges([r(0, 100)], [r(10, 10), r(50, 10)]), [
      r(0, 10),
      r(20, 30),
      r(60, 40),
    ]);
    assert.deepEqual(subtractRanges([r(0, 10), r(20, 10)], [r(5, 20)]), [r(0, 5), r(25, 5)]);
    assert.deepEqual(subtractRanges([r(0, 10)], []), [r(0, 10)]);
    assert.deepEqual(subtractRanges([], [r(0, 10)]), []);
    assert.deepEqual(subtractRanges([r(0, 10)], [r(0, 10)]), []);
    assert.deepEqual(subtractRanges([r(0, 10), r(10, 10)], [r(9, 2)]), [r(0, 9), r(11, 9)]);
  });
  test('intersectRanges', () => {
    assert.deepEqual(intersectRanges([r(0, 10), r(20, 10)], [r(5, 20)]), [r(5, 5), r(20, 5)]);
    assert.deepEqual(intersectRanges([r(0, 10)], [r(10, 10)]), []);
    assert.deepEqual(intersectRanges([], [r(10, 10)]), []);
    assert.deepEqual(intersectRanges([r(0, 100)], [r(1, 1), r(3, 1)]), [r(1, 1), r(3, 1)]);
  });
  test('rangesCover', () => {
    assert.equal(rangesCover([r(0, 10), r(10, 10)], r(5, 10)), true);
    assert.equal(rangesCover([r(0, 10), r(11, 10)], r(5, 10)), false);
    assert.equal(rangesCover([], r(5, 1)), false);
    assert.equal(rangesCover([r(0, MAX_ID + 1)], r(MAX_ID, 1)), true);
    throwsIgloo(() => rangesCover([r(0, 10)], r(0, 0)), 'EINVAL', 'count 0');
  });
  test('countIds counts distinct ids', () => {
    assert.equal(countIds([]), 0);
    assert.equal(countIds([r(0, 10), r(5, 10)]), 15);
    assert.equal(countIds([r(0, MAX_ID + 1)]), 4294967295);
  });
});

// ---------------------------------------------------------------------------
// Property tests: ids are drawn from a small universe so that collisions,
// adjacency and containment happen often; the top of the id space is tested
// with a shifted universe.

const SMALL = 64;
function arbRange(base = 0): fc.Arbitrary<IdRange> {
  return fc
    .tuple(fc.integer({ min: 0, max: SMALL - 1 }), fc.integer({ min: 1, max: 16 }))
    .map(([s, c]) => ({ start: base + s, count: Math.min(c, SMALL - s) }));
}
const arbBase = fc.constantFrom(0, 2000000, MAX_ID + 1 - SMALL);
const arbSets = arbBase.chain((base) =>
  fc.tuple(
    fc.constant(base),
    fc.array(arbRange(base), { maxLength: 6 }),
    fc.array(arbRange(base), { maxLength: 6 }),
    fc.array(arbRange(base), { maxLength: 6 }),
  ),
);
function idSet(rs: readonly IdRange[]): Set<number> {
  const s = new Set<number>();
  for (const x of rs) for (let i = 0; i < x.count; i++) s.add(x.start + i);
  return s;
}
function sorted(s: Set<number>): number[] {
  return [...s].sort((a, b) => a - b);
}
function isNormalized(rs: readonly IdRange[]): boolean {
  return rs.every((x, i) => {
    const prev = rs[i - 1];
    return isValidRange(x) && (prev === undefined || rangeEnd(prev) < x.start);
  });
}
const runs = { numRuns: 200 };

describe('range set properties', () => {
  test('normalizeRanges is idempotent, normalized and keeps the id set', () => {
    fc.assert(
      fc.property(arbSets, ([, a]) => {
        const n = normalizeRanges(a);
        assert.ok(isNormalized(n));
        assert.deepEqual(normalizeRanges(n), n);
        assert.deepEqual(sorted(idSet(n)), sorted(idSet(a)));
        assert.equal(countIds(a), idSet(a).size);
      }),
      runs,
    );
  });
  test('union, intersection and difference match the id sets', () => {
    fc.assert(
      fc.property(arbSets, ([, a, b]) => {
        const A = idSet(a);
        const B = idSet(b);
        const u = unionRanges(a, b);
        const i = intersectRanges(a, b);
        const d = subtractRanges(a, b);
        for (const x of [u, i, d]) assert.ok(isNormalized(x));
        assert.deepEqual(sorted(idSet(u)), sorted(new Set([...A, ...B])));
        assert.deepEqual(sorted(idSet(i)), sorted(new Set([...A].filter((x) => B.has(x)))));
        assert.deepEqual(sorted(idSet(d)), sorted(new Set([...A].filter((x) => !B.has(x)))));
      }),
      runs,
    );
  });
  test('set laws', () => {
    fc.assert(
      fc.property(arbSets, ([, a, b, c]) => {
        const eq = (x: IdRange[], y: IdRange[]): void => assert.deepEqual(x, y);
        eq(unionRanges(a, b), unionRanges(b, a));
        eq(intersectRanges(a, b), intersectRanges(b, a));
        eq(unionRanges(unionRanges(a, b), c), unionRanges(a, unionRanges(b, c)));
        eq(intersectRanges(intersectRanges(a, b), c), intersectRanges(a, intersectRanges(b, c)));
        eq(
          intersectRanges(a, unionRanges(b, c)),
          unionRanges(intersectRanges(a, b), intersectRanges(a, c)),
        );
        // a = (a - b) ∪ (a ∩ b), and the two parts are disjoint
        eq(unionRanges(subtractRanges(a, b), intersectRanges(a, b)), normalizeRanges(a));
        eq(intersectRanges(subtractRanges(a, b), b), []);
        // De Morgan inside a: a - (b ∪ c) = (a - b) ∩ (a - c)
        eq(
          subtractRanges(a, unionRanges(b, c)),
          intersectRanges(subtractRanges(a, b), subtractRanges(a, c)),
        );
        eq(subtractRanges(a, a), []);
        eq(unionRanges(a, a), normalizeRanges(a));
        eq(intersectRanges(a, a), normalizeRanges(a));
        assert.equal(
          countIds(unionRanges(a, b)) + countIds(intersectRanges(a, b)),
          countIds(a) + countIds(b),
        );
      }),
      runs,
    );
  });
  test('single-range operations match the id sets', () => {
    fc.assert(
      fc.property(
        arbBase.chain((base) => fc.tuple(arbRange(base), arbRange(base))),
        ([a, b]) => {
          const A = idSet([a]);
          const B = idSet([b]);
          const common = [...A].filter((x) => B.has(x));
          assert.equal(rangesOverlap(a, b), common.length > 0);
          assert.equal(
            rangeContains(a, b),
            [...B].every((x) => A.has(x)),
          );
          const i = intersectRange(a, b);
          assert.deepEqual(i === null ? [] : sorted(idSet([i])), common);
          const d = subtractRange(a, b);
          assert.ok(d.length <= 2 && isNormalized(d));
          assert.deepEqual(
            sorted(idSet(d)),
            [...A].filter((x) => !B.has(x)),
          );
          assert.equal(rangesCover([a], b), rangeContains(a, b));
        },
      ),
      runs,
    );
  });
  test('rangesCover matches the id sets', () => {
    fc.assert(
      fc.property(
        arbBase.chain((base) =>
          fc.tuple(fc.array(arbRange(base), { maxLength: 6 }), arbRange(base)),
        ),
        ([cover, x]) => {
          const C = idSet(cover);
          assert.equal(
            rangesCover(cover, x),
            [...idSet([x])].every((id) => C.has(id)),
          );
        },
      ),
      runs,
    );
  });
});
