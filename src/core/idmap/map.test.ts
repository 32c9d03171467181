import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  KERNEL_MAX_MAP_LINES,
  canonicalMap,
  checkMap,
  composeMaps,
  entryProblem,
  formatEntry,
  insideRanges,
  invertMap,
  outsideRanges,
  sameMap,
  toInside,
  toOutside,
  tryToInside,
  tryToOutside,
  validateMap,
} from './map.ts';
import type { IdMapEntry } from './map.ts';
import { MAX_ID } from './range.ts';
import { IglooError } from '../errors.ts';
import { throwsIgloo } from '../../../test/support/errors.ts';

const e = (inside: number, outside: number, count: number): IdMapEntry => ({
  inside,
  outside,
  count,
});

const anna1 = [e(0, 2000000, 65536)];
const anna2 = [e(0, 2100000, 65536)];
const elsa1 = [e(0, 3000000, 1000000)];

describe('validateMap', () => {
  test('accepts the seed maps and returns a copy', () => {
    for (const m of [anna1, anna2, elsa1]) {
      const out = validateMap(m, 'uid');
      assert.deepEqual(out, m);
      assert.notEqual(out, m);
      assert.notEqual(out[0], m[0]);
    }
  });
  test('keeps the order and accepts adjacent ranges', () => {
    const m = [e(10, 110, 10), e(0, 100, 10)];
    assert.deepEqual(validateMap(m, 'gid'), m);
  });
  test('accepts the full identity map of the initial namespace', () => {
    assert.deepEqual(validateMap([e(0, 0, 4294967295)], 'uid'), [e(0, 0, 4294967295)]);
  });
  test('accepts exactly KERNEL_MAX_MAP_LINES entries', () => {
    assert.equal(KERNEL_MAX_MAP_LINES, 340);
    const m = Array.from({ length: 340 }, (_, i) => e(i, 1000 + i * 2, 1));
    assert.equal(validateMap(m, 'uid').length, 340);
  });
  test('refuses an empty map', () => {
    const err = throwsIgloo(() => validateMap([], 'uid'), 'EINVAL', 'uid map', 'no entries');
    assert.ok(err.hint);
  });
  test('refuses too many entries', () => {
    const m = Array.from({ length: 341 }, (_, i) => e(i, 1000 + i * 2, 1));
    throwsIgloo(() => validateMap(m, 'gid'), 'EINVAL', 'gid map', '341 entries', 'at most 340');
  });
  test('refuses a value that is not a list', () => {
    throwsIgloo(
      () => validateMap('0 0 1' as unknown as IdMapEntry[], 'uid'),
      'EINVAL',
      'not a list',
    );
  });
  const bad: [IdMapEntry, string][] = [
    [e(-1, 0, 1), 'inside start -1 is negative'],
    [e(0.5, 0, 1), 'inside start 0.5 is not an integer'],
    [e(0, NaN, 1), 'outside start NaN is not a number'],
    [e(0, 1, 0), 'inside count 0 is less than 1'],
    [e(0, 1, -3), 'count -3 is less than 1'],
    [e(MAX_ID, 1, 2), 'inside last id 4294967295'],
    [e(1, MAX_ID, 2), 'outside last id 4294967295'],
    [e(0, MAX_ID + 1, 1), 'outside start 4294967295 is larger than 4294967294'],
    [
      { inside: '0', outside: 1, count: 1 } as unknown as IdMapEntry,
      'inside start "0" is not a number',
    ],
    [null as unknown as IdMapEntry, 'not an object'],
  ];
  for (const [entry, why] of bad) {
    test(`refuses entry ${JSON.stringify(entry)}`, () => {
      const err = throwsIgloo(
        () => validateMap([e(100, 100, 1), entry], 'uid'),
        'EINVAL',
        'Invalid uid map: entry 2',
        why,
      );
      assert.equal(err.subject?.startsWith('entry 2'), true);
    });
  }
  test('refuses overlapping inside ranges and names both entries', () => {
    const err = throwsIgloo(
      () => validateMap([e(0, 2000000, 65536), e(1000, 3000000, 10)], 'uid'),
      'EOVERLAP',
      'entry 1 "0 2000000 65536"',
      'entry 2 "1000 3000000 10"',
      'overlap inside',
      '0-65535 and 1000-1009',
    );
    assert.equal(err.subject, '0 2000000 65536; 1000 3000000 10');
  });
  test('refuses overlapping outside ranges and names both entries', () => {
    throwsIgloo(
      () => validateMap([e(0, 2000000, 10), e(100, 500, 5), e(200, 2000009, 1)], 'gid'),
      'EOVERLAP',
      'gid map',
      'entry 1 "0 2000000 10"',
      'entry 3 "200 2000009 1"',
      'overlap outside',
    );
  });
  test('refuses duplicate entries', () => {
    throwsIgloo(
      () => validateMap([e(0, 5, 1), e(0, 5, 1)], 'uid'),
      'EOVERLAP',
      'entry 1',
      'entry 2',
    );
  });
  test('reports the overlap whose later entry comes first', () => {
    throwsIgloo(
      () => validateMap([e(50, 1000, 10), e(0, 0, 100), e(55, 2000, 1)], 'uid'),
      'EOVERLAP',
      'entry 1 "50 1000 10" and entry 2 "0 0 100"',
    );
  });
  test('checkMap options: path, line and no limits', () => {
    assert.deepEqual(checkMap([], 'uid', { kernelLimits: false }), []);
    assert.deepEqual(checkMap([e(0, 0, 5), e(0, 0, 5)], 'uid', { overlaps: false }).length, 2);
    const err = throwsIgloo(
      () =>
        checkMap([e(0, 0, 5), e(1, 10, 1)], 'uid', {
          path: '/x',
          lineOf: (i) => i + 7,
        }),
      'EOVERLAP',
      'Invalid uid map in /x',
    );
    assert.equal(err.path, '/x');
    assert.equal(err.line, 8);
  });
  test('entryProblem and formatEntry', () => {
    assert.equal(entryProblem(e(0, 0, 1)), undefined);
    assert.equal(entryProblem(undefined), 'it is not an object');
    assert.equal(formatEntry(e(0, 2000000, 65536)), '0 2000000 65536');
  });
});

