/**
 * igloo ps and igloo tree against the kernel: anna and elsa each run real
 * containers; two sleepers (in anna's ps-a1 and elsa's ps-e1) are brought to
 * the same pid inside; ps-a2 holds a nested user namespace (busybox
 * `unshare -U -r`). Every column is checked against /proc, against
 * `ps -eo pid,user,userns,pidns,cmd`, and the derived parent of each of our
 * user namespaces against the kernel's answer (lsns PNS, which uses the
 * NS_GET_PARENT ioctl that Node cannot call).
 *
 * The view from inside: the busybox image has no node, and binding the
 * host's node into a container is issue 7's job. So the test runs the built
 * CLI (from the host's file system) in a process that joined only the
 * container's user and pid namespaces (nsenter -U -p, which also makes it
 * the container's root) and, in a private mount namespace owned by that
 * user namespace, mounted the container's own /proc. That is exactly the
 * /proc and the ids a process in the container sees; only /etc/passwd is the
 * host's copy, so names are not checked there.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import {
  Cleanup,
  assertRangeFree,
  createUser,
  delegate,
  igloo,
  requireRoot,
  runAs,
  stagedCli,
  type TestUser,
  procStatus,
} from '../support/host.ts';

const cleanup = new Cleanup();
let anna: TestUser;
let elsa: TestUser;

interface Row {
  pid: number;
  ppid: number;
  nspid: number[];
  pidInside: number;
  pidDepth: number;
  uid: {
    host: number;
    hostName: string | null;
    inside: number | null;
    insideName: string | null;
    chain: Array<{ userns: number; id: number | null }>;
  };
  gid: { host: number; inside: number | null };
  userns: number | null;
  pidns: number | null;
  depth: number | null;
  container: { kind: string; name: string | null; owner: string | null; ownerUid: number | null };
  comm: string;
  command: string;
  restricted: string[];
}
interface Ps {
  version: number;
  view: { userns: number; pidns: number; initial: boolean };
  processes: Row[];
}
interface MapLine {
  inside: number;
  outside: number;
  count: number;
  slice: { owner: string; text: string } | null;
}
interface Node {
  userns: number;
  parent: number | null;
  parentBasis: string | null;
  depth: number;
  view: boolean;
  creator: { uid: number | null; name: string | null; basis: string };
  uidMap: MapLine[] | null;
  gidMap: MapLine[] | null;
  containers: Array<{ kind: string; name: string | null; owner: string | null }>;
  pidNamespaces: Array<{ pidns: number | null; pidDepth: number; processes: number[] }>;
  processes: number[];
  children: Node[];
}

const ANNA_BASE = 10_000_000;
const ELSA_BASE = 11_000_000;

interface Started {
  user: TestUser;
  initPid: number;
  base: number;
  /** ids in its slice (65536; 8 x 65536 for a nesting container) */
  size: number;
}
const started: Record<string, Started> = {};
const sleepers: Record<string, { pid: number; inside: number }> = {};
let nested: { pid: number; inside: number };

const status = procStatus;
const inode = (pid: number, kind: string) =>
  Number(/\[(\d+)\]/.exec(readlinkSync(`/proc/${pid}/ns/${kind}`))![1]);

/** The host pid whose innermost NSpid is `inside` and whose pid namespace is init's. */
function hostPidOf(initPid: number, inside: number): number {
  const pidns = inode(initPid, 'pid');
  for (const e of spawnSync('ls', ['/proc'], { encoding: 'utf8' }).stdout.split('\n')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const ns = status(Number(e)).NSpid?.split(/\s+/).map(Number) ?? [];
      if (ns.at(-1) === inside && inode(Number(e), 'pid') === pidns) return Number(e);
    } catch {
      // gone
    }
  }
  throw new Error(`no process with pid ${inside} in the pid namespace of ${initPid}`);
}

async function execIn(name: string, script: string): Promise<string> {
  const s = started[name]!;
  const r = await igloo(cleanup, s.user, ['exec', name, '--', '/bin/sh', '-c', script]);
  assert.equal(r.status, 0, `${name}: ${r.stderr}`);
  return r.stdout.trim();
}

