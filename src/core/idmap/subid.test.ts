import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  appendSubidLine,
  delegatedRanges,
  describeSubidEntry,
  entriesFor,
  findOverlaps,
  formatSubidLine,
  ownerProblem,
  parseSubid,
  parseSubidStrict,
  removeSubidOwner,
} from './subid.ts';
import type { SubidEntry } from './subid.ts';
import { MAX_ID } from './range.ts';
import { throwsIgloo } from '../../../test/support/errors.ts';

const SEED = 'anna:2000000:1000000\nelsa:3000000:1000000\n';
const anna = { name: 'anna', uid: 1001 };
const elsa = { name: 'elsa', uid: 1002 };

describe('parseSubid', () => {
  test('the seed file', () => {
    assert.deepEqual(parseSubid(SEED), {
      entries: [
        { owner: 'anna', start: 2000000, count: 1000000, line: 1 },
        { owner: 'elsa', start: 3000000, count: 1000000, line: 2 },
      ],
      problems: [],
    });
  });
  test('numeric owners, comments, blank lines and no final newline', () => {
    const text =
      '# delegated blocks\n\n1001:100000:65536\n   \n  # indented comment\nelsa:165536:65536';
    const { entries, problems } = parseSubid(text);
    assert.deepEqual(problems, []);
    assert.deepEqual(entries, [
      { owner: '1001', start: 100000, count: 65536, line: 3 },
      { owner: 'elsa', start: 165536, count: 65536, line: 6 },
    ]);
  });
  test('empty text', () => {
    assert.deepEqual(parseSubid(''), { entries: [], problems: [] });
  });
  test('the top of the id space', () => {
    assert.deepEqual(parseSubid(`x:${MAX_ID}:1\ny:0:4294967295\n`).problems, []);
  });
  const bad: [string, string][] = [
    ['anna:2000000', 'expected 3 fields name:start:count, found 2'],
    ['anna:2000000:1000000:x', 'found 4'],
    ['anna', 'found 1'],
    [':2000000:1000000', 'owner is empty'],
    ['an na:1:1', 'owner contains whitespace'],
    [' anna:1:1', 'owner contains whitespace'],
    ['anna:x:5', 'start is not a number'],
    ['anna::5', 'start is empty'],
    ['anna:-1:5', 'start is not a number'],
    ['anna:+1:5', 'start is not a number'],
    ['anna:1e3:5', 'start is not a number'],
    ['anna: 1:5', 'start is not a number'],
    ['anna:1:5 ', 'count is not a number'],
    ['anna:1:5\r', 'count is not a number'],
    ['anna:1:0x10', 'count is not a number'],
    ['anna:1:1.5', 'count is not a number'],
    ['anna:1:', 'count is empty'],
    ['anna:1:0', 'count is 0'],
    ['anna:4294967295:1', 'start 4294967295 is larger than 4294967294'],
    ['anna:1:4294967296', 'count 4294967296 is larger than 4294967295'],
    ['anna:4294967290:10', 'block ends at 4294967299, beyond the highest id 4294967294'],
  ];
  for (const [line, why] of bad) {
    test(`problem: ${JSON.stringify(line)}`, () => {
      const text = `ok:1:1\n${line}\nalso:5:1\n`;
      const { entries, problems } = parseSubid(text);
      assert.deepEqual(
        entries.map((x) => x.owner),
        ['ok', 'also'],
      );
      assert.deepEqual(problems, [{ line: 2, text: line, reason: problems[0]?.reason }]);
      assert.ok(problems[0]?.reason.includes(why), problems[0]?.reason);
    });
  }
});

describe('parseSubidStrict', () => {
  test('returns the entries of a good file', () => {
    assert.equal(parseSubidStrict(SEED).length, 2);
  });
  test('throws EPARSE naming path, line and text', () => {
    const err = throwsIgloo(
      () => parseSubidStrict('# c\nelsa:3000000:1000000\nanna:x:5\nbad\n', { path: '/etc/subuid' }),
      'EPARSE',
      'Cannot parse /etc/subuid line 3 "anna:x:5": start is not a number',
    );
    assert.equal(err.path, '/etc/subuid');
    assert.equal(err.line, 3);
    assert.equal(err.subject, 'anna:x:5');
    assert.equal(err.op, 'read /etc/subuid');
    assert.ok(err.hint);
  });
  test('without a path', () => {
    const err = throwsIgloo(() => parseSubidStrict('x'), 'EPARSE', 'line 1 "x"', 'found 1');
    assert.equal(err.path, undefined);
  });
});

