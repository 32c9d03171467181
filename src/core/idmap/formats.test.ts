import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  formatIdmapSpec,
  formatLxcIdmap,
  formatProcIdMap,
  fromOciMappings,
  parseIdmapSpec,
  parseProcIdMap,
  toOciMappings,
} from './formats.ts';
import type { IdMapEntry, IdMaps } from './map.ts';
import { MAX_ID } from './range.ts';
import { throwsIgloo } from '../../../test/support/errors.ts';

const e = (inside: number, outside: number, count: number): IdMapEntry => ({
  inside,
  outside,
  count,
});

describe('parseProcIdMap', () => {
  test('parses the kernel layout with aligned columns', () => {
    const text = '         0    2000000      65536\n     65536       1001          1\n';
    assert.deepEqual(parseProcIdMap(text), [e(0, 2000000, 65536), e(65536, 1001, 1)]);
  });
  test('parses the initial namespace map', () => {
    assert.deepEqual(parseProcIdMap('         0          0 4294967295\n'), [e(0, 0, 4294967295)]);
  });
  test('empty text is an unwritten map', () => {
    assert.deepEqual(parseProcIdMap(''), []);
    assert.deepEqual(parseProcIdMap('\n'), []);
  });
  test('tabs, a missing final newline, blank lines and leading zeros', () => {
    assert.deepEqual(parseProcIdMap('0\t100\t5\n\n  \n007 200 1'), [e(0, 100, 5), e(7, 200, 1)]);
  });
  const bad: [string, number, string][] = [
    ['0 1', 1, 'expected 3 fields (inside outside count), found 2'],
    ['0 1 2 3', 1, 'found 4'],
    ['0 1 2\nx 1 2', 2, 'inside id is not a number'],
    ['0 -1 2', 1, 'outside id is not a number'],
    ['0 1 +2', 1, 'count is not a number'],
    ['0 1 1e3', 1, 'count is not a number'],
    ['0 1 0x10', 1, 'count is not a number'],
    ['0 1 1.0', 1, 'count is not a number'],
    ['0 1 0', 1, 'count must be at least 1'],
    ['4294967295 1 1', 1, 'inside id 4294967295 is larger than 4294967294'],
    ['0 1 4294967296', 1, 'count 4294967296 is larger than 4294967295'],
    ['4294967294 1 2', 1, 'inside range ends at 4294967295'],
    ['1 4294967294 2', 1, 'outside range ends at 4294967295'],
    ['99999999999999999999 0 1', 1, 'is larger than'],
  ];
  for (const [text, line, why] of bad) {
    test(`refuses ${JSON.stringify(text)}`, () => {
      const err = throwsIgloo(
        () => parseProcIdMap(text, { path: '/proc/42/uid_map' }),
        'EPARSE',
        `Cannot parse /proc/42/uid_map line ${line} "`,
        why,
      );
      assert.equal(err.path, '/proc/42/uid_map');
      assert.equal(err.line, line);
      assert.equal(err.op, 'read /proc/42/uid_map');
    });
  }
  test('names the text when no path is given', () => {
    const err = throwsIgloo(
      () => parseProcIdMap('a b c'),
      'EPARSE',
      'Cannot parse id map line 1 "a b c"',
    );
    assert.equal(err.path, undefined);
    assert.equal(err.subject, 'a b c');
  });
  test('refuses overlapping entries naming both lines', () => {
    const err = throwsIgloo(
      () => parseProcIdMap('0 100 10\n\n5 500 1\n', { path: '/proc/1/gid_map' }),
      'EOVERLAP',
      '/proc/1/gid_map',
      'line 1 "0 100 10"',
      'line 3 "5 500 1"',
    );
    assert.equal(err.line, 3);
    assert.equal(err.path, '/proc/1/gid_map');
  });
});

describe('formatProcIdMap', () => {
  test('one line per entry, as written to uid_map', () => {
    assert.equal(formatProcIdMap([e(0, 2000000, 65536)]), '0 2000000 65536\n');
    assert.equal(
      formatProcIdMap([e(0, 2000000, 65536), e(65536, 1001, 1)]),
      '0 2000000 65536\n65536 1001 1\n',
    );
    assert.equal(formatProcIdMap([]), '');
  });
  test('refuses entries that are not numbers', () => {
    throwsIgloo(() => formatProcIdMap([e(0, NaN, 1)]), 'EINVAL', 'id map', 'entry 1', 'NaN');
    throwsIgloo(() => formatProcIdMap([e(0, 0, 0)]), 'EINVAL', 'count 0');
  });
});

