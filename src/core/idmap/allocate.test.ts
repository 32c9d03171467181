import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  DEFAULT_ALIGN,
  DEFAULT_BLOCK_COUNT,
  DEFAULT_SLICE_SIZE,
  DEFAULT_SUB_MIN,
  checkMapDelegated,
  chooseBlock,
  chooseSlice,
  sliceMap,
} from './allocate.ts';
import { composeMaps, toOutside } from './map.ts';
import type { IdMapEntry } from './map.ts';
import { MAX_ID, rangesCover, rangesOverlap } from './range.ts';
import type { IdRange } from './range.ts';
import { delegatedRanges, parseSubidStrict } from './subid.ts';
import { SHARED_IMAGE_IDS } from './reserved.ts';
import type { SubidEntry } from './subid.ts';
import { throwsIgloo } from '../../../test/support/errors.ts';

const SEED = 'anna:2000000:1000000\nelsa:3000000:1000000\n';
const seed = parseSubidStrict(SEED, { path: '/etc/subuid' });
const anna = { name: 'anna', uid: 1001 };
const elsa = { name: 'elsa', uid: 1002 };
const r = (start: number, count: number): IdRange => ({ start, count });
const sub = (owner: string, start: number, count: number, line: number): SubidEntry => ({
  owner,
  start,
  count,
  line,
});