describe('formatSubidLine', () => {
  test('name:start:count', () => {
    assert.equal(
      formatSubidLine('anna', { start: 2000000, count: 1000000 }),
      'anna:2000000:1000000',
    );
    assert.equal(formatSubidLine('1001', { start: 0, count: 1 }), '1001:0:1');
  });
  for (const owner of ['', 'a:b', 'a b', 'a\nb', '#x']) {
    test(`refuses owner ${JSON.stringify(owner)}`, () => {
      const err = throwsIgloo(
        () => formatSubidLine(owner, { start: 1, count: 1 }),
        'EINVAL',
        `owner ${JSON.stringify(owner)}`,
      );
      assert.equal(err.subject, owner);
    });
  }
  test('refuses bad ranges', () => {
    throwsIgloo(() => formatSubidLine('anna', { start: 1, count: 0 }), 'EINVAL', 'count 0');
    throwsIgloo(() => formatSubidLine('anna', { start: MAX_ID, count: 2 }), 'EINVAL', 'last id');
  });
  test('ownerProblem', () => {
    assert.equal(ownerProblem('anna'), undefined);
    assert.equal(ownerProblem(5 as unknown as string), 'owner is not a string');
  });
});

describe('lookups', () => {
  const text =
    'anna:2000000:1000000\nelsa:3000000:1000000\n1001:5000000:65536\nanna:2900000:200000\n';
  const entries = parseSubidStrict(text);
  test('entriesFor matches the name or the uid', () => {
    assert.deepEqual(
      entriesFor(entries, anna).map((x) => x.line),
      [1, 3, 4],
    );
    assert.deepEqual(
      entriesFor(entries, elsa).map((x) => x.line),
      [2],
    );
    assert.deepEqual(entriesFor(entries, { name: 'olaf', uid: 1003 }), []);
  });
  test('delegatedRanges is the normalized union', () => {
    assert.deepEqual(delegatedRanges(entries, anna), [
      { start: 2000000, count: 1100000 },
      { start: 5000000, count: 65536 },
    ]);
    assert.deepEqual(delegatedRanges(entries, { name: 'olaf', uid: 1003 }), []);
  });
  test('findOverlaps lists every overlapping pair in file order', () => {
    const pairs = findOverlaps(entries);
    assert.deepEqual(
      pairs.map((p) => [p.a.line, p.b.line]),
      [
        [1, 4],
        [2, 4],
      ],
    );
    assert.deepEqual(findOverlaps(parseSubidStrict(SEED)), []);
    assert.deepEqual(findOverlaps([]), []);
  });
  test('findOverlaps: adjacency is not overlap, duplicates are', () => {
    const es = parseSubidStrict('a:10:10\nb:20:10\nc:10:1\nd:29:5\n');
    assert.deepEqual(
      findOverlaps(es).map((p) => [p.a.owner, p.b.owner]),
      [
        ['a', 'c'],
        ['b', 'd'],
      ],
    );
  });
  test('describeSubidEntry', () => {
    assert.equal(describeSubidEntry(entries[1]!), '"elsa" 3000000-3999999 (line 2)');
  });
});

describe('editing', () => {
  test('appendSubidLine', () => {
    assert.equal(
      appendSubidLine('', 'anna', { start: 2000000, count: 1000000 }),
      'anna:2000000:1000000\n',
    );
    assert.equal(
      appendSubidLine('anna:2000000:1000000\n', 'elsa', { start: 3000000, count: 1000000 }),
      SEED,
    );
    assert.equal(appendSubidLine('# x', 'a', { start: 1, count: 1 }), '# x\na:1:1\n');
    assert.equal(appendSubidLine('\n', 'a', { start: 1, count: 1 }), '\na:1:1\n');
  });
  test('appendSubidLine refuses bad input', () => {
    throwsIgloo(() => appendSubidLine('', 'a:b', { start: 1, count: 1 }), 'EINVAL', 'owner "a:b"');
    throwsIgloo(() => appendSubidLine('', 'a', { start: -1, count: 1 }), 'EINVAL', 'start -1');
  });
  test('removeSubidOwner keeps every other byte', () => {
    const text =
      '# header\r\nanna:2000000:1000000\n\nelsa:3000000:1000000\n  anna:1:1\nanna:x:1\n1001:9:9\nkeep:1:1';
    const { text: out, removed } = removeSubidOwner(text, ['anna', '1001']);
    assert.equal(out, '# header\r\n\nelsa:3000000:1000000\n  anna:1:1\nanna:x:1\nkeep:1:1');
    assert.deepEqual(removed, [
      { owner: 'anna', start: 2000000, count: 1000000, line: 2 },
      { owner: '1001', start: 9, count: 9, line: 7 },
    ]);
  });
  test('removeSubidOwner of a last line without a newline', () => {
    assert.deepEqual(removeSubidOwner('a:1:1\nb:2:2', ['b']), {
      text: 'a:1:1\n',
      removed: [{ owner: 'b', start: 2, count: 2, line: 2 }],
    });
  });
  test('removeSubidOwner with nothing to remove returns the text as is', () => {
    assert.deepEqual(removeSubidOwner(SEED, ['olaf']), { text: SEED, removed: [] });
    assert.deepEqual(removeSubidOwner('', ['anna']), { text: '', removed: [] });
    assert.deepEqual(removeSubidOwner(SEED, []), { text: SEED, removed: [] });
  });
});