describe('parseIdmapSpec', () => {
  test('an LXC config with other keys and comments', () => {
    const text = [
      '# Template used to create this container',
      'lxc.include = /usr/share/lxc/config/common.conf',
      '',
      'lxc.idmap = u 0 2000000 65536',
      '   lxc.idmap=g 0 2000000 65536   ',
      'lxc.rootfs.path = dir:/var/lib/lxc/a#1/rootfs',
      'lxc.uts.name = anna-c1',
    ].join('\n');
    assert.deepEqual(parseIdmapSpec(text), {
      uid: [e(0, 2000000, 65536)],
      gid: [e(0, 2000000, 65536)],
    });
  });
  test('the old key lxc.id_map', () => {
    assert.deepEqual(
      parseIdmapSpec('lxc.id_map = u 0 100000 65536\nlxc.id_map = g 0 100000 65536\n'),
      {
        uid: [e(0, 100000, 65536)],
        gid: [e(0, 100000, 65536)],
      },
    );
  });
  test('an empty lxc.idmap value clears the entries so far, as LXC does', () => {
    assert.deepEqual(parseIdmapSpec('lxc.idmap = u 0 1 1\nlxc.idmap =\nlxc.idmap = g 5 6 7\n'), {
      uid: [],
      gid: [e(5, 6, 7)],
    });
  });
  test('bare entries, several per line, and kind b', () => {
    assert.deepEqual(parseIdmapSpec('u 0 2000000 65536 g 0 2000000 65536'), {
      uid: [e(0, 2000000, 65536)],
      gid: [e(0, 2000000, 65536)],
    });
    assert.deepEqual(parseIdmapSpec('b 0 3000000 65536\nu 65536 1002 1 # my own uid\n'), {
      uid: [e(0, 3000000, 65536), e(65536, 1002, 1)],
      gid: [e(0, 3000000, 65536)],
    });
    assert.deepEqual(parseIdmapSpec('\tu   0\t1   2  '), { uid: [e(0, 1, 2)], gid: [] });
  });
  test('empty text and comments only', () => {
    assert.deepEqual(parseIdmapSpec(''), { uid: [], gid: [] });
    assert.deepEqual(parseIdmapSpec('# nothing\n\n   # here\n'), { uid: [], gid: [] });
  });
  test('CRLF line ends are accepted', () => {
    assert.deepEqual(parseIdmapSpec('lxc.idmap = u 0 1 2\r\nu 5 6 7\r\n'), {
      uid: [e(0, 1, 2), e(5, 6, 7)],
      gid: [],
    });
  });
  const bad: [string, number, string][] = [
    ['x 0 1 2', 1, 'unknown kind "x" (expected u, g or b)'],
    ['U 0 1 2', 1, 'unknown kind "U"'],
    ['u 0 1 2 g 0 1', 1, 'wrong number of fields'],
    ['u 0 1', 1, 'found 3'],
    ['\nlxc.idmap = u 0 1 2 g 3 4 5', 2, 'found 8'],
    ['lxc.idmap = u 0 1', 1, 'wrong number of fields'],
    ['lxc.idmap = 0 1 2 u', 1, 'unknown kind "0"'],
    ['u 0 1 2\nu -1 5 5', 2, 'inside id is not a number'],
    ['u 0 x 2', 1, 'outside id is not a number'],
    ['u 0 1 1e3', 1, 'count is not a number'],
    ['u 0 1 +3', 1, 'count is not a number'],
    ['u 0 1 0', 1, 'count must be at least 1'],
    ['u 0 4294967295 1', 1, 'outside id 4294967295 is larger than 4294967294'],
    ['g 4294967290 0 10', 1, 'inside range ends at 4294967299'],
    ['foo = bar', 1, 'unknown key "foo"'],
    ['# c\nidmap = u 0 1 2', 2, 'unknown key "idmap"'],
  ];
  for (const [text, line, why] of bad) {
    test(`refuses ${JSON.stringify(text)}`, () => {
      const err = throwsIgloo(
        () => parseIdmapSpec(text, { path: '/var/lib/lxc/a/config' }),
        'EPARSE',
        `Cannot parse /var/lib/lxc/a/config line ${line} "`,
        why,
      );
      assert.equal(err.line, line);
      assert.equal(err.path, '/var/lib/lxc/a/config');
    });
  }
  test('names the text when no path is given', () => {
    throwsIgloo(
      () => parseIdmapSpec('z 1 2 3'),
      'EPARSE',
      'Cannot parse idmap spec line 1 "z 1 2 3"',
    );
  });
  test('refuses overlapping entries naming both lines', () => {
    const err = throwsIgloo(
      () =>
        parseIdmapSpec('lxc.idmap = u 0 2000000 65536\nlxc.idmap = u 0 3000000 1\n', {
          path: 'cfg',
        }),
      'EOVERLAP',
      'uid map in cfg',
      'line 1 "u 0 2000000 65536"',
      'line 2 "u 0 3000000 1"',
      'overlap inside',
    );
    assert.equal(err.line, 2);
    throwsIgloo(
      () => parseIdmapSpec('b 0 100 10 g 10 105 1'),
      'EOVERLAP',
      'gid map',
      'line 1 "b 0 100 10"',
      'line 1 "g 10 105 1"',
      'overlap outside',
    );
  });
});