describe('chooseBlock', () => {
  test('defaults', () => {
    assert.equal(DEFAULT_BLOCK_COUNT, 65536);
    assert.equal(DEFAULT_SUB_MIN, 100000);
    assert.equal(DEFAULT_ALIGN, 65536);
    // the first multiple of 65536 at or above 100000
    assert.deepEqual(chooseBlock([]), r(131072, 65536));
  });
  test('skips existing blocks of any owner', () => {
    const existing = [sub('a', 131072, 65536, 1), sub('b', 196608, 10, 2)];
    assert.deepEqual(chooseBlock(existing), r(262144, 65536));
    // a block ending just before a candidate does not block it
    assert.deepEqual(chooseBlock([sub('a', 100000, 31072, 1)]), r(131072, 65536));
  });
  test('fits into a gap between blocks', () => {
    const existing = [sub('a', 131072, 65536, 1), sub('b', 327680, 65536, 2)];
    assert.deepEqual(chooseBlock(existing, { count: 131072 }), r(196608, 131072));
    assert.deepEqual(chooseBlock(existing, { count: 131073 }), r(393216, 131073));
  });
  test('the seed layout: a new user goes after elsa', () => {
    const got = chooseBlock(seed, { count: 1000000, min: 1000000, align: 1000000 });
    assert.deepEqual(got, r(1000000, 1000000));
    const got2 = chooseBlock([...seed, sub('olaf', 1000000, 1000000, 3)], {
      count: 1000000,
      min: 1000000,
      align: 1000000,
    });
    assert.deepEqual(got2, r(4000000, 1000000));
  });
  test('min, max and align', () => {
    assert.deepEqual(chooseBlock([], { min: 0, align: 1, count: 5 }), r(0, 5));
    assert.deepEqual(chooseBlock([], { min: 7, align: 5, count: 5 }), r(10, 5));
    assert.deepEqual(chooseBlock([], { min: 10, max: 14, align: 5, count: 5 }), r(10, 5));
    assert.deepEqual(chooseBlock([], { min: MAX_ID, align: 1, count: 1 }), r(MAX_ID, 1));
    // The largest blocks: everything below the reserved ids, or everything above them
    // (a block of every id would cover them: see "the reserved ids" below).
    assert.deepEqual(chooseBlock([], { min: 0, align: 1, count: 0x7fff0000 }), r(0, 0x7fff0000));
    assert.deepEqual(
      chooseBlock([], { min: 0, align: 1, count: MAX_ID + 1 - 0x80000000 }),
      r(0x80000000, MAX_ID + 1 - 0x80000000),
    );
    throwsIgloo(() => chooseBlock([], { min: 0, align: 1, count: MAX_ID + 1 }), 'ENOSPACE');
  });
  test('ENOSPACE when nothing fits', () => {
    const err = throwsIgloo(
      () => chooseBlock([], { min: 10, max: 13, align: 5, count: 5 }),
      'ENOSPACE',
      '5 ids',
      'between 10 and 13',
    );
    assert.ok(err.hint);
    throwsIgloo(
      () => chooseBlock([sub('a', 0, MAX_ID + 1, 1)], { min: 0, align: 1, count: 1 }),
      'ENOSPACE',
    );
    throwsIgloo(() => chooseBlock([], { min: MAX_ID, align: 1, count: 2 }), 'ENOSPACE');
  });
  test('with start: the exact block', () => {
    assert.deepEqual(chooseBlock(seed, { start: 4000000, count: 1000000 }), r(4000000, 1000000));
    assert.deepEqual(chooseBlock(seed, { start: 1000000, count: 1000000 }), r(1000000, 1000000));
    // start ignores min and align
    assert.deepEqual(chooseBlock([], { start: 5, count: 1 }), r(5, 1));
  });
  test('with start: EOVERLAP names the other owner and its line', () => {
    const err = throwsIgloo(
      () => chooseBlock(seed, { start: 3500000, count: 1000000 }),
      'EOVERLAP',
      'ids 3500000-4499999',
      '"elsa" 3000000-3999999 (line 2)',
    );
    assert.equal(err.line, 2);
    assert.equal(err.subject, 'elsa');
    throwsIgloo(
      () => chooseBlock(seed, { start: 1000001, count: 1000000 }),
      'EOVERLAP',
      '"anna" 2000000-2999999 (line 1)',
    );
  });
  test('with start: EOVERLAP names the first line when several clash', () => {
    throwsIgloo(
      () => chooseBlock([seed[1]!, seed[0]!], { start: 1500000, count: 2000000 }),
      'EOVERLAP',
      '(line 1)',
    );
  });
  test('with start: the block must fit', () => {
    throwsIgloo(
      () => chooseBlock([], { start: 100, count: 10, max: 105 }),
      'EINVAL',
      'ids 100-109',
      'highest allowed id 105',
    );
    throwsIgloo(
      () => chooseBlock([], { start: MAX_ID, count: 2 }),
      'EINVAL',
      '4294967294-4294967295',
    );
  });
  const badOpts: [object, string][] = [
    [{ count: 0 }, 'option count 0 is less than 1'],
    [{ count: 1.5 }, 'option count 1.5'],
    [{ start: -1 }, 'option start -1 is negative'],
    [{ min: NaN }, 'option min NaN'],
    [{ max: MAX_ID + 1 }, 'option max 4294967295'],
    [{ align: 0 }, 'option align 0'],
  ];
  for (const [opts, why] of badOpts) {
    test(`refuses ${JSON.stringify(opts)}`, () => {
      const err = throwsIgloo(
        () => chooseBlock([], opts),
        'EINVAL',
        'Cannot grant subordinate ids',
        why,
      );
      assert.ok(err.hint);
    });
  }
});