describe('translation', () => {
  test('the seed picture', () => {
    assert.equal(toOutside(anna1, 0, 'uid'), 2000000);
    assert.equal(toOutside(anna2, 0, 'uid'), 2100000);
    assert.equal(toOutside(anna2, 65535, 'uid'), 2165535);
    assert.equal(toInside(anna1, 2000000, 'uid'), 0);
    assert.equal(toInside(elsa1, 3100000, 'uid'), 100000);
  });
  test('uses the right entry of several', () => {
    const m = [e(0, 1000, 1), e(1, 2000000, 65535), e(65536, 1001, 1)];
    assert.equal(toOutside(m, 0, 'uid'), 1000);
    assert.equal(toOutside(m, 1, 'uid'), 2000000);
    assert.equal(toOutside(m, 65535, 'uid'), 2065534);
    assert.equal(toOutside(m, 65536, 'uid'), 1001);
    assert.equal(toInside(m, 1001, 'uid'), 65536);
    assert.equal(toInside(m, 2065534, 'uid'), 65535);
  });
  test('the edges of the id space', () => {
    const m = [e(0, 0, 4294967295)];
    assert.equal(toOutside(m, MAX_ID, 'uid'), MAX_ID);
    assert.equal(toInside(m, MAX_ID, 'uid'), MAX_ID);
    assert.equal(tryToOutside(m, MAX_ID + 1), undefined);
  });
  test('unmapped ids', () => {
    assert.equal(tryToOutside(anna1, 65536), undefined);
    assert.equal(tryToInside(anna1, 1999999), undefined);
    assert.equal(tryToInside(anna1, 2065536), undefined);
    assert.equal(tryToOutside([], 0), undefined);
    assert.equal(tryToOutside(anna1, NaN), undefined);
    assert.equal(tryToOutside(anna1, 0.5), undefined);
    assert.equal(tryToOutside(anna1, -1), undefined);
    const out = throwsIgloo(
      () => toOutside(anna1, 65536, 'uid'),
      'EUNMAPPED',
      'uid 65536',
      'mapped inside: 0-65535',
    );
    assert.equal(out.subject, '65536');
    assert.ok(out.hint);
    throwsIgloo(() => toInside(anna1, 1001, 'gid'), 'EUNMAPPED', 'gid 1001', '2000000-2065535');
    throwsIgloo(() => toOutside([], 0, 'uid'), 'EUNMAPPED', 'uid 0', 'mapped inside: none');
  });
  test('invalid ids are EINVAL', () => {
    throwsIgloo(() => toOutside(anna1, -1, 'uid'), 'EINVAL', 'uid -1', 'negative');
    throwsIgloo(() => toInside(anna1, 1.5, 'gid'), 'EINVAL', 'gid 1.5', 'not an integer');
    throwsIgloo(() => toOutside(anna1, MAX_ID + 1, 'uid'), 'EINVAL', 'uid 4294967295');
  });
  test('insideRanges and outsideRanges are normalized', () => {
    const m = [e(10, 100, 5), e(0, 200, 10), e(20, 105, 1)];
    assert.deepEqual(insideRanges(m), [
      { start: 0, count: 15 },
      { start: 20, count: 1 },
    ]);
    assert.deepEqual(outsideRanges(m), [
      { start: 100, count: 6 },
      { start: 200, count: 10 },
    ]);
    assert.deepEqual(insideRanges([]), []);
  });
});

