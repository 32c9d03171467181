import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IglooError } from '../errors.ts';
import { filterRows, mapLineText, psCells, treeLines, visible } from './format.ts';
import type { PsRow, TreeNode } from './model.ts';

const id = { host: 2000000, hostName: null, inside: 0, insideName: 'root', chain: [] };
const row = (pid: number, name: string | null, owner: string | null): PsRow => ({
  pid,
  ppid: 1,
  nspid: [pid, 6],
  pidInside: 6,
  uid: id,
  gid: { ...id, insideName: null },
  userns: 10,
  pidns: 20,
  depth: 1,
  pidDepth: 1,
  container: { kind: name ? 'igloo' : 'foreign', name, owner, ownerUid: null },
  state: 'S',
  comm: 'sleep',
  command: 'sleep 1000',
  startTime: 1,
  restricted: [],
});

test('psCells() gives the slide columns; unknowns are "?"', () => {
  assert.deepEqual(psCells(row(5, 'c1', 'anna')), [
    '5',
    '5/6',
    '2000000',
    'root',
    '10',
    '20',
    'c1',
    'anna',
    '1',
    'sleep 1000',
  ]);
  const r = { ...row(6, null, null), userns: null, depth: null, restricted: ['ns/user'] };
  const cells = psCells(r);
  assert.equal(cells[4], '?');
  assert.equal(cells[6], '(foreign)');
  assert.equal(cells[7], '-');
  assert.equal(cells[9], 'sleep 1000 (restricted: ns/user)');
});

test('filterRows() matches NAME and OWNER/NAME and refuses unknown names', () => {
  const rows = [row(1, 'c1', 'anna'), row(2, 'c1', 'elsa'), row(3, null, null)];
  assert.deepEqual(filterRows(rows, []).length, 3);
  assert.deepEqual(
    filterRows(rows, ['c1']).map((r) => r.pid),
    [1, 2],
  );
  assert.deepEqual(
    filterRows(rows, ['elsa/c1']).map((r) => r.pid),
    [2],
  );
  assert.throws(
    () => filterRows(rows, ['nope']),
    (e) => e instanceof IglooError && e.code === 'ENOENT',
  );
});

test('mapLineText() shows numbers and the slice', () => {
  const slice = {
    owner: 'anna',
    blockStart: 2000000,
    blockCount: 1000000,
    from: 0,
    to: 65535,
    text: "anna's block 2000000+0..65535",
  };
  assert.equal(
    mapLineText({ inside: 0, outside: 2000000, count: 65536, slice }),
    "0 2000000 65536 (anna's block 2000000+0..65535)",
  );
  assert.equal(mapLineText({ inside: 0, outside: 5, count: 1, slice: null }), '0 5 1');
});

test('treeLines() draws children below their parent', () => {
  const leaf = (userns: number, children: TreeNode[] = []): TreeNode => ({
    userns,
    parent: 1,
    parentBasis: 'map',
    depth: 1,
    view: false,
    creator: { uid: 1001, name: 'anna', basis: 'container-owner' },
    uidMap: [{ inside: 0, outside: 2000000, count: 65536, slice: null }],
    gidMap: null,
    containers: [{ kind: 'igloo', name: `c${userns}`, owner: 'anna' }],
    pidNamespaces: [{ pidns: 20, pidDepth: 1, processes: [100] }],
    processes: [100],
    children,
  });
  const root: TreeNode = {
    ...leaf(1, [leaf(10, [leaf(11)]), leaf(12)]),
    parent: null,
    parentBasis: null,
    view: true,
    containers: [],
    creator: { uid: 0, name: 'root', basis: 'initial' },
  };
  const lines = treeLines(root, (pid) => (pid === 100 ? 'init' : ''));
  const heads = lines.filter((l) => l.kind === 'head').map((l) => l.prefix + l.text);
  assert.deepEqual(heads, [
    'user:[1]  (this view)  creator root (0)',
    '├─ user:[10]  anna/c10  creator anna (1001)',
    '│  └─ user:[11]  anna/c11  creator anna (1001)',
    '└─ user:[12]  anna/c12  creator anna (1001)',
  ]);
  assert.ok(lines.some((l) => l.text === 'gid map unreadable'));
  assert.ok(lines.some((l) => l.text === 'pid:[20] level 1, 1 process: 100 init'));
});

test('visible() shows every control character as "?" (C0, DEL, C1), keeps the rest', () => {
  for (let code = 0; code < 0xa0; code++) {
    const ch = String.fromCodePoint(code);
    const control = code < 0x20 || code >= 0x7f;
    assert.equal(visible(ch), control ? '?' : ch, `U+${code.toString(16)}`);
  }
  assert.equal(visible('grüße ✓ \u{1F600}'), 'grüße ✓ \u{1F600}');
});

test("psCells() and treeLines() show a container's escape sequences as text", () => {
  const title = '\x1b]2;owned\x07';
  const query = '\x1b[6n';
  const csi = '\u009b6n';
  const r: PsRow = {
    ...row(7, 'c1', 'anna'),
    uid: { ...id, insideName: `r${query}` },
    command: `sh -c sleep ${title} ${csi}`,
  };
  const cells = psCells(r);
  assert.equal(cells[3], 'r?[6n');
  assert.equal(cells[9], 'sh -c sleep ?]2;owned? ?6n');
  const node: TreeNode = {
    userns: 1,
    parent: null,
    parentBasis: null,
    depth: 0,
    view: true,
    creator: { uid: 0, name: 'root', basis: 'initial' },
    uidMap: null,
    gidMap: null,
    containers: [],
    pidNamespaces: [{ pidns: 20, pidDepth: 0, processes: [100] }],
    processes: [100],
    children: [],
  };
  const named: TreeNode = {
    ...node,
    containers: [{ kind: 'igloo', name: `c${title}`, owner: 'anna' }],
  };
  const lines = treeLines(named, () => `sleep${title}`);
  assert.ok(lines.some((l) => l.text.includes('anna/c?]2;owned?')));
  assert.ok(lines.some((l) => l.text === 'pid:[20] level 0, 1 process: 100 sleep?]2;owned?'));
  assert.ok(lines.every((l) => visible(l.prefix + l.text) === l.prefix + l.text));
});
