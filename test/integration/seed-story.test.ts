/**
 * The talk's story is the acceptance test (DESIGN.md, "The picture to
 * reproduce"): anna and elsa get blocks of a million ids, and acting as
 * themselves (setpriv, not root) create and start anna-c1, anna-c2 and
 * elsa-c1. Everything is checked from inside and from outside.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  readFileSync,
  readlinkSync,
  statSync,
  writeFileSync,
  chmodSync,
  chownSync,
  rmSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  Cleanup,
  assertRangeFree,
  createUser,
  delegate,
  ensureRootDelegation,
  igloo,
  requireRoot,
  runAs,
  expectConsoleAnswers,
  spawnAs,
  stagedCli,
  type TestUser,
  procStatus,
} from '../support/host.ts';

const cleanup = new Cleanup();
let anna: TestUser;
let elsa: TestUser;

interface Info {
  name: string;
  state: { status: string; pid?: number; lastExit?: string };
  config: {
    rootfs: string;
    idmap: { uid: Array<{ inside: number; outside: number; count: number }> };
  };
  paths: { dir: string };
}

async function info(user: TestUser, name: string): Promise<Info> {
  const r = await igloo(cleanup, user, ['info', name, '--json']);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Info;
}

const status = procStatus;

async function createAndStart(user: TestUser, name: string, args: string[] = []): Promise<Info> {
  const created = await igloo(cleanup, user, ['create', name, ...args]);
  assert.equal(created.status, 0, created.stderr);
  cleanup.add(`destroy ${name}`, async () => {
    const r = await igloo(cleanup, user, ['destroy', '--force', name]);
    if (r.status !== 0 && !/No container named/.test(r.stderr)) throw new Error(r.stderr);
  });
  const started = await igloo(cleanup, user, ['start', name]);
  assert.equal(started.status, 0, started.stderr);
  return info(user, name);
}

const containers: Record<string, Info> = {};

before(async () => {
  requireRoot();
  assertRangeFree(2_000_000, 2_000_000);
  anna = createUser(cleanup, 'igloo-anna');
  elsa = createUser(cleanup, 'igloo-elsa');
  await delegate(anna, 2_000_000, 1_000_000);
  await delegate(elsa, 3_000_000, 1_000_000);
  stagedCli(cleanup);
  await ensureRootDelegation(cleanup);
  containers['anna-c1'] = await createAndStart(anna, 'anna-c1', ['--slice-stride', '100000']);
  containers['anna-c2'] = await createAndStart(anna, 'anna-c2', ['--slice-stride', '100000']);
  containers['elsa-c1'] = await createAndStart(elsa, 'elsa-c1');
});
after(() => cleanup.run());

describe('the seed story, as unprivileged users', () => {
  test('each container gets its own slice: anna-c1 2000000, anna-c2 2100000, elsa-c1 3000000', () => {
    assert.deepEqual(containers['anna-c1']!.config.idmap.uid, [
      { inside: 0, outside: 2_000_000, count: 65536 },
    ]);
    assert.deepEqual(containers['anna-c2']!.config.idmap.uid, [
      { inside: 0, outside: 2_100_000, count: 65536 },
    ]);
    assert.deepEqual(containers['elsa-c1']!.config.idmap.uid, [
      { inside: 0, outside: 3_000_000, count: 65536 },
    ]);
  });

  test("init is pid 1 inside and another pid outside (NSpid), running as the slice's first id", async () => {
    for (const [name, c] of Object.entries(containers)) {
      assert.equal(c.state.status, 'running', name);
      const pid = c.state.pid!;
      const s = status(pid);
      assert.equal(s.NSpid, `${pid}\t1`, `${name}: NSpid`);
      const first = c.config.idmap.uid[0]!.outside;
      assert.equal(s.Uid!.split('\t')[0], String(first), `${name}: host uid of init`);
      assert.equal(s.Gid!.split('\t')[0], String(first), `${name}: host gid of init`);
      // busybox init renames itself "init"; its binary is the rootfs's busybox.
      assert.equal(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0], 'init');
      assert.equal(readlinkSync(`/proc/${pid}/exe`), '/bin/busybox');
      const user = name.startsWith('anna') ? anna : elsa;
      const inside = await igloo(cleanup, user, [
        'exec',
        name,
        '--',
        '/bin/sh',
        '-c',
        'readlink /proc/1/exe; id -u; id -g; hostname; grep NSpid /proc/self/status',
      ]);
      assert.equal(inside.status, 0, inside.stderr);
      const [cmd, uid, gid, host, nspid] = inside.stdout.trim().split('\n');
      assert.equal(cmd, '/bin/busybox');
      assert.equal(uid, '0');
      assert.equal(gid, '0');
      assert.equal(host, name);
      // The container's /proc shows pids of its own namespace only: one level.
      assert.match(nspid!, /^NSpid:\s+\d+$/);
      assert.notEqual(nspid!.split(/\s+/)[1], '1', "an exec'd process is not init");
    }
  });

  test('every container has its own user-namespace inode, also as ps shows it', () => {
    const inodes = Object.values(containers).map((c) =>
      readlinkSync(`/proc/${c.state.pid}/ns/user`),
    );
    inodes.push(readlinkSync('/proc/self/ns/user'));
    assert.equal(new Set(inodes).size, 4, inodes.join(' '));
    for (const c of Object.values(containers)) {
      const ps = spawnSync('ps', ['-o', 'userns=', '-p', String(c.state.pid)], {
        encoding: 'utf8',
      }).stdout.trim();
      assert.equal(`user:[${ps}]`, readlinkSync(`/proc/${c.state.pid}/ns/user`));
    }
  });

  test("rootfs files belong to the slice's ids", () => {
    for (const c of Object.values(containers)) {
      const first = c.config.idmap.uid[0]!.outside;
      for (const path of ['', 'bin/busybox', 'etc/passwd', 'root']) {
        const st = statSync(join(c.config.rootfs, path));
        assert.equal(st.uid, first, `${c.name}/${path} uid`);
        assert.equal(st.gid, first, `${c.name}/${path} gid`);
      }
      assert.equal(statSync(c.paths.dir).mode & 0o777, 0o700, 'the container directory is private');
    }
  });

  test("an escape from anna-c2 (host uid 2100000) reads neither anna's files nor anna-c1's", async () => {
    const secret = join(anna.home, 'secret');
    writeFileSync(secret, 'anna only\n');
    chownSync(secret, anna.uid, anna.gid);
    chmodSync(secret, 0o600);
    const inC1 = await igloo(cleanup, anna, [
      'exec',
      'anna-c1',
      '--',
      '/bin/sh',
      '-c',
      'echo c1 > /root/secret && chmod 640 /root/secret && echo c1 > /secret-0640 && chmod 640 /secret-0640',
    ]);
    assert.equal(inC1.status, 0, inC1.stderr);
    const c1 = containers['anna-c1']!.config.rootfs;
    const escaped = [
      'setpriv',
      '--reuid=2100000',
      '--regid=2100000',
      '--clear-groups',
      '--',
      'cat',
    ];
    for (const path of [secret, join(c1, 'root/secret'), join(c1, 'secret-0640')]) {
      const r = await runAs('root', [...escaped, path]);
      assert.notEqual(r.status, 0, `uid 2100000 must not read ${path}`);
      assert.match(r.stderr, /Permission denied/, path);
    }
    // The same files are readable by their owners: the refusal is about ids, not missing files.
    assert.equal(
      (
        await runAs('root', [
          'setpriv',
          '--reuid=2000000',
          '--regid=2000000',
          '--clear-groups',
          '--',
          'cat',
          '/proc/self/status',
        ])
      ).status,
      0,
    );
    assert.equal((await runAs(anna, ['cat', secret])).stdout, 'anna only\n');
  });

  test("exec returns the command's exit status and runs as --user", async () => {
    let r = await igloo(cleanup, anna, ['exec', 'anna-c1', '--', '/bin/sh', '-c', 'exit 7']);
    assert.equal(r.status, 7);
    r = await igloo(cleanup, anna, [
      'exec',
      '--user',
      'nobody',
      '--cwd',
      '/tmp',
      '--env',
      'GREETING=hej',
      'anna-c1',
      '--',
      '/bin/sh',
      '-c',
      'id -u; pwd; echo $GREETING',
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, '65534\n/tmp\nhej\n');
    r = await igloo(cleanup, anna, ['exec', 'anna-c1', '--', '/no/such/command']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /\/no\/such\/command/);
  });

  test("exec -t gives the command a pty from the container's own devpts", async () => {
    const r = await igloo(cleanup, anna, [
      'exec',
      '-t',
      'anna-c1',
      '--',
      '/bin/sh',
      '-c',
      'tty; stat -c %u:%g "$(tty)"',
    ]);
    assert.equal(r.status, 0, r.stderr);
    const [tty, owner] = r.stdout.split(/\r?\n/);
    assert.match(tty!, /^\/dev\/pts\/\d+$/);
    assert.equal(owner, '0:5', "the pty belongs to container root and the container's tty group");
  });

  test("the console reaches init's shell and detaches with Ctrl-a q", async () => {
    const session = spawnAs(anna, [process.execPath, stagedCli(cleanup), 'console', 'anna-c1']);
    await expectConsoleAnswers(session);
    assert.equal(
      (await info(anna, 'anna-c1')).state.status,
      'running',
      'detaching leaves the container running',
    );
  });

  test('ls shows each user only their own containers', async () => {
    const r = await igloo(cleanup, anna, ['ls', '--json']);
    const list = JSON.parse(r.stdout) as Array<{
      name: string;
      state: string;
      pid: number;
      owner: string;
    }>;
    assert.deepEqual(
      list.map((c) => c.name),
      ['anna-c1', 'anna-c2'],
    );
    assert.ok(list.every((c) => c.state === 'running' && c.owner === anna.name && c.pid > 0));
    const text = await igloo(cleanup, elsa, ['ls']);
    assert.match(
      text.stdout,
      /^NAME\s+STATE\s+PID\s+OWNER\s+IDMAP\nelsa-c1\s+running\s+\d+\s+igloo-elsa\s+u 0 3000000 65536 g 0 3000000 65536\n$/,
    );
  });

  test('stop halts init through its halt signal and records how it ended; start again works', async () => {
    const pid = containers['anna-c2']!.state.pid!;
    const r = await igloo(cleanup, anna, ['stop', 'anna-c2', '--timeout', '10']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(
      existsSync(`/proc/${pid}/status`) &&
        !/State:\s+Z/.test(readFileSync(`/proc/${pid}/status`, 'utf8')),
      false,
      'init is gone',
    );
    const stopped = await info(anna, 'anna-c2');
    assert.equal(stopped.state.status, 'stopped');
    assert.match(stopped.state.lastExit ?? '', /^(exited|signaled) /);
    const again = await igloo(cleanup, anna, ['start', 'anna-c2']);
    assert.equal(again.status, 0, again.stderr);
    const restarted = await info(anna, 'anna-c2');
    assert.equal(restarted.state.status, 'running');
    assert.notEqual(restarted.state.pid, pid);
  });

  test('kill sends a signal to init; destroy refuses a running container without --force', async () => {
    let r = await igloo(cleanup, anna, ['destroy', 'anna-c2']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /it is running/);
    r = await igloo(cleanup, anna, ['kill', 'anna-c2', 'KILL']);
    assert.equal(r.status, 0, r.stderr);
    for (let i = 0; i < 100 && (await info(anna, 'anna-c2')).state.status === 'running'; i++)
      await new Promise((res) => setTimeout(res, 50));
    const killed = await info(anna, 'anna-c2');
    assert.equal(killed.state.status, 'stopped');
    assert.equal(killed.state.lastExit, 'signaled SIGKILL');
    r = await igloo(cleanup, anna, ['destroy', 'anna-c2']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(
      existsSync(killed.paths.dir),
      false,
      'destroy removes every file, also those owned by the slice',
    );
  });
});

describe('one-shot runs and bad input', () => {
  test("igloo run returns the command's status and leaves nothing behind", async () => {
    let r = await igloo(cleanup, elsa, [
      'run',
      '--',
      '/bin/sh',
      '-c',
      'echo pid $$ uid $(id -u); exit 3',
    ]);
    assert.equal(r.status, 3, r.stderr);
    assert.equal(r.stdout, 'pid 1 uid 0\n');
    r = await igloo(cleanup, elsa, ['run', '--', '/bin/true']);
    assert.equal(r.status, 0, r.stderr);
    const ls = JSON.parse((await igloo(cleanup, elsa, ['ls', '--json'])).stdout) as Array<{
      name: string;
    }>;
    assert.deepEqual(
      ls.map((c) => c.name),
      ['elsa-c1'],
    );
  });

  test('a container has its own loopback, up, and nothing else', async () => {
    // busybox nc serves one line on 127.0.0.1 inside; the host's lo is not involved
    const r = await igloo(cleanup, elsa, [
      'run',
      '--',
      '/bin/sh',
      '-c',
      'cat /sys/class/net/lo/flags; ls /sys/class/net; ' +
        '(echo over-lo | nc -l -p 7777 127.0.0.1 &) ; sleep 0.3; nc 127.0.0.1 7777 </dev/null',
    ]);
    assert.equal(r.status, 0, r.stderr);
    const [flags, ifaces, reply] = r.stdout.trim().split('\n');
    assert.equal(Number(flags) & 1, 1, `lo is up (IFF_UP): ${flags}`);
    assert.equal(ifaces, 'lo');
    assert.equal(reply, 'over-lo');
  });

  test('root runs containers too, from its own delegation', async () => {
    // The run prepares root's next one-shot run (and reserves a slice for it) in igloo's data dir.
    if (!existsSync('/var/lib/igloo/prepared'))
      cleanup.add('remove root prepared run', () =>
        rmSync('/var/lib/igloo/prepared', { recursive: true, force: true }),
      );
    const r = await igloo(cleanup, 'root', [
      'run',
      '--rm',
      '--',
      '/bin/sh',
      '-c',
      'echo $$ $(id -u) $(cat /proc/self/uid_map)',
    ]);
    assert.equal(r.status, 0, r.stderr);
    const [pid, uid, inside, outside, count] = r.stdout.trim().split(/\s+/);
    assert.equal(pid, '1');
    assert.equal(uid, '0');
    assert.equal(inside, '0');
    assert.notEqual(outside, '0', 'host root is never mapped');
    assert.equal(count, '65536');
  });

  test('bad names, foreign ids and missing images are refused and leave nothing behind', async () => {
    const before = (await igloo(cleanup, anna, ['ls', '--json'])).stdout;
    for (const name of ['../x', '.', 'a/b', '-x']) {
      const r = await igloo(cleanup, anna, ['create', name]);
      assert.equal(r.status, 2, `${name}: ${r.stderr}`);
    }
    let r = await igloo(cleanup, anna, ['create', 'stolen', '--idmap', 'b 0 3000000 65536']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /3000000/);
    r = await igloo(cleanup, anna, ['create', 'nothing', '--image', '/no/such/rootfs']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /\/no\/such\/rootfs/);
    r = await igloo(cleanup, anna, ['create', 'anna-c1']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /exists already/);
    r = await igloo(cleanup, anna, ['start', 'nope']);
    assert.match(r.stderr, /No container named "nope"/);
    assert.equal(
      (await igloo(cleanup, anna, ['ls', '--json'])).stdout,
      before,
      'nothing was created',
    );
  });
});