describe('composeMaps', () => {
  test('the nested example: elsa-c1 inside elsa-c1', () => {
    assert.deepEqual(composeMaps(elsa1, [e(0, 100000, 65536)], 'uid'), [e(0, 3100000, 65536)]);
  });
  test('splits where the outer map splits', () => {
    const outer = [e(0, 5000, 10), e(10, 9000, 10), e(20, 100, 10)];
    assert.deepEqual(composeMaps(outer, [e(100, 5, 20)], 'uid'), [
      e(100, 5005, 5),
      e(105, 9000, 10),
      e(115, 100, 5),
    ]);
  });
  test('keeps the order of the inner map', () => {
    const outer = [e(0, 1000, 100)];
    assert.deepEqual(composeMaps(outer, [e(50, 50, 1), e(0, 0, 1)], 'gid'), [
      e(50, 1050, 1),
      e(0, 1000, 1),
    ]);
  });
  test('an identity outer map changes nothing', () => {
    const inner = [e(0, 2000000, 65536), e(65536, 1001, 1)];
    assert.deepEqual(composeMaps([e(0, 0, 4294967295)], inner, 'uid'), inner);
  });
  test('EUNMAPPED when the inner map uses parent ids the outer one does not map', () => {
    const err = throwsIgloo(
      () => composeMaps(anna1, [e(0, 65000, 1000)], 'uid'),
      'EUNMAPPED',
      'uid maps',
      'inner entry "0 65000 1000"',
      'parent uids 65536-65999',
      'outer uid map does not map',
    );
    assert.equal(err.subject, '0 65000 1000');
    assert.ok(err.hint?.includes('0-65535'));
  });
  test('EUNMAPPED names a gap between outer entries', () => {
    const outer = [e(0, 5000, 10), e(20, 9000, 10)];
    throwsIgloo(() => composeMaps(outer, [e(0, 5, 20)], 'gid'), 'EUNMAPPED', 'parent gids 10-19');
    throwsIgloo(() => composeMaps([], [e(0, 5, 1)], 'uid'), 'EUNMAPPED', 'parent uids 5-5');
  });
  test('refuses invalid maps', () => {
    throwsIgloo(() => composeMaps([e(0, 0, 0)], [e(0, 0, 1)], 'uid'), 'EINVAL', 'count 0');
    throwsIgloo(
      () => composeMaps([e(0, 0, 10)], [e(0, 0, 5), e(1, 6, 1)], 'uid'),
      'EOVERLAP',
      'overlap inside',
    );
  });
  test('an empty inner map composes to an empty map', () => {
    assert.deepEqual(composeMaps(anna1, [], 'uid'), []);
  });
});