// ---------------------------------------------------------------------------
// Properties.

const arbOwner = fc.constantFrom('anna', 'elsa', '1001', 'olaf', 'root', 'u-1');
const arbLine: fc.Arbitrary<string> = fc.oneof(
  fc
    .tuple(arbOwner, fc.integer({ min: 0, max: MAX_ID - 1000 }), fc.integer({ min: 1, max: 1000 }))
    .map(([o, s, c]) => `${o}:${s}:${c}`),
  fc.constantFrom('', '# comment', '  ', 'bad line', 'anna:x:1', 'x:1:0', 'anna::'),
);
const arbText = fc
  .tuple(fc.array(arbLine, { maxLength: 8 }), fc.boolean())
  .map(([lines, finalNewline]) =>
    lines.length === 0 ? '' : lines.join('\n') + (finalNewline ? '\n' : ''),
  );

describe('subid properties', () => {
  const runs = { numRuns: 200 };
  test('removeSubidOwner(appendSubidLine(t, o, r), [o]) gives back t', () => {
    fc.assert(
      fc.property(
        arbText,
        fc.integer({ min: 0, max: MAX_ID - 70000 }),
        fc.integer({ min: 1, max: 70000 }),
        (t0, start, count) => {
          const t = t0 === '' || t0.endsWith('\n') ? t0 : `${t0}\n`;
          const owner = 'newuser';
          const added = appendSubidLine(t, owner, { start, count });
          const { text, removed } = removeSubidOwner(added, [owner]);
          assert.equal(text, t);
          assert.equal(removed.length, 1);
          assert.deepEqual(parseSubid(added).entries.at(-1), removed[0]);
        },
      ),
      runs,
    );
  });
  test('parse(append(t)) adds exactly the new entry; problems are unchanged', () => {
    fc.assert(
      fc.property(arbText, arbOwner, fc.nat(1000000), (t, owner, start) => {
        const before = parseSubid(t);
        const after = parseSubid(appendSubidLine(t, owner, { start, count: 10 }));
        assert.deepEqual(after.problems, before.problems);
        assert.deepEqual(after.entries.slice(0, -1), before.entries);
        assert.deepEqual(
          { ...after.entries.at(-1)!, line: 0 },
          { owner, start, count: 10, line: 0 },
        );
      }),
      runs,
    );
  });
  test('removeSubidOwner drops exactly the well-formed lines of the owners', () => {
    fc.assert(
      fc.property(arbText, fc.subarray(['anna', 'elsa', '1001', 'olaf']), (t, owners) => {
        const { text, removed } = removeSubidOwner(t, owners);
        const before = parseSubid(t);
        const after = parseSubid(text);
        const set = new Set(owners);
        assert.deepEqual(
          removed,
          before.entries.filter((x) => set.has(x.owner)),
        );
        assert.deepEqual(
          after.entries.map((x) => [x.owner, x.start, x.count]),
          before.entries.filter((x) => !set.has(x.owner)).map((x) => [x.owner, x.start, x.count]),
        );
        assert.deepEqual(
          after.problems.map((p) => p.text),
          before.problems.map((p) => p.text),
        );
      }),
      runs,
    );
  });
  test('parse(formatSubidLine(o, r)) round trips', () => {
    fc.assert(
      fc.property(
        arbOwner,
        fc.integer({ min: 0, max: MAX_ID }),
        fc.integer({ min: 1, max: 1 << 30 }),
        (owner, start, c) => {
          const count = Math.min(c, MAX_ID - start + 1);
          assert.deepEqual(parseSubidStrict(formatSubidLine(owner, { start, count })), [
            { owner, start, count, line: 1 },
          ]);
        },
      ),
      runs,
    );
  });
  test('findOverlaps agrees with a pairwise check', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(arbOwner, fc.nat(50), fc.integer({ min: 1, max: 10 })), { maxLength: 8 }),
        (raw) => {
          const entries: SubidEntry[] = raw.map(([owner, start, count], i) => ({
            owner,
            start,
            count,
            line: i + 1,
          }));
          const expected: [number, number][] = [];
          for (let i = 0; i < entries.length; i++)
            for (let j = i + 1; j < entries.length; j++) {
              const a = entries[i]!;
              const b = entries[j]!;
              if (a.start < b.start + b.count && b.start < a.start + a.count)
                expected.push([i + 1, j + 1]);
            }
          assert.deepEqual(
            findOverlaps(entries).map((p) => [p.a.line, p.b.line]),
            expected,
          );
        },
      ),
      runs,
    );
  });
});
