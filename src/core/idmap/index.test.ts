import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as idmap from './index.ts';

test('index re-exports the whole idmap API', () => {
  const names = [
    // range.ts
    'MAX_ID',
    'makeRange',
    'rangeEnd',
    'rangeLast',
    'containsId',
    'rangesOverlap',
    'rangeContains',
    'intersectRange',
    'subtractRange',
    'formatRange',
    'normalizeRanges',
    'unionRanges',
    'subtractRanges',
    'intersectRanges',
    'rangesCover',
    'countIds',
    // map.ts
    'KERNEL_MAX_MAP_LINES',
    'validateMap',
    'toOutside',
    'toInside',
    'tryToOutside',
    'tryToInside',
    'insideRanges',
    'outsideRanges',
    'composeMaps',
    'invertMap',
    'sameMap',
    // formats.ts
    'parseProcIdMap',
    'formatProcIdMap',
    'parseIdmapSpec',
    'formatLxcIdmap',
    'formatIdmapSpec',
    'fromOciMappings',
    'toOciMappings',
    // subid.ts
    'parseSubid',
    'parseSubidStrict',
    'formatSubidLine',
    'entriesFor',
    'delegatedRanges',
    'findOverlaps',
    'appendSubidLine',
    'removeSubidOwner',
    // allocate.ts
    'chooseBlock',
    'chooseSlice',
    'checkMapDelegated',
    'sliceMap',
  ];
  const exported = idmap as unknown as Record<string, unknown>;
  for (const name of names) assert.notEqual(exported[name], undefined, name);
  assert.equal(idmap.MAX_ID, 4294967294);
  assert.equal(idmap.KERNEL_MAX_MAP_LINES, 340);
});