describe('chooseSlice', () => {
  const annaIds = delegatedRanges(seed, anna);
  test('the seed picture: anna-c1 and anna-c2 with stride 100000', () => {
    const c1 = chooseSlice(annaIds, [], { stride: 100000 });
    assert.deepEqual(c1, r(2000000, 65536));
    const c2 = chooseSlice(annaIds, [c1], { stride: 100000 });
    assert.deepEqual(c2, r(2100000, 65536));
    assert.deepEqual(sliceMap(c1), [{ inside: 0, outside: 2000000, count: 65536 }]);
    assert.deepEqual(sliceMap(c2), [{ inside: 0, outside: 2100000, count: 65536 }]);
    const e1 = chooseSlice(delegatedRanges(seed, elsa), [c1, c2], { stride: 100000 });
    assert.deepEqual(e1, r(3000000, 65536));
  });
  test('default size and stride pack slices', () => {
    assert.equal(DEFAULT_SLICE_SIZE, 65536);
    const c1 = chooseSlice(annaIds, []);
    const c2 = chooseSlice(annaIds, [c1]);
    assert.deepEqual([c1, c2], [r(2000000, 65536), r(2065536, 65536)]);
  });
  test('fromEnd takes the highest free slice, on the stride grid, and leaves the start', () => {
    // anna: 2000000 + 1000000; 14 whole 65536-slices fit above the start
    const slot = chooseSlice(annaIds, [], { fromEnd: true });
    assert.deepEqual(slot, r(2000000 + 14 * 65536, 65536));
    // the first container still gets the start of the block
    assert.deepEqual(chooseSlice(annaIds, [slot]), r(2000000, 65536));
    // a taken top slice: the one below; a clash in the middle is skipped over
    assert.deepEqual(
      chooseSlice(annaIds, [slot], { fromEnd: true }),
      r(2000000 + 13 * 65536, 65536),
    );
    const mid = r(2000000 + 3 * 65536 + 5, 10 * 65536);
    assert.deepEqual(
      chooseSlice(annaIds, [mid], { fromEnd: true }),
      r(2000000 + 14 * 65536, 65536),
    );
    assert.deepEqual(
      chooseSlice(annaIds, [r(2000000 + 3 * 65536 + 5, 12 * 65536)], { fromEnd: true }),
      r(2000000 + 2 * 65536, 65536),
    );
    assert.deepEqual(
      chooseSlice(annaIds, [], { fromEnd: true, stride: 100000 }),
      r(2900000, 65536),
    );
    throwsIgloo(() => chooseSlice(annaIds, [r(2000000, 1000000)], { fromEnd: true }), 'ENOSPACE');
  });
  test('reuses a freed slot', () => {
    const taken = [r(2000000, 65536), r(2200000, 65536)];
    assert.deepEqual(chooseSlice(annaIds, taken, { stride: 100000 }), r(2100000, 65536));
  });
  test('taken ranges off the grid block every candidate they touch', () => {
    assert.deepEqual(chooseSlice([r(0, 100)], [r(9, 2)], { size: 10 }), r(20, 10));
    assert.deepEqual(chooseSlice([r(0, 100)], [r(10, 1)], { size: 10, stride: 5 }), r(0, 10));
    assert.deepEqual(chooseSlice([r(0, 100)], [r(9, 2)], { size: 10, stride: 5 }), r(15, 10));
  });
  test('uses the next delegated range when the first is full', () => {
    const own = [r(5000, 10), r(100, 20)];
    assert.deepEqual(chooseSlice(own, [r(100, 20)], { size: 10 }), r(5000, 10));
    assert.deepEqual(chooseSlice(own, [], { size: 15 }), r(100, 15));
  });
  test('adjacent delegations are merged into one', () => {
    assert.deepEqual(
      chooseSlice([r(0, 10), r(10, 10)], [r(0, 5)], { size: 10, stride: 5 }),
      r(5, 10),
    );
  });
  test('the last slice may end at the end of the delegation', () => {
    assert.deepEqual(chooseSlice([r(0, 30)], [r(0, 20)], { size: 10 }), r(20, 10));
    assert.deepEqual(chooseSlice([r(MAX_ID - 9, 10)], [], { size: 10 }), r(MAX_ID - 9, 10));
  });
  test('ENOSPACE with a hint when nothing fits', () => {
    const err = throwsIgloo(
      () => chooseSlice([r(0, 30)], [r(5, 1), r(15, 1), r(25, 1)], { size: 10 }),
      'ENOSPACE',
      '10 ids',
      'delegated ids 0-29',
      'free: 0-4, 6-14, 16-24, 26-29',
    );
    assert.match(err.hint ?? '', /bigger block/);
    assert.match(err.hint ?? '', /destroy containers/);
    throwsIgloo(() => chooseSlice([r(0, 5)], [], { size: 10 }), 'ENOSPACE', 'free: 0-4');
    // 10 full stride-100000 slots in anna's million
    const taken = Array.from({ length: 10 }, (_, k) => r(2000000 + k * 100000, 65536));
    throwsIgloo(() => chooseSlice(annaIds, taken, { stride: 100000 }), 'ENOSPACE');
  });
  test('ENOTDELEGATED when nothing is delegated', () => {
    const err = throwsIgloo(() => chooseSlice([], []), 'ENOTDELEGATED', 'no ids are delegated');
    assert.match(err.hint ?? '', /\/etc\/subuid/);
    throwsIgloo(() => chooseSlice([], [], { start: 5 }), 'ENOTDELEGATED');
  });
  test('with start inside the delegation', () => {
    assert.deepEqual(chooseSlice(annaIds, [], { start: 2500000 }), r(2500000, 65536));
    assert.deepEqual(chooseSlice(annaIds, [], { start: 2934464 }), r(2934464, 65536));
    assert.deepEqual(chooseSlice([r(0, 10), r(10, 10)], [], { start: 5, size: 10 }), r(5, 10));
  });
  test('with start outside the delegation: ENOTDELEGATED names the range and the delegation', () => {
    const err = throwsIgloo(
      () => chooseSlice(annaIds, [], { start: 2934465 }),
      'ENOTDELEGATED',
      'ids 2934465-3000000',
      'delegated ids 2000000-2999999',
    );
    assert.equal(err.subject, '2934465-3000000');
    throwsIgloo(
      () => chooseSlice(annaIds, [], { start: 3000000 }),
      'ENOTDELEGATED',
      '3000000-3065535',
    );
    throwsIgloo(
      () => chooseSlice(annaIds, [], { start: MAX_ID }),
      'ENOTDELEGATED',
      '4294967294-4295032829',
    );
  });
  test('with start over a taken range: EOVERLAP names it', () => {
    throwsIgloo(
      () => chooseSlice(annaIds, [r(2000000, 65536)], { start: 2065535 }),
      'EOVERLAP',
      'ids 2065535-2131070',
      'overlap ids 2000000-2065535 already in use',
    );
    // adjacent is fine
    assert.deepEqual(
      chooseSlice(annaIds, [r(2000000, 65536)], { start: 2065536 }),
      r(2065536, 65536),
    );
  });
  const badOpts: [object, string][] = [
    [{ size: 0 }, 'option size 0'],
    [{ size: -1 }, 'option size -1'],
    [{ stride: 0.5 }, 'option stride 0.5'],
    [{ start: NaN }, 'option start NaN'],
  ];
  for (const [opts, why] of badOpts) {
    test(`refuses ${JSON.stringify(opts)}`, () => {
      throwsIgloo(
        () => chooseSlice(annaIds, [], opts),
        'EINVAL',
        'Cannot allocate container ids',
        why,
      );
    });
  }
  test('refuses invalid delegated or taken ranges', () => {
    throwsIgloo(() => chooseSlice([r(0, 0)], []), 'EINVAL', 'count 0');
    throwsIgloo(() => chooseSlice(annaIds, [r(-5, 1)]), 'EINVAL', 'start -5');
  });
});