describe('formatLxcIdmap and formatIdmapSpec', () => {
  const seed: IdMaps = { uid: [e(0, 2000000, 65536)], gid: [e(0, 2000000, 65536)] };
  test('LXC config lines', () => {
    assert.equal(
      formatLxcIdmap(seed),
      'lxc.idmap = u 0 2000000 65536\nlxc.idmap = g 0 2000000 65536\n',
    );
    assert.equal(formatLxcIdmap({ uid: [], gid: [] }), '');
  });
  test('compact single line', () => {
    assert.equal(formatIdmapSpec(seed), 'u 0 2000000 65536 g 0 2000000 65536');
    assert.equal(formatIdmapSpec({ uid: [e(0, 1, 2), e(2, 9, 1)], gid: [] }), 'u 0 1 2 u 2 9 1');
    assert.equal(formatIdmapSpec({ uid: [], gid: [] }), '');
  });
  test('refuse invalid entries', () => {
    throwsIgloo(
      () => formatLxcIdmap({ uid: [e(-1, 0, 1)], gid: [] }),
      'EINVAL',
      'uid map',
      'negative',
    );
    throwsIgloo(() => formatIdmapSpec({ uid: [], gid: [e(0, 0, 1.5)] }), 'EINVAL', 'gid map');
  });
});

describe('OCI mappings', () => {
  test('reads and writes the OCI shape', () => {
    const json = [
      { containerID: 0, hostID: 2000000, size: 65536 },
      { containerID: 65536, hostID: 1001, size: 1, extra: 'ignored' },
    ];
    const entries = fromOciMappings(json, { field: 'linux.uidMappings' });
    assert.deepEqual(entries, [e(0, 2000000, 65536), e(65536, 1001, 1)]);
    assert.deepEqual(toOciMappings(entries), [
      { containerID: 0, hostID: 2000000, size: 65536 },
      { containerID: 65536, hostID: 1001, size: 1 },
    ]);
  });
  test('absent and empty lists', () => {
    assert.deepEqual(fromOciMappings(undefined), []);
    assert.deepEqual(fromOciMappings(null), []);
    assert.deepEqual(fromOciMappings([]), []);
    assert.deepEqual(toOciMappings([]), []);
  });
  const bad: [unknown, string, string][] = [
    [{}, 'linux.uidMappings', 'expected a list of mappings, got {}'],
    ['0 0 1', 'linux.uidMappings', 'got "0 0 1"'],
    [[5], 'linux.uidMappings[0]', 'expected an object'],
    [[null], 'linux.uidMappings[0]', 'got null'],
    [[[0, 0, 1]], 'linux.uidMappings[0]', 'expected an object'],
    [
      [
        { containerID: 0, hostID: 1, size: 1 },
        { containerID: 1, hostID: 'abc', size: 1 },
      ],
      'linux.uidMappings[1].hostID',
      'expected an integer from 0 to 4294967294, got "abc"',
    ],
    [[{ hostID: 1, size: 1 }], 'linux.uidMappings[0].containerID', 'got undefined'],
    [[{ containerID: -1, hostID: 1, size: 1 }], 'linux.uidMappings[0].containerID', 'got -1'],
    [[{ containerID: 1.5, hostID: 1, size: 1 }], 'linux.uidMappings[0].containerID', 'got 1.5'],
    [[{ containerID: 0, hostID: 4294967295, size: 1 }], '[0].hostID', 'got 4294967295'],
    [
      [{ containerID: 0, hostID: 1, size: 0 }],
      'linux.uidMappings[0].size',
      'from 1 to 4294967295, got 0',
    ],
    [[{ containerID: 0, hostID: 1, size: '5' }], '[0].size', 'got "5"'],
    [[{ containerID: 0, hostID: 1, size: 1e10 }], '[0].size', 'got 10000000000'],
    [
      [{ containerID: MAX_ID, hostID: 1, size: 2 }],
      '[0].size',
      'containerID + size - 1 = 4294967295',
    ],
    [[{ containerID: 1, hostID: MAX_ID, size: 2 }], '[0].size', 'hostID + size - 1 = 4294967295'],
  ];
  for (const [value, subject, why] of bad) {
    test(`refuses ${JSON.stringify(value)}`, () => {
      const err = throwsIgloo(
        () => fromOciMappings(value, { path: 'config.json', field: 'linux.uidMappings' }),
        'EINVAL',
        `Invalid ${subject.startsWith('[') ? 'linux.uidMappings' + subject : subject}`,
        'in config.json',
        why,
      );
      assert.equal(err.path, 'config.json');
      assert.ok(err.subject?.endsWith(subject));
    });
  }
  test('the default field name', () => {
    throwsIgloo(() => fromOciMappings(7), 'EINVAL', 'Invalid mappings: expected a list');
  });
  test('refuses overlapping mappings naming both', () => {
    throwsIgloo(
      () =>
        fromOciMappings(
          [
            { containerID: 0, hostID: 100, size: 10 },
            { containerID: 20, hostID: 105, size: 10 },
          ],
          { field: 'linux.gidMappings' },
        ),
      'EOVERLAP',
      'gid map',
      'linux.gidMappings[0] (containerID 0, hostID 100, size 10)',
      'linux.gidMappings[1]',
      'overlap outside',
    );
  });
  test('toOciMappings refuses invalid entries', () => {
    throwsIgloo(() => toOciMappings([e(0, 0, 0)]), 'EINVAL', 'count 0');
  });
});

