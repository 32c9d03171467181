import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatShiftRange, shiftRanges } from './shift.ts';

const slice = (outside: number, count = 65536) => [{ inside: 0, outside, count }];

describe('shiftRanges()', () => {
  test('one slice to another: one range for uids, one for gids', () => {
    const r = shiftRanges(
      { uid: slice(2_000_000), gid: slice(2_000_000) },
      { uid: slice(2_100_000), gid: slice(2_100_000) },
    );
    assert.deepEqual(r.map(formatShiftRange), [
      'u:2000000:2100000:65536',
      'g:2000000:2100000:65536',
    ]);
  });
  test('maps of several entries are split where either one is', () => {
    const from = [
      { inside: 0, outside: 100_000, count: 1000 },
      { inside: 1000, outside: 500_000, count: 64536 },
    ];
    const to = slice(3_000_000);
    assert.deepEqual(
      shiftRanges({ uid: from, gid: [] }, { uid: to, gid: [] }).map(formatShiftRange),
      ['u:100000:3000000:1000', 'u:500000:3001000:64536'],
    );
  });
  test('inside ids the new map lacks, and identical placements, give no range', () => {
    assert.deepEqual(
      shiftRanges(
        { uid: slice(2_000_000, 65536), gid: slice(7, 1) },
        { uid: slice(4_000_000, 1000), gid: slice(7, 1) },
      ).map(formatShiftRange),
      ['u:2000000:4000000:1000'],
    );
  });
});