describe('checkMapDelegated', () => {
  const annaIds = delegatedRanges(seed, anna);
  test('accepts maps inside the delegation', () => {
    checkMapDelegated([{ inside: 0, outside: 2000000, count: 65536 }], 'uid', annaIds);
    checkMapDelegated(
      [
        { inside: 0, outside: 2000000, count: 500000 },
        { inside: 500000, outside: 2500000, count: 500000 },
      ],
      'gid',
      annaIds,
    );
  });
  test('the owner id only when given as extra', () => {
    const map = [
      { inside: 0, outside: 2000000, count: 1000 },
      { inside: 1000, outside: 1001, count: 1 },
    ];
    checkMapDelegated(map, 'uid', annaIds, { extra: [1001] });
    const err = throwsIgloo(
      () => checkMapDelegated(map, 'uid', annaIds, { owner: 'anna' }),
      'ENOTDELEGATED',
      'host uids 1001-1001',
      'entry "1000 1001 1" of the uid map',
      'not delegated to "anna" in /etc/subuid',
    );
    assert.equal(err.path, '/etc/subuid');
    assert.equal(err.subject, '1001-1001');
    assert.match(err.hint ?? '', /2000000-2999999/);
  });
  test('extra ids extend a delegated range', () => {
    checkMapDelegated([{ inside: 0, outside: 1999999, count: 2 }], 'uid', annaIds, {
      extra: [1999999],
    });
  });
  test('names the first uncovered part and the kind', () => {
    throwsIgloo(
      () => checkMapDelegated([{ inside: 0, outside: 2990000, count: 65536 }], 'gid', annaIds),
      'ENOTDELEGATED',
      'host gids 3000000-3055535',
      '/etc/subgid',
    );
    // elsa's range is not anna's
    throwsIgloo(
      () => checkMapDelegated([{ inside: 0, outside: 3000000, count: 65536 }], 'uid', annaIds),
      'ENOTDELEGATED',
      'host uids 3000000-3065535',
    );
    throwsIgloo(
      () => checkMapDelegated([{ inside: 0, outside: 1999990, count: 20 }], 'uid', annaIds),
      'ENOTDELEGATED',
      '1999990-1999999',
    );
  });
  test('host id 0 is refused always', () => {
    const everything = [r(0, MAX_ID + 1)];
    const err = throwsIgloo(
      () =>
        checkMapDelegated([{ inside: 0, outside: 0, count: 1 }], 'uid', everything, { extra: [0] }),
      'EPERM',
      'host uid 0',
      'entry "0 0 1"',
    );
    assert.ok(err.hint);
    // EPERM wins over ENOTDELEGATED even when another entry comes first
    throwsIgloo(
      () =>
        checkMapDelegated(
          [
            { inside: 0, outside: 5, count: 1 },
            { inside: 1, outside: 0, count: 1 },
          ],
          'gid',
          [],
        ),
      'EPERM',
      'host gid 0',
    );
  });
  test('refuses invalid maps and extras', () => {
    throwsIgloo(
      () => checkMapDelegated([{ inside: 0, outside: 2000000, count: 0 }], 'uid', annaIds),
      'EINVAL',
      'count 0',
    );
    throwsIgloo(
      () =>
        checkMapDelegated([{ inside: 0, outside: 2000000, count: 1 }], 'uid', annaIds, {
          extra: [-1],
        }),
      'EINVAL',
      'start -1',
    );
  });
  test('an empty map uses nothing', () => {
    checkMapDelegated([], 'uid', []);
  });
});