describe('invertMap, sameMap, canonicalMap', () => {
  test('invertMap swaps the sides', () => {
    assert.deepEqual(invertMap(anna1), [e(2000000, 0, 65536)]);
    assert.deepEqual(invertMap(invertMap(elsa1)), elsa1);
    assert.equal(toOutside(invertMap(anna1), 2000005, 'uid'), 5);
  });
  test('sameMap ignores order only', () => {
    const a = [e(0, 10, 1), e(1, 20, 1)];
    assert.equal(sameMap(a, [...a].reverse()), true);
    assert.equal(sameMap(a, a.slice(0, 1)), false);
    assert.equal(sameMap(a, [e(0, 10, 1), e(1, 21, 1)]), false);
    assert.equal(sameMap([e(0, 10, 2)], [e(0, 10, 1), e(1, 11, 1)]), false);
    assert.equal(sameMap([], []), true);
  });
  test('canonicalMap merges entries that continue each other on both sides', () => {
    assert.deepEqual(canonicalMap([e(1, 11, 1), e(0, 10, 1), e(2, 20, 1)]), [
      e(0, 10, 2),
      e(2, 20, 1),
    ]);
    assert.deepEqual(canonicalMap([]), []);
  });
});

// ---------------------------------------------------------------------------
// Property tests.

/**
 * A valid map in a small universe: inside blocks laid out from `base` with
 * small gaps, outside blocks in a shuffled order with small gaps, so that
 * maps compose often.
 */
function arbMap(base = 0, maxEntries = 5): fc.Arbitrary<IdMapEntry[]> {
  return fc
    .array(
      fc.record({
        count: fc.integer({ min: 1, max: 8 }),
        gapIn: fc.constantFrom(0, 0, 0, 1, 3),
        gapOut: fc.constantFrom(0, 0, 0, 2),
        key: fc.integer(),
      }),
      { minLength: 1, maxLength: maxEntries },
    )
    .map((blocks) => {
      const insides: number[] = [];
      let pos = base;
      for (const b of blocks) {
        pos += b.gapIn;
        insides.push(pos);
        pos += b.count;
      }
      const order = blocks.map((_, i) => i).sort((x, y) => blocks[x]!.key - blocks[y]!.key);
      const outsides: number[] = new Array<number>(blocks.length);
      pos = base;
      for (const i of order) {
        pos += blocks[i]!.gapOut;
        outsides[i] = pos;
        pos += blocks[i]!.count;
      }
      return blocks.map((b, i) => e(insides[i]!, outsides[i]!, b.count));
    });
}

/**
 * A map that permutes blocks of [0, 24), sometimes with one entry dropped:
 * such maps compose with each other most of the time.
 */
const arbPermMap: fc.Arbitrary<IdMapEntry[]> = fc
  .tuple(
    fc.uniqueArray(fc.integer({ min: 1, max: 23 }), { maxLength: 4 }),
    fc.array(fc.integer(), { minLength: 5, maxLength: 5 }),
    fc.option(fc.nat(4), { freq: 3 }),
  )
  .map(([cuts, keys, drop]) => {
    const bounds = [0, ...cuts.sort((x, y) => x - y), 24];
    const counts = bounds.slice(1).map((b, i) => b - bounds[i]!);
    const insides = bounds.slice(0, -1);
    const order = counts.map((_, i) => i).sort((x, y) => keys[x]! - keys[y]! || x - y);
    const outsides: number[] = new Array<number>(counts.length);
    let pos = 0;
    for (const i of order) {
      outsides[i] = pos;
      pos += counts[i]!;
    }
    const m = counts.map((c, i) => e(insides[i]!, outsides[i]!, c));
    if (drop !== null && m.length > 1) m.splice(drop % m.length, 1);
    return m;
  });

