import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseUsernet, removeUsernetGrant, setUsernetGrant } from './usernet-file.ts';

const text = `# USERNAME TYPE BRIDGE COUNT
anna veth igloo0 2
@admins veth lxcbr0 10   # a group
broken line
elsa veth igloo0 x
anna veth other 1
`;

test('parseUsernet() reads entries and flags malformed lines', () => {
  const { entries, problems } = parseUsernet(text);
  assert.deepEqual(
    entries.map((e) => [e.user, e.type, e.bridge, e.count, e.line]),
    [
      ['anna', 'veth', 'igloo0', 2, 2],
      ['@admins', 'veth', 'lxcbr0', 10, 3],
      ['anna', 'veth', 'other', 1, 6],
    ],
  );
  assert.deepEqual(
    problems.map((p) => [p.line, p.reason]),
    [
      [4, 'expected USER TYPE BRIDGE COUNT'],
      [5, 'count "x" is not a whole number'],
    ],
  );
  assert.deepEqual(parseUsernet(''), { entries: [], problems: [] });
});

test('setUsernetGrant() rewrites the line in place and keeps every other line', () => {
  assert.equal(
    setUsernetGrant(text, { user: 'anna', bridge: 'igloo0', count: 3 }),
    text.replace('anna veth igloo0 2', 'anna veth igloo0 3'),
  );
  assert.equal(
    setUsernetGrant(text, { user: 'bob', bridge: 'igloo0', count: 1 }),
    `${text}bob veth igloo0 1\n`,
  );
  assert.equal(setUsernetGrant('', { user: 'bob', bridge: 'b', count: 1 }), 'bob veth b 1\n');
  assert.equal(
    setUsernetGrant('# x', { user: 'bob', bridge: 'b', count: 1 }),
    '# x\nbob veth b 1\n',
  );
  // a duplicate (which lxc-user-nic would add up) is folded into the one line
  assert.equal(
    setUsernetGrant('anna veth b 1\nx veth b 1\nanna veth b 5\n', {
      user: 'anna',
      bridge: 'b',
      count: 2,
    }),
    'anna veth b 2\nx veth b 1\n',
  );
});

test('setUsernetGrant() refuses names that would break the file', () => {
  for (const user of ['', 'a b', 'a\nb', '#x', 'a:b'])
    assert.throws(() => setUsernetGrant('', { user, bridge: 'b', count: 1 }), /Invalid user name/);
  assert.throws(
    () => setUsernetGrant('', { user: 'a', bridge: '../x', count: 1 }),
    /Invalid bridge name/,
  );
  assert.throws(() => setUsernetGrant('', { user: 'a', bridge: 'b', count: 0 }), /Invalid count 0/);
});

test('removeUsernetGrant() removes the user veth lines, of one bridge or all', () => {
  const one = removeUsernetGrant(text, { user: 'anna', bridge: 'igloo0' });
  assert.equal(one.text, text.replace('anna veth igloo0 2\n', ''));
  assert.deepEqual(
    one.removed.map((e) => e.line),
    [2],
  );
  const all = removeUsernetGrant(text, { user: 'anna' });
  assert.equal(
    all.text,
    text.replace('anna veth igloo0 2\n', '').replace('anna veth other 1\n', ''),
  );
  assert.equal(all.removed.length, 2);
  assert.deepEqual(removeUsernetGrant(text, { user: 'nobody' }), { text, removed: [] });
  assert.deepEqual(removeUsernetGrant('anna veth b 1\n', { user: 'anna' }), {
    text: '',
    removed: [{ user: 'anna', type: 'veth', bridge: 'b', count: 1, line: 1 }],
  });
});