describe('sliceMap', () => {
  test('inside 0..count-1 to the slice', () => {
    assert.deepEqual(sliceMap(r(3000000, 1000000)), [
      { inside: 0, outside: 3000000, count: 1000000 },
    ]);
  });
  test('refuses an invalid slice', () => {
    throwsIgloo(() => sliceMap(r(5, 0)), 'EINVAL', 'count 0');
  });
});

describe('the nested picture', () => {
  test('elsa-c1 runs its own container with ids from inside its range', () => {
    const elsaIds = delegatedRanges(seed, elsa);
    const elsaC1 = chooseSlice(elsaIds, [], { size: 1000000 });
    const outer = sliceMap(elsaC1);
    assert.deepEqual(outer, [{ inside: 0, outside: 3000000, count: 1000000 }]);
    // inside elsa-c1, ids 100000.. are handed to a nested container
    const nestedSlice = chooseSlice([r(100000, 900000)], []);
    const inner = sliceMap(nestedSlice);
    assert.deepEqual(inner, [{ inside: 0, outside: 100000, count: 65536 }]);
    const host = composeMaps(outer, inner, 'uid');
    assert.deepEqual(host, [{ inside: 0, outside: 3100000, count: 65536 }]);
    checkMapDelegated(host, 'uid', elsaIds, { owner: 'elsa' });
    assert.equal(toOutside(host, 0, 'uid'), 3100000);
  });
});