function tryCompose(a: IdMapEntry[], b: IdMapEntry[]): IdMapEntry[] | undefined {
  try {
    return composeMaps(a, b, 'uid');
  } catch (err) {
    assert.ok(err instanceof IglooError && err.code === 'EUNMAPPED', String(err));
    return undefined;
  }
}

describe('map properties', () => {
  test('generated maps are valid', () => {
    fc.assert(
      fc.property(arbMap(), (m) => {
        validateMap(m, 'uid');
      }),
      { numRuns: 200 },
    );
  });
  test('toInside(toOutside(x)) == x for every mapped id, and back', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(0, 2000000, MAX_ID + 1 - 64).chain((base) => arbMap(base)),
        fc.nat(80),
        (m, offset) => {
          const x = m[0]!.inside + offset - 10;
          const out = tryToOutside(m, x);
          if (out === undefined) {
            assert.ok(!m.some((en) => x >= en.inside && x < en.inside + en.count));
            return;
          }
          assert.equal(toInside(m, out, 'uid'), x);
          assert.equal(toOutside(invertMap(m), out, 'uid'), x);
          assert.equal(tryToOutside(m, toInside(m, out, 'uid')), out);
        },
      ),
      { numRuns: 300 },
    );
  });
  test('composition translates like the two maps in turn', () => {
    fc.assert(
      fc.property(arbMap(), arbMap(), (outer, inner) => {
        const c = tryCompose(outer, inner);
        const ids = inner.flatMap((en) =>
          Array.from({ length: en.count }, (_, i) => en.inside + i),
        );
        const direct = ids.map((x) => {
          const mid = tryToOutside(inner, x);
          return mid === undefined ? undefined : tryToOutside(outer, mid);
        });
        if (c === undefined) {
          assert.ok(direct.some((x) => x === undefined));
          return;
        }
        validateMap(c.length > 0 ? c : [e(0, 0, 1)], 'uid');
        ids.forEach((x, i) => assert.equal(tryToOutside(c, x), direct[i]));
        assert.equal(
          c.reduce((n, en) => n + en.count, 0),
          ids.length,
        );
      }),
      { numRuns: 300 },
    );
  });
  test('composition is associative when defined', () => {
    let defined = 0;
    fc.assert(
      fc.property(arbPermMap, arbPermMap, arbPermMap, (a, b, c) => {
        const ab = tryCompose(a, b);
        const left = ab === undefined ? undefined : tryCompose(ab, c);
        const bc = tryCompose(b, c);
        const right = bc === undefined ? undefined : tryCompose(a, bc);
        if (left !== undefined) assert.ok(right !== undefined, 'left defined implies right');
        if (left === undefined || right === undefined) return;
        defined++;
        assert.ok(sameMap(canonicalMap(left), canonicalMap(right)));
        assert.ok(sameMap(left, right), 'same split points too');
      }),
      { numRuns: 400 },
    );
    assert.ok(defined > 40, `only ${defined} runs were defined`);
  });
  test('composing with the inverse gives the identity on the inside', () => {
    fc.assert(
      fc.property(arbMap(), (m) => {
        const id = composeMaps(invertMap(m), m, 'uid');
        assert.ok(canonicalMap(id).every((en) => en.inside === en.outside));
        assert.deepEqual(insideRanges(id), insideRanges(m));
      }),
      { numRuns: 200 },
    );
  });
  test('canonicalMap keeps every translation', () => {
    fc.assert(
      fc.property(arbMap(), fc.nat(60), (m, x) => {
        assert.equal(tryToOutside(canonicalMap(m), x), tryToOutside(m, x));
        assert.deepEqual(canonicalMap(canonicalMap(m)), canonicalMap(m));
      }),
      { numRuns: 200 },
    );
  });
});
