import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parsePasswd } from '../passwd.ts';
import { parseSubid } from '../idmap/subid.ts';
import {
  buildSnapshot,
  deriveParents,
  sliceLabel,
  type ProcSample,
  type SnapshotInput,
  type TreeNode,
} from './model.ts';

const HOST = 1;
const HOST_PID = 2;
const m = (inside: number, outside: number, count: number) => ({ inside, outside, count });
const FULL = [m(0, 0, 4294967295)];

function proc(pid: number, over: Partial<ProcSample>): ProcSample {
  return {
    pid,
    ppid: 1,
    comm: 'x',
    state: 'S',
    command: 'x',
    uid: 0,
    gid: 0,
    nspid: [pid],
    startTime: pid,
    userns: HOST,
    pidns: HOST_PID,
    restricted: [],
    ...over,
  };
}

const hostPasswd = parsePasswd(
  'root:x:0:0::/root:/bin/sh\nanna:x:1001:1001::/home/anna:/bin/sh\nelsa:x:1002:1002::/:/bin/sh\n',
);
const subuid = parseSubid('anna:2000000:1000000\n1002:3000000:1000000\n').entries;

// anna-c1: userns 10, pidns 20, ids 2000000+65536, init 100 (parent: monitor 99 as anna)
// nested:  userns 11 inside anna-c1 (maps root only), same pid namespace
// twin:    userns 12, a sibling with the same map as anna-c1 (shared slice), pidns 22
// deep:    userns 13 with anna-c1's map, in a pid namespace below anna-c1's (pidns 23)
// elsa-x:  userns 14, a foreign container made by elsa (monitor 199 as elsa)
const input: SnapshotInput = {
  view: {
    userns: HOST,
    pidns: HOST_PID,
    uidMap: FULL,
    gidMap: FULL,
    passwd: hostPasswd,
    subuid,
    subgid: subuid,
  },
  processes: [
    proc(1, {
      ppid: 0,
      comm: 'init',
      command: 'init',
      userns: null,
      pidns: null,
      restricted: ['ns/user', 'ns/pid'],
    }),
    proc(99, { uid: 1001, gid: 1001, comm: 'igloo-helper' }),
    proc(100, { ppid: 99, uid: 2000000, gid: 2000000, nspid: [100, 1], userns: 10, pidns: 20 }),
    proc(101, {
      ppid: 100,
      uid: 2000000,
      gid: 2000000,
      nspid: [101, 7],
      userns: 10,
      pidns: 20,
      command: 'sleep 1000',
    }),
    proc(102, { ppid: 100, uid: 2000000, gid: 2000000, nspid: [102, 8], userns: 11, pidns: 20 }),
    proc(103, { ppid: 99, uid: 2000005, gid: 2000005, nspid: [103, 1], userns: 12, pidns: 22 }),
    proc(104, { ppid: 100, uid: 2000000, gid: 2000000, nspid: [104, 9, 1], userns: 13, pidns: 23 }),
    proc(199, { uid: 1002, gid: 1002 }),
    proc(200, { ppid: 199, uid: 3000000, gid: 3000000, nspid: [200, 1], userns: 14, pidns: 24 }),
    proc(300, {
      uid: 2000000,
      nspid: [300, 5],
      userns: null,
      pidns: null,
      restricted: ['ns/user', 'ns/pid'],
    }),
  ],
  namespaces: [
    {
      userns: 10,
      uidMap: [m(0, 2000000, 65536)],
      gidMap: [m(0, 2000000, 65536)],
      passwd: parsePasswd('root:x:0:0::/root:/bin/sh\nfive:x:5:5::/:/bin/sh\n'),
    },
    { userns: 11, uidMap: [m(0, 2000000, 1)], gidMap: [m(0, 2000000, 1)], passwd: null },
    { userns: 12, uidMap: [m(0, 2000000, 65536)], gidMap: [m(0, 2000000, 65536)], passwd: null },
    { userns: 13, uidMap: [m(0, 2000000, 65536)], gidMap: [m(0, 2000000, 65536)], passwd: null },
    { userns: 14, uidMap: [m(0, 3000000, 65536)], gidMap: null, passwd: null },
  ],
  containers: [
    { name: 'anna-c1', owner: { name: 'anna', uid: 1001 }, initPid: 100, userns: 10, pidns: 20 },
  ],
};

const snap = buildSnapshot(input);
const row = (pid: number) => snap.processes.find((r) => r.pid === pid)!;
const find = (n: TreeNode, ns: number): TreeNode | undefined =>
  n.userns === ns ? n : n.children.map((c) => find(c, ns)).find(Boolean);

