/**
 * Networks as a real user (issue 14; docs/network.md): none and private
 * from inside, user mode (slirp4netns as the helper's sidecar) reaching a
 * server on the host's loopback only when asked, a port forward reaching a
 * system container's service from the host's loopback, the sidecar
 * restarted when it dies and gone after stop, a killed monitor and
 * destroy, resolv.conf written beneath the root even through a link, and
 * bad input that changes nothing. Traffic goes only to 127.0.0.1 and to the
 * container's own slirp network.
 */
import assert from 'node:assert/strict';
import {
  appendFileSync,
  existsSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  rmSync,
} from 'node:fs';
import { createServer, connect, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  assertRangeFree,
  Cleanup,
  createUser,
  delegate,
  igloo,
  requireRoot,
  rootTestEnv,
  stagedCli,
  tempDir,
  type TestUser,
} from '../support/host.ts';
import { until } from '../support/wait.ts';

const RANGE = 41_000_000;
const cleanup = new Cleanup();
let user: TestUser;
let containers: string;

before(async () => {
  requireRoot();
  stagedCli(cleanup);
  assertRangeFree(RANGE, 1_000_000);
  user = createUser(cleanup, 'igloo-netuser');
  await delegate(user, RANGE, 1_000_000);
  containers = join(user.home, '.local/share/igloo/containers');
  cleanup.add('destroy the containers', async () => {
    const names = existsSync(containers) ? readdirSync(containers) : [];
    for (const name of names) await igloo(cleanup, user, ['destroy', '-f', name]);
  });
});
after(() => cleanup.run());

/** The user's live (not zombie) sidecar processes: slirp4netns and its supervisor. */
function sidecars(): { pid: number; name: string }[] {
  const out: { pid: number; name: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let status: string;
    try {
      status = readFileSync(`/proc/${entry}/status`, 'utf8');
    } catch {
      continue;
    }
    const name = /^Name:\s*(.*)$/m.exec(status)?.[1] ?? '';
    const uid = Number(/^Uid:\s*(\d+)/m.exec(status)?.[1]);
    const state = /^State:\s*(\S)/m.exec(status)?.[1];
    if (uid === user.uid && state !== 'Z' && (name === 'slirp4netns' || name === 'igloo-sidecar'))
      out.push({ pid: Number(entry), name });
  }
  return out;
}