async function createAndStart(
  user: TestUser,
  name: string,
  base: number,
  extra: readonly string[] = [],
): Promise<void> {
  const created = await igloo(cleanup, user, [
    'create',
    name,
    '--slice-stride',
    '100000',
    ...extra,
  ]);
  assert.equal(created.status, 0, created.stderr);
  cleanup.add(`destroy ${name}`, async () => {
    const r = await igloo(cleanup, user, ['destroy', '--force', name]);
    if (r.status !== 0 && !/No container named/.test(r.stderr)) throw new Error(r.stderr);
  });
  const r = await igloo(cleanup, user, ['start', name]);
  assert.equal(r.status, 0, r.stderr);
  const info = JSON.parse((await igloo(cleanup, user, ['info', name, '--json'])).stdout) as {
    state: { pid: number };
    config: { idmap: { uid: Array<{ count: number }> } };
  };
  started[name] = { user, initPid: info.state.pid, base, size: info.config.idmap.uid[0]!.count };
}

/** `ps` as root: pid -> [user, userns, pidns, cmd]. */
function hostPs(): Map<number, { user: string; userns: string; pidns: string; cmd: string }> {
  const r = spawnSync('ps', ['-eww', '-o', 'pid=,user:30=,userns=,pidns=,cmd='], {
    encoding: 'utf8',
  });
  const out = new Map<number, { user: string; userns: string; pidns: string; cmd: string }>();
  for (const line of r.stdout.split('\n')) {
    const m = /^\s*(\d+)\s+(\S+)\s+(\S+)\s+(\S+)\s(.*)$/.exec(line);
    if (m) out.set(Number(m[1]), { user: m[2]!, userns: m[3]!, pidns: m[4]!, cmd: m[5]!.trim() });
  }
  return out;
}