describe('buildSnapshot() rows', () => {
  test('a container process: ids outside and inside, names from each passwd, depth', () => {
    const r = row(101);
    assert.deepEqual(r.uid, {
      host: 2000000,
      hostName: null,
      inside: 0,
      insideName: 'root',
      chain: [{ userns: 10, id: 0 }],
    });
    assert.equal(r.gid.inside, 0);
    assert.equal(r.pidInside, 7);
    assert.equal(r.pidDepth, 1);
    assert.equal(r.depth, 1);
    assert.deepEqual(r.container, {
      kind: 'igloo',
      name: 'anna-c1',
      owner: 'anna',
      ownerUid: 1001,
    });
    assert.equal(row(103).uid.inside, 5);
    assert.equal(row(103).uid.insideName, null, "the twin's passwd is unknown");
  });

  test('nested namespaces translate through every level and belong to the container', () => {
    assert.deepEqual(row(102).uid.chain, [
      { userns: 10, id: 0 },
      { userns: 11, id: 0 },
    ]);
    assert.equal(row(102).depth, 2);
    assert.equal(row(102).container.name, 'anna-c1', 'same pid namespace');
    assert.equal(row(104).depth, 2);
    assert.equal(row(104).container.name, 'anna-c1', 'a user namespace below the container');
  });

  test('host and foreign processes, and what cannot be read', () => {
    assert.deepEqual(row(99).container, { kind: 'host', name: null, owner: null, ownerUid: null });
    assert.equal(row(99).uid.insideName, 'anna');
    assert.deepEqual(row(200).container, {
      kind: 'foreign',
      name: null,
      owner: 'elsa',
      ownerUid: 1002,
    });
    assert.equal(row(200).gid.inside, null, 'no gid map');
    assert.equal(row(1).container.kind, 'host');
    assert.equal(row(1).depth, null);
    assert.equal(row(1).uid.inside, null);
    assert.equal(row(300).container.kind, 'foreign', 'a deeper pid namespace is not the host');
    assert.deepEqual(row(300).restricted, ['ns/user', 'ns/pid']);
  });

  test('rows are sorted by pid', () => {
    const pids = snap.processes.map((r) => r.pid);
    assert.deepEqual(
      pids,
      [...pids].sort((a, b) => a - b),
    );
  });
});

describe('buildSnapshot() tree', () => {
  test('the view is the root; the initial namespace was made by the kernel for root', () => {
    assert.equal(snap.tree.userns, HOST);
    assert.equal(snap.view.initial, true);
    assert.deepEqual(snap.tree.creator, { uid: 0, name: 'root', basis: 'initial' });
    assert.deepEqual(
      snap.tree.children.map((c) => c.userns),
      [10, 12, 14],
    );
  });

  test('parents: by the most specific map, identical maps only with a deeper pid namespace', () => {
    const c1 = find(snap.tree, 10)!;
    assert.deepEqual(
      c1.children.map((c) => [c.userns, c.parentBasis]),
      [
        [11, 'map'],
        [13, 'map+pid-depth'],
      ],
    );
    assert.equal(find(snap.tree, 12)!.parentBasis, 'view', 'a twin is a sibling');
    assert.equal(find(snap.tree, 14)!.parentBasis, 'unknown-map');
  });

  test('creators, slices, pid namespaces and containers', () => {
    const c1 = find(snap.tree, 10)!;
    assert.deepEqual(c1.creator, { uid: 1001, name: 'anna', basis: 'container-owner' });
    assert.deepEqual(find(snap.tree, 12)!.creator, {
      uid: 1001,
      name: 'anna',
      basis: 'parent-process',
    });
    assert.deepEqual(find(snap.tree, 11)!.creator, {
      uid: 2000000,
      name: null,
      basis: 'parent-process',
    });
    assert.equal(c1.uidMap![0]!.slice!.text, "anna's block 2000000+0..65535");
    assert.equal(find(snap.tree, 14)!.uidMap![0]!.slice!.text, "elsa's block 3000000+0..65535");
    assert.deepEqual(c1.pidNamespaces, [{ pidns: 20, pidDepth: 1, processes: [100, 101] }]);
    assert.deepEqual(c1.containers, [{ kind: 'igloo', name: 'anna-c1', owner: 'anna' }]);
    assert.deepEqual(
      snap.tree.uidMap!.map((l) => l.slice),
      [null],
    );
  });
});

describe('deriveParents()', () => {
  const facts = (userns: number, uid: [number, number] | null, depth = 1) => ({
    userns,
    uid: uid && [{ start: uid[0], count: uid[1] }],
    gid: uid && [{ start: uid[0], count: uid[1] }],
    minPidDepth: depth,
    maxPidDepth: depth,
  });
  test('never makes a cycle of identical maps at the same depth', () => {
    const p = deriveParents(1, [facts(1, null, 0), facts(2, [100, 10]), facts(3, [100, 10])]);
    assert.deepEqual(
      [...p.values()].map((v) => v.parent),
      [1, 1],
    );
  });
  test('picks the closest of several covering ancestors', () => {
    const p = deriveParents(1, [
      facts(1, null, 0),
      facts(2, [100, 1000]),
      facts(3, [100, 100], 2),
      facts(4, [150, 10], 3),
    ]);
    assert.equal(p.get(4)!.parent, 3);
    assert.equal(p.get(3)!.parent, 2);
    assert.equal(p.get(2)!.parent, 1);
  });
});

test('sliceLabel() names the block that holds the whole entry, or nothing', () => {
  assert.equal(
    sliceLabel(m(0, 2100000, 65536), subuid, hostPasswd)!.text,
    "anna's block 2000000+100000..165535",
  );
  assert.equal(sliceLabel(m(0, 2999999, 2), subuid, hostPasswd), null, 'straddles the end');
  assert.equal(sliceLabel(m(0, 1001, 1), subuid, hostPasswd), null);
});