/** A TCP server on the host's 127.0.0.1 that records what it is sent. */
async function loopbackServer(): Promise<{ server: Server; port: number; received: string[] }> {
  const received: string[] = [];
  const server = createServer((s) => {
    let data = '';
    s.on('data', (d) => (data += d.toString()));
    s.on('end', () => received.push(data));
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanup.add('close the loopback server', () => void server.close());
  return { server, port: (server.address() as { port: number }).port, received };
}

/** A port on 127.0.0.1 that nothing listens on right now. */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** What 127.0.0.1:PORT says before it closes ('' on a refused or reset connection). */
function readFrom(port: number): Promise<string> {
  return new Promise((resolve) => {
    let data = '';
    const s = connect(port, '127.0.0.1');
    s.setTimeout(2000, () => s.destroy());
    s.on('data', (d) => (data += d.toString()));
    s.on('close', () => resolve(data));
    s.on('error', () => resolve(''));
  });
}

async function ok(args: string[]): Promise<string> {
  const r = await igloo(cleanup, user, args);
  assert.equal(r.status, 0, `igloo ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

describe('none and private', () => {
  test('none has no interface up, not even lo; private has lo only; neither runs a sidecar', async () => {
    const probe = ['/bin/sh', '-c', 'ls /sys/class/net; cat /sys/class/net/lo/flags'];
    const none = await ok(['run', '--net', 'none', '--', ...probe]);
    assert.deepEqual(none.trim().split('\n'), ['lo', '0x8'], 'lo exists but is down');
    const priv = await ok(['run', '--net', 'private', '--', ...probe]);
    assert.deepEqual(priv.trim().split('\n'), ['lo', '0x9'], 'lo is up (IFF_UP|IFF_LOOPBACK)');
    assert.deepEqual(sidecars(), []);
  });
});

describe('user mode', () => {
  test('a new container defaults to it where the host allows it, and igloo check says so', async () => {
    assert.match(await ok(['create', 'dflt']), /network user\)/);
    assert.match(readFileSync(join(containers, 'dflt/config'), 'utf8'), /^igloo\.net = user$/m);
    assert.match(await ok(['check']), /ok\s+user-mode network\s+\/usr\/bin\/slirp4netns/);
    await ok(['destroy', 'dflt']);
  });

  test("reaches the host's loopback only with host-loopback; DNS is written into resolv.conf", async () => {
    const { port, received } = await loopbackServer();
    const send = (word: string) =>
      `cat /etc/resolv.conf; echo ${word} | nc -w 2 10.0.2.2 ${port}; echo rc=$?`;
    const refused = await ok(['run', '--net', 'user', '--', '/bin/sh', '-c', send('refused')]);
    assert.match(refused, /^nameserver 10\.0\.2\.3$/m);
    assert.match(refused, /rc=[1-9]/, 'the connection to the host loopback failed');
    const allowed = await ok([
      'run',
      '--net',
      'user,host-loopback',
      '--',
      '/bin/sh',
      '-c',
      send('allowed'),
    ]);
    assert.match(allowed, /rc=0/);
    await until('the server to see the connection', () => received.length > 0);
    assert.deepEqual(received, ['allowed\n'], 'only the allowed run got through');
    assert.deepEqual(sidecars(), [], 'no slirp4netns left after the runs');
  });

  test('a port forward reaches a system container from the host loopback, and survives slirp4netns dying', async () => {
    const port = await freePort();
    await ok(['create', 'web', '--net', 'user', '-p', `127.0.0.1:${port}:8080`]);
    // init serves "pong" on 8080 (the config file is its owner's to edit while stopped).
    // Each nc lives at most 3 s: a connection whose far end was slirp4netns when it was
    // killed never gets its last FIN, and a plain nc would wait on it for good.
    appendFileSync(
      join(containers, 'web/config'),
      'igloo.init = ["/bin/sh", "-c", "while :; do echo pong | timeout 3 nc -l -p 8080; done"]\n',
    );
    await ok(['start', 'web']);
    await until('pong through the forward', async () => (await readFrom(port)).includes('pong'));
    const slirp = sidecars().find((p) => p.name === 'slirp4netns');
    assert.ok(slirp, 'slirp4netns runs as the owner');
    process.kill(slirp.pid, 'SIGKILL');
    await until('a new slirp4netns', () =>
      sidecars().some((p) => p.name === 'slirp4netns' && p.pid !== slirp.pid),
    );
    const log = join(user.home, '.cache/igloo/run/web/sidecar.log');
    await until('pong through the forward again', async () =>
      (await readFrom(port)).includes('pong'),
    ).catch((err: Error) => {
      throw new Error(`${err.message}; sidecar.log:\n${readFileSync(log, 'utf8')}`);
    });
    assert.match(
      readFileSync(join(user.home, '.cache/igloo/run/web/sidecar.log'), 'utf8'),
      /slirp4netns signaled SIGKILL; starting it again/,
    );
  });

  test('the same host port twice: the second start fails, saying why, and leaves nothing', async () => {
    const web = readFileSync(join(containers, 'web/config'), 'utf8');
    const port = /igloo\.net\.port = 127\.0\.0\.1:(\d+):8080/.exec(web)![1]!;
    await ok(['create', 'web2', '--net', 'user', '-p', `${port}:8080`]);
    const before = sidecars().length;
    const r = await igloo(cleanup, user, ['start', 'web2']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /Cannot start container "web2".*add_hostfwd/);
    assert.equal(sidecars().length, before, 'no sidecar of web2 left');
    assert.match(await ok(['ls']), /web2\s+(created|stopped)/);
    await ok(['destroy', 'web2']);
  });

  test('stop, a killed monitor and destroy leave no slirp4netns behind', async () => {
    await ok(['stop', 'web']);
    assert.deepEqual(sidecars(), [], 'gone when stop returns');

    const started = await ok(['start', 'web', '--json']);
    const init = JSON.parse(started).pid as number;
    assert.equal(sidecars().length, 2, 'the supervisor and slirp4netns');
    const monitor = Number(
      /^PPid:\s*(\d+)/m.exec(readFileSync(`/proc/${init}/status`, 'utf8'))![1],
    );
    process.kill(monitor, 'SIGKILL');
    await until('the sidecar to die with the monitor', () => sidecars().length === 0);
    await ok(['destroy', '-f', 'web']);

    await ok(['create', 'gone', '--net', 'user']);
    await ok(['start', 'gone']);
    assert.equal(sidecars().length, 2);
    await ok(['destroy', '-f', 'gone']);
    assert.deepEqual(sidecars(), [], 'gone when destroy returns');
  });

  test('igloo ps names the container for its supervisor and slirp4netns, and they are in its cgroups (its memory figure)', async () => {
    // root delegates cgroups to the user (as `igloo limit` does); removed afterwards
    const limit = await igloo(cleanup, 'root', ['limit', 'set', user.name, '--memory', '1G']);
    assert.equal(limit.status, 0, limit.stderr);
    cleanup.add('remove the net user cgroups', async () => {
      await igloo(cleanup, user, ['destroy', '-f', 'mem']);
      await igloo(cleanup, 'root', ['limit', 'rm', user.name]);
    });
    await ok(['create', 'mem', '--net', 'user', '--memory', '256M']);
    const init = JSON.parse(await ok(['start', 'mem', '--json'])).pid as number;
    const cars = sidecars();
    assert.deepEqual(cars.map((c) => c.name).sort(), ['igloo-sidecar', 'slirp4netns']);
    const rows = (
      JSON.parse(await ok(['ps', '--json'])) as {
        processes: { pid: number; container: { kind: string; name: string | null } }[];
      }
    ).processes;
    for (const c of cars) {
      const row = rows.find((r) => r.pid === c.pid);
      assert.deepEqual(
        row?.container,
        { kind: 'igloo', name: 'mem', owner: user.name, ownerUid: user.uid },
        c.name,
      );
    }
    const memoryCg = (pid: number) =>
      /^\d+:memory:(.*)$/m.exec(readFileSync(`/proc/${pid}/cgroup`, 'utf8'))?.[1];
    assert.match(memoryCg(init) ?? '', new RegExp(`/igloo/user-${user.name}/mem$`));
    for (const c of cars)
      assert.equal(memoryCg(c.pid), memoryCg(init), `${c.name} is charged to mem`);
    const stats = JSON.parse(await ok(['stats', 'mem', '--json'])) as {
      usage?: { memory?: { current: number } };
    }[];
    assert.ok((stats[0]?.usage?.memory?.current ?? 0) > 0, JSON.stringify(stats));
    await ok(['destroy', '-f', 'mem']);
    assert.deepEqual(sidecars(), [], 'gone with the container');
  });

  test('a symlinked /etc/resolv.conf cannot make igloo write outside the rootfs', async () => {
    const outside = tempDir(cleanup, 'igloo-netvictim-', 0o777);
    const victim = join(outside, 'victim');
    appendFileSync(victim, 'original\n');
    await ok(['create', 'link', '--net', 'user']);
    const rootfs = join(containers, 'link/rootfs');
    rmSync(join(rootfs, 'etc/resolv.conf'), { force: true });
    symlinkSync(victim, join(rootfs, 'etc/resolv.conf'));
    const r = await igloo(cleanup, user, ['start', 'link']);
    assert.equal(readFileSync(victim, 'utf8'), 'original\n', 'the host file is untouched');
    if (r.status === 0) {
      // the link resolved inside the rootfs: the container's own file got the DNS
      assert.match(await ok(['exec', 'link', '--', 'cat', '/etc/resolv.conf']), /10\.0\.2\.3/);
      await ok(['destroy', '-f', 'link']);
    } else {
      assert.match(r.stderr, /resolv\.conf/);
      await ok(['destroy', 'link']);
    }
  });
});

describe('bad input changes nothing', () => {
  test('bad modes and forwards are refused with a clear error before anything is made', async () => {
    const cases: [string[], RegExp][] = [
      [['create', 'bad', '-p', '70000:80'], /host port 70000 is not in 1-65535/],
      [['create', 'bad', '--net', 'bridge=../x'], /"\.\.\/x" is not a bridge name/],
      [['create', 'bad', '--net', 'private', '-p', '8080:80'], /need the user or bridge network/],
      [['create', 'bad', '--net', 'wifi'], /unknown mode "wifi"/],
      [['create', 'bad', '-p', '256.1.1.1:8080:80'], /not an IPv4 address/],
      [['run', '--net', 'user', '-p', '80:8080', '--', '/bin/true'], /ports below 1024 are root's/],
    ];
    for (const [args, message] of cases) {
      const r = await igloo(cleanup, user, args);
      assert.notEqual(r.status, 0, args.join(' '));
      assert.match(r.stderr, message, args.join(' '));
      assert.match(r.stderr, /hint: /, args.join(' '));
    }
    const left = existsSync(containers) ? readdirSync(containers) : [];
    assert.deepEqual(left, [], 'no container dir left');
    assert.deepEqual(sidecars(), []);
  });

  test('checkpoint refuses a user-mode container, saying which modes CRIU carries', async () => {
    const dir = tempDir(cleanup, 'igloo-netroot-', 0o700);
    const env = rootTestEnv(dir, 42_000_000);
    const created = await igloo(cleanup, 'root', ['create', 'ck', '--net', 'user'], { env });
    assert.equal(created.status, 0, created.stderr);
    const r = await igloo(cleanup, 'root', ['checkpoint', 'ck'], { env });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /CRIU cannot carry its user-mode network/);
    assert.match(r.stderr, /--net none or --net private/);
    assert.equal((await igloo(cleanup, 'root', ['destroy', 'ck'], { env })).status, 0);
  });
});