// ---------------------------------------------------------------------------
// Properties.

describe('allocation properties', () => {
  test('repeated chooseSlice stays in the delegation and never overlaps', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(400), fc.integer({ min: 1, max: 120 })), {
          minLength: 1,
          maxLength: 4,
        }),
        fc.array(fc.tuple(fc.nat(500), fc.integer({ min: 1, max: 30 })), { maxLength: 4 }),
        fc.integer({ min: 1, max: 40 }),
        fc.option(fc.integer({ min: 1, max: 60 })),
        fc.constantFrom(0, 2000000, MAX_ID + 1 - 600),
        (own0, taken0, size, stride, base) => {
          const own = own0.map(([s, c]) => r(base + s, c));
          const taken: IdRange[] = taken0.map(([s, c]) => r(base + s, c));
          const opts = stride === null ? { size } : { size, stride };
          const got: IdRange[] = [];
          for (let i = 0; i < 30; i++) {
            let slice: IdRange;
            try {
              slice = chooseSlice(own, taken, opts);
            } catch (err) {
              assert.equal((err as { code?: string }).code, 'ENOSPACE');
              break;
            }
            assert.equal(slice.count, size);
            assert.ok(rangesCover(own, slice), 'inside the delegation');
            for (const t of taken) assert.ok(!rangesOverlap(slice, t), 'overlaps nothing taken');
            taken.push(slice);
            got.push(slice);
          }
          // the slices are pairwise disjoint
          got.forEach((a, i) => got.slice(i + 1).forEach((b) => assert.ok(!rangesOverlap(a, b))));
        },
      ),
      { numRuns: 150 },
    );
  });
  test('chooseSlice picks the lowest free candidate', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200 }),
        fc.array(fc.tuple(fc.nat(220), fc.integer({ min: 1, max: 20 })), { maxLength: 5 }),
        fc.integer({ min: 1, max: 30 }),
        fc.integer({ min: 1, max: 30 }),
        (len, taken0, size, stride) => {
          const own = [r(0, len)];
          const taken = taken0.map(([s, c]) => r(s, c));
          let expected: IdRange | undefined;
          for (let s = 0; s + size <= len; s += stride) {
            if (!taken.some((t) => rangesOverlap(t, r(s, size)))) {
              expected = r(s, size);
              break;
            }
          }
          if (expected === undefined) {
            throwsIgloo(() => chooseSlice(own, taken, { size, stride }), 'ENOSPACE');
          } else {
            assert.deepEqual(chooseSlice(own, taken, { size, stride }), expected);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
  test('repeated chooseBlock never overlaps existing entries and is the lowest fit', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(2000), fc.integer({ min: 1, max: 300 })), { maxLength: 6 }),
        fc.integer({ min: 1, max: 300 }),
        fc.integer({ min: 1, max: 200 }),
        fc.nat(500),
        (raw, count, align, min) => {
          const existing: SubidEntry[] = raw.map(([s, c], i) => sub(`u${i}`, s, c, i + 1));
          const max = 3000;
          for (let i = 0; i < 8; i++) {
            let block: IdRange;
            try {
              block = chooseBlock(existing, { count, align, min, max });
            } catch (err) {
              assert.equal((err as { code?: string }).code, 'ENOSPACE');
              // nothing fits: every aligned candidate clashes or is too high
              for (let s = Math.ceil(min / align) * align; s + count - 1 <= max; s += align) {
                assert.ok(existing.some((x) => rangesOverlap(x, r(s, count))));
              }
              break;
            }
            assert.equal(block.start % align, 0);
            assert.ok(block.start >= min && block.start + block.count - 1 <= max);
            for (const x of existing) assert.ok(!rangesOverlap(x, block), 'no overlap');
            for (let s = Math.ceil(min / align) * align; s < block.start; s += align) {
              assert.ok(
                existing.some((x) => rangesOverlap(x, r(s, count))),
                `skipped free ${s}`,
              );
            }
            existing.push(sub('new', block.start, block.count, existing.length + 1));
          }
        },
      ),
      { numRuns: 150 },
    );
  });
  test('a slice map always passes checkMapDelegated', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: MAX_ID - 100000 }),
        fc.integer({ min: 1, max: 100000 }),
        (s, c) => {
          const own = [r(s, c)];
          const slice = chooseSlice(own, [], { size: c });
          const map: IdMapEntry[] = sliceMap(slice);
          checkMapDelegated(map, 'uid', own);
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('the reserved ids (root shared images, 0x7FFF0000 + 65536)', () => {
  const BASE = 0x7fff0000;
  test('the range is the one lifecycle/idmapped.ts stores shared images with', () => {
    assert.deepEqual(r(SHARED_IMAGE_IDS.start, SHARED_IMAGE_IDS.count), r(2147418112, 65536));
  });

  test('a searched block steps over them', () => {
    assert.deepEqual(chooseBlock([], { min: BASE - 65536 }), r(BASE - 65536, 65536));
    assert.deepEqual(
      chooseBlock([sub('anna', BASE - 65536, 65536, 1)], { min: BASE - 65536 }),
      r(BASE + 65536, 65536),
    );
    assert.deepEqual(chooseBlock([], { min: BASE }), r(BASE + 65536, 65536));
  });

  test('a block given with start is refused where it touches them, naming what they are for', () => {
    for (const start of [BASE, BASE - 1, BASE + 65535]) {
      const err = throwsIgloo(
        () => chooseBlock([], { start }),
        'EOVERLAP',
        '2147418112-2147483647',
        "root's shared images",
      );
      assert.ok(err.hint?.includes('outside the reserved range'), err.hint);
    }
    assert.deepEqual(chooseBlock([], { start: BASE + 65536 }), r(BASE + 65536, 65536));
  });

  test('a hand-written delegation over them: slices skip them, a start in them is refused', () => {
    const delegated = [r(BASE - 65536, 3 * 65536)];
    assert.deepEqual(chooseSlice(delegated, []), r(BASE - 65536, 65536));
    assert.deepEqual(chooseSlice(delegated, [r(BASE - 65536, 65536)]), r(BASE + 65536, 65536));
    throwsIgloo(
      () => chooseSlice(delegated, [], { start: BASE }),
      'EOVERLAP',
      "root's shared images",
    );
    throwsIgloo(
      () => chooseSlice(delegated, [r(BASE - 65536, 65536), r(BASE + 65536, 65536)]),
      'ENOSPACE',
    );
  });

  test('a map onto them is refused even when delegated', () => {
    const delegated = [r(BASE - 65536, 3 * 65536)];
    checkMapDelegated([{ inside: 0, outside: BASE - 65536, count: 65536 }], 'uid', delegated);
    throwsIgloo(
      () => checkMapDelegated([{ inside: 0, outside: BASE + 100, count: 1 }], 'uid', delegated),
      'EPERM',
      'reserved',
      '2147418112-2147483647',
    );
    throwsIgloo(
      () => checkMapDelegated([{ inside: 0, outside: BASE - 10, count: 65536 }], 'gid', delegated),
      'EPERM',
      'gids',
    );
  });
});