/** The kernel's parent of each user namespace (lsns uses NS_GET_PARENT). */
function kernelParents(): Map<number, number> {
  const r = spawnSync('lsns', ['-t', 'user', '-n', '-o', 'NS,PNS'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const out = new Map<number, number>();
  for (const line of r.stdout.trim().split('\n')) {
    const [ns, pns] = line.trim().split(/\s+/).map(Number);
    out.set(ns!, pns!);
  }
  return out;
}

async function psJson(user: TestUser | 'root', args: string[] = []): Promise<Ps> {
  const r = await igloo(cleanup, user, ['ps', '--json', ...args]);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Ps;
}

function findNode(root: Node, ns: number): Node | undefined {
  if (root.userns === ns) return root;
  for (const c of root.children) {
    const f = findNode(c, ns);
    if (f) return f;
  }
  return undefined;
}

before(async () => {
  requireRoot();
  assertRangeFree(ANNA_BASE, 2_000_000);
  anna = createUser(cleanup, 'igloo-ps-anna');
  elsa = createUser(cleanup, 'igloo-ps-elsa');
  await delegate(anna, ANNA_BASE, 1_000_000);
  await delegate(elsa, ELSA_BASE, 1_000_000);
  stagedCli(cleanup);
  await createAndStart(anna, 'ps-a1', ANNA_BASE);
  // ps-a2 makes a user namespace of its own inside: only a nesting
  // container may (the seccomp filter refuses it to the others)
  await createAndStart(anna, 'ps-a2', ANNA_BASE + 100_000, ['--image', 'busybox', '--nesting']);
  await createAndStart(elsa, 'ps-e1', ELSA_BASE);

  // Pids in a fresh pid namespace are handed out in order: advance the
  // container that is behind until both would give the same next pid.
  const next = async (name: string) => Number(await execIn(name, 'echo $$'));
  let a = await next('ps-a1');
  let e = await next('ps-e1');
  for (let i = 0; a !== e && i < 50; i++) {
    if (a < e) a = await next('ps-a1');
    else e = await next('ps-e1');
  }
  assert.equal(a, e, 'could not line up the pid counters of ps-a1 and ps-e1');
  const sleeper = 'sleep 1000 </dev/null >/dev/null 2>&1 & echo $!';
  for (const name of ['ps-a1', 'ps-e1']) {
    const inside = Number(await execIn(name, sleeper));
    sleepers[name] = { inside, pid: hostPidOf(started[name]!.initPid, inside) };
  }
  const nestedInside = Number(
    await execIn('ps-a2', 'unshare -U -r sleep 1001 </dev/null >/dev/null 2>&1 & echo $!'),
  );
  nested = { inside: nestedInside, pid: hostPidOf(started['ps-a2']!.initPid, nestedInside) };
  // unshare writes the nested maps right after it starts: wait until sleep runs.
  for (let i = 0; i < 100 && status(nested.pid).Name !== 'sleep'; i++) {
    await new Promise((r) => setTimeout(r, 20));
  }
});
after(() => cleanup.run());

describe('igloo ps', () => {
  test("two containers' sleepers share a pid inside, not outside", () => {
    const a = sleepers['ps-a1']!;
    const e = sleepers['ps-e1']!;
    assert.equal(a.inside, e.inside);
    assert.notEqual(a.pid, e.pid);
    assert.equal(status(a.pid).NSpid, `${a.pid}\t${a.inside}`);
  });

  test('as anna with --all (the whole host): every column matches /proc and ps, her containers named, elsa marked', async () => {
    const ps = await psJson(anna, ['--all']);
    const host = hostPs();
    assert.equal(ps.version, 1);
    assert.equal(ps.view.userns, inode(process.pid, 'user'));
    assert.equal(ps.view.initial, true);
    let compared = 0;
    for (const row of ps.processes) {
      const p = host.get(row.pid);
      let s: Record<string, string>;
      try {
        s = status(row.pid);
      } catch {
        continue; // exited since
      }
      if (!p || s.Name !== row.comm) continue; // exited or reused since
      compared++;
      assert.deepEqual(row.nspid, s.NSpid!.split(/\s+/).map(Number), `nspid of ${row.pid}`);
      assert.equal(row.pidInside, row.nspid.at(-1));
      assert.equal(row.uid.host, Number(s.Uid!.split(/\s+/)[1]), `uid of ${row.pid}`);
      assert.equal(row.gid.host, Number(s.Gid!.split(/\s+/)[1]), `gid of ${row.pid}`);
      assert.equal(row.uid.hostName ?? String(row.uid.host), p.user, `user of ${row.pid}`);
      if (row.restricted.includes('ns/user')) assert.equal(row.userns, null);
      else assert.equal(String(row.userns), p.userns, `userns of ${row.pid}`);
      if (!row.restricted.includes('ns/pid')) assert.equal(String(row.pidns), p.pidns);
      if (!row.restricted.includes('cmdline') && s.State![0] !== 'Z')
        assert.equal(row.command, p.cmd, `cmd of ${row.pid}`);
    }
    assert.ok(compared > 10, `compared only ${compared} rows`);

    const a1 = ps.processes.find((r) => r.pid === sleepers['ps-a1']!.pid)!;
    assert.deepEqual(a1.container, {
      kind: 'igloo',
      name: 'ps-a1',
      owner: anna.name,
      ownerUid: anna.uid,
    });
    assert.equal(a1.uid.host, ANNA_BASE);
    assert.equal(a1.uid.inside, 0);
    assert.equal(a1.uid.insideName, 'root', "from the container's own /etc/passwd");
    assert.equal(a1.gid.inside, 0);
    assert.equal(a1.depth, 1);
    assert.equal(a1.pidDepth, 1);
    assert.equal(a1.userns, inode(started['ps-a1']!.initPid, 'user'));
    assert.equal(a1.pidns, inode(started['ps-a1']!.initPid, 'pid'));
    assert.deepEqual(a1.restricted, []);
    assert.equal(a1.command, 'sleep 1000');

    // elsa's processes: anna may not inspect them; status still gives pids and ids.
    const e1 = ps.processes.find((r) => r.pid === sleepers['ps-e1']!.pid)!;
    assert.equal(e1.container.kind, 'foreign');
    assert.equal(e1.container.name, null);
    assert.ok(e1.restricted.includes('ns/user'), JSON.stringify(e1.restricted));
    assert.equal(e1.userns, null);
    assert.equal(e1.uid.host, ELSA_BASE);
    assert.equal(e1.pidInside, a1.pidInside, 'the same pid inside');

    // The nested user namespace in ps-a2: still ps-a2's (same pid namespace), one level deeper.
    const n = ps.processes.find((r) => r.pid === nested.pid)!;
    assert.equal(n.container.name, 'ps-a2');
    assert.equal(n.depth, 2);
    assert.equal(n.uid.host, ANNA_BASE + 100_000);
    assert.equal(n.uid.inside, 0);
    assert.deepEqual(n.uid.chain, [
      { userns: inode(started['ps-a2']!.initPid, 'user'), id: 0 },
      { userns: inode(nested.pid, 'user'), id: 0 },
    ]);

    // Plain host processes: anna's own (the monitor of ps-a1's init) in full; root's marked.
    const monitorPid = Number(status(started['ps-a1']!.initPid).PPid);
    const monitor = ps.processes.find((r) => r.pid === monitorPid)!;
    assert.equal(monitor.container.kind, 'host');
    assert.equal(monitor.depth, 0);
    assert.equal(monitor.uid.host, anna.uid);
    assert.equal(monitor.uid.hostName, anna.name);
    assert.equal(monitor.uid.inside, anna.uid);
    assert.equal(monitor.uid.insideName, anna.name);
    assert.deepEqual(monitor.restricted, []);
    const me = ps.processes.find((r) => r.pid === process.pid)!;
    assert.equal(me.container.kind, 'host');
    assert.equal(me.uid.hostName, 'root');
    assert.ok(me.restricted.includes('ns/user'));
    assert.equal(me.depth, null);
  });

  test("as root with --all: every user's containers are named with their owner", async () => {
    const ps = await psJson('root', ['--all']);
    for (const [name, s] of Object.entries(sleepers)) {
      const row = ps.processes.find((r) => r.pid === s.pid)!;
      const owner = name === 'ps-e1' ? elsa : anna;
      assert.deepEqual(row.container, {
        kind: 'igloo',
        name,
        owner: owner.name,
        ownerUid: owner.uid,
      });
      assert.deepEqual(row.restricted, []);
      assert.equal(row.uid.insideName, 'root');
      assert.equal(row.userns, inode(s.pid, 'user'));
    }
    // NAME filters; OWNER/NAME too.
    const only = await psJson('root', ['--all', `${elsa.name}/ps-e1`]);
    assert.ok(only.processes.length >= 2, 'init and the sleeper');
    assert.ok(only.processes.every((r) => r.container.name === 'ps-e1'));
    assert.ok(only.processes.some((r) => r.pid === started['ps-e1']!.initPid && r.pidInside === 1));
  });

  test("a normal user's ps is her own processes and containers, and an unknown NAME is an error", async () => {
    const own = await psJson(anna);
    assert.ok(own.processes.some((r) => r.pid === sleepers['ps-a1']!.pid));
    assert.ok(!own.processes.some((r) => r.pid === sleepers['ps-e1']!.pid), "not elsa's");
    for (const row of own.processes)
      assert.ok(row.uid.host === anna.uid || row.container.ownerUid === anna.uid, `pid ${row.pid}`);
    const r = await igloo(cleanup, anna, ['ps', 'ps-e1']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /No running container named "ps-e1"/);
  });

  test('the human table is aligned and names the container', async () => {
    const r = await igloo(cleanup, anna, ['ps', 'ps-a1']);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(
      lines[0]!,
      /^PID\s+NSPID\s+USER\s+INSIDE\s+USERNS\s+PIDNS\s+CONTAINER\s+OWNER\s+DEPTH\s+COMMAND$/,
    );
    const col = lines[0]!.indexOf('CONTAINER');
    const sleeper = lines.find((l) => l.startsWith(`${sleepers['ps-a1']!.pid} `))!;
    assert.ok(sleeper, r.stdout);
    assert.equal(sleeper.slice(col).split(/\s+/)[0], 'ps-a1');
    assert.match(
      sleeper,
      new RegExp(`${sleepers['ps-a1']!.pid}/${sleepers['ps-a1']!.inside}\\s+${ANNA_BASE}\\s+root`),
    );
  });
});

describe('igloo tree', () => {
  test('containers sit below the host namespace, the nested one below ps-a2, as the kernel says', async () => {
    const r = await igloo(cleanup, 'root', ['tree', '--all', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const { tree, view } = JSON.parse(r.stdout) as { tree: Node; view: Ps['view'] };
    assert.equal(tree.userns, view.userns);
    assert.equal(tree.view, true);
    assert.deepEqual(tree.creator, { uid: 0, name: 'root', basis: 'initial' });
    const parents = kernelParents();
    const ours = [...Object.values(started).map((s) => s.initPid), nested.pid].map((pid) =>
      inode(pid, 'user'),
    );
    for (const ns of ours) {
      const node = findNode(tree, ns);
      assert.ok(node, `user:[${ns}] is in the tree`);
      assert.equal(node.parent, parents.get(ns), `parent of user:[${ns}]`);
    }
    for (const [name, s] of Object.entries(started)) {
      const node = findNode(tree, inode(s.initPid, 'user'))!;
      assert.equal(node.depth, 1);
      assert.deepEqual(node.creator, {
        uid: s.user.uid,
        name: s.user.name,
        basis: 'container-owner',
      });
      assert.deepEqual(node.containers, [{ kind: 'igloo', name, owner: s.user.name }]);
      const from = s.base - (s.user === elsa ? ELSA_BASE : ANNA_BASE);
      const block = s.user === elsa ? ELSA_BASE : ANNA_BASE;
      assert.deepEqual(
        node.uidMap!.map((l) => [l.inside, l.outside, l.count, l.slice?.text]),
        [[0, s.base, s.size, `${s.user.name}'s block ${block}+${from}..${from + s.size - 1}`]],
      );
      assert.equal(node.gidMap![0]!.outside, s.base);
      assert.ok(node.processes.includes(s.initPid));
      assert.deepEqual(
        node.pidNamespaces.map((g) => g.pidns),
        [inode(s.initPid, 'pid')],
      );
    }
    const a2 = findNode(tree, inode(started['ps-a2']!.initPid, 'user'))!;
    const n = a2.children.find((c) => c.userns === inode(nested.pid, 'user'))!;
    assert.ok(n, 'the nested namespace is a child of ps-a2');
    assert.equal(n.depth, 2);
    assert.equal(n.parentBasis, 'map');
    assert.deepEqual(n.processes, [nested.pid]);
    assert.deepEqual(
      n.uidMap!.map((l) => [l.inside, l.outside, l.count]),
      [[0, ANNA_BASE + 100_000, 1]],
    );
    assert.equal(n.creator.uid, ANNA_BASE + 100_000, 'created by root of ps-a2');
  });

  test('the human tree draws the nesting and the slices', async () => {
    const r = await igloo(cleanup, anna, ['tree']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^user:\[\d+\] {2}\(this view\) {2}creator root \(0\)$/m);
    assert.match(
      r.stdout,
      new RegExp(
        `[├└]─ user:\\[${inode(started['ps-a2']!.initPid, 'user')}\\]  ${anna.name}/ps-a2  creator ${anna.name} \\(${anna.uid}\\)`,
      ),
    );
    assert.match(
      r.stdout,
      new RegExp(
        `uid map: 0 ${ANNA_BASE + 100_000} ${started['ps-a2']!.size} \\(${anna.name}'s block ${ANNA_BASE}\\+100000\\.\\.${100_000 + started['ps-a2']!.size - 1}\\)`,
      ),
    );
    assert.match(r.stdout, new RegExp(`[│ ]  [└├]─ user:\\[${inode(nested.pid, 'user')}\\]`));
  });
});

describe('the view from inside a container', () => {
  test("ps and tree show the container's own pids, ids and namespaces", async () => {
    const s = started['ps-a2']!;
    const cli = stagedCli(cleanup);
    const run = (cmd: string) =>
      runAs('root', [
        'nsenter',
        '-t',
        String(s.initPid),
        '-U',
        '-p',
        '--',
        'unshare',
        '-m',
        '--propagation',
        'private',
        '/bin/sh',
        '-c',
        `mount -t proc proc /proc && exec ${process.execPath} ${cli} ${cmd}`,
      ]);
    const r = await run('ps --json');
    assert.equal(r.status, 0, r.stderr);
    const ps = JSON.parse(r.stdout) as Ps;
    assert.equal(ps.view.userns, inode(s.initPid, 'user'));
    assert.equal(ps.view.pidns, inode(s.initPid, 'pid'));
    assert.equal(ps.view.initial, false);
    const init = ps.processes.find((p) => p.pid === 1)!;
    assert.deepEqual(init.nspid, [1]);
    assert.equal(init.uid.host, 0, "the container's root, in its own ids");
    assert.equal(init.depth, 0);
    assert.equal(init.container.kind, 'host', 'the container is its own host');
    const n = ps.processes.find((p) => p.pid === nested.inside)!;
    assert.ok(n, `the nested sleeper is pid ${nested.inside} inside`);
    assert.equal(n.depth, 1);
    assert.equal(n.userns, inode(nested.pid, 'user'));
    assert.equal(n.uid.host, 0);
    assert.equal(n.uid.inside, 0);
    assert.equal(n.container.kind, 'foreign');
    // Nothing of the host or of other containers is visible.
    assert.ok(ps.processes.every((p) => p.nspid.length === 1));
    assert.ok(!ps.processes.some((p) => p.userns === inode(sleepers['ps-a1']!.pid, 'user')));

    const t = await run('tree --json');
    assert.equal(t.status, 0, t.stderr);
    const { tree } = JSON.parse(t.stdout) as { tree: Node };
    assert.equal(tree.userns, inode(s.initPid, 'user'));
    assert.deepEqual(
      tree.uidMap!.map((l) => [l.inside, l.outside, l.count]),
      [[0, ANNA_BASE + 100_000, s.size]],
      "the view's own map, in its parent's ids",
    );
    assert.deepEqual(
      tree.children.map((c) => [c.userns, c.uidMap!.map((l) => [l.inside, l.outside, l.count])]),
      [[inode(nested.pid, 'user'), [[0, 0, 1]]]],
      'the nested map in the container ids',
    );
  });
});