// ---------------------------------------------------------------------------
// Round trips.

const arbId = fc.oneof(
  fc.integer({ min: 0, max: 100 }),
  fc.integer({ min: 0, max: MAX_ID }),
  fc.constant(MAX_ID),
);
/** A valid map: disjoint inside and outside ranges anywhere in the id space. */
const arbValidMap: fc.Arbitrary<IdMapEntry[]> = fc
  .array(fc.tuple(arbId, arbId, fc.integer({ min: 1, max: 70000 })), { maxLength: 6 })
  .map((raw) => {
    const out: IdMapEntry[] = [];
    for (const [i, o, c0] of raw) {
      const c = Math.min(c0, MAX_ID - i + 1, MAX_ID - o + 1);
      const clash = out.some(
        (x) =>
          (i < x.inside + x.count && x.inside < i + c) ||
          (o < x.outside + x.count && x.outside < o + c),
      );
      if (!clash) out.push(e(i, o, c));
    }
    return out;
  });

describe('format round trips', () => {
  const runs = { numRuns: 200 };
  test('parseProcIdMap(formatProcIdMap(m)) == m', () => {
    fc.assert(
      fc.property(arbValidMap, (m) => {
        assert.deepEqual(parseProcIdMap(formatProcIdMap(m)), m);
      }),
      runs,
    );
  });
  test('parseIdmapSpec(formatIdmapSpec(m)) and parseIdmapSpec(formatLxcIdmap(m)) == m', () => {
    fc.assert(
      fc.property(arbValidMap, arbValidMap, (uid, gid) => {
        const maps = { uid, gid };
        assert.deepEqual(parseIdmapSpec(formatIdmapSpec(maps)), maps);
        assert.deepEqual(parseIdmapSpec(formatLxcIdmap(maps)), maps);
      }),
      runs,
    );
  });
  test('fromOciMappings(toOciMappings(m)) == m, also through JSON text', () => {
    fc.assert(
      fc.property(arbValidMap, (m) => {
        assert.deepEqual(fromOciMappings(toOciMappings(m)), m);
        assert.deepEqual(fromOciMappings(JSON.parse(JSON.stringify(toOciMappings(m)))), m);
      }),
      runs,
    );
  });
  test('the parsers never throw anything but EPARSE or EOVERLAP on junk', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.constantFrom(
            'u',
            'g',
            'b',
            'x',
            '0',
            '1',
            '65536',
            '-',
            '=',
            '#',
            ' ',
            '\n',
            'lxc.idmap',
          ),
          {
            maxLength: 20,
          },
        ),
        (parts) => {
          const text = parts.join(' ');
          for (const parse of [() => parseIdmapSpec(text), () => parseProcIdMap(text)]) {
            try {
              parse();
            } catch (err) {
              const code = (err as { code?: string }).code;
              assert.ok(code === 'EPARSE' || code === 'EOVERLAP', String(err));
            }
          }
        },
      ),
      runs,
    );
  });
});
