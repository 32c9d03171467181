/**
 * Bridge mode (issue 14) with real bridges, veths, nft rules and containers,
 * as root and as a real user through LXC's lxc-user-nic. Every address is in
 * 10.251.61.0/24, on a bridge this test makes and removes; nothing is sent
 * anywhere else.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  Cleanup,
  assertRangeFree,
  createUser,
  delegate,
  igloo,
  procStatus,
  requireRoot,
  rootTestEnv,
  stagedCli,
  tempDir,
  type RunResult,
  type TestUser,
} from '../support/host.ts';
import { until } from '../support/wait.ts';

const BR = 'igloo-tbr0';
const SUBNET = '10.251.61.0/24';
const ROOT_BASE = 73_000_000;
const USER_BASE = 75_000_000;
const USERNET = '/etc/lxc/lxc-usernet';
const TABLE = 'igloo_igloo_tbr0';

const cleanup = new Cleanup();
let env: Record<string, string>;
let user: TestUser;

const asRoot = (args: string[]) => igloo(cleanup, 'root', args, { env });
const asUser = (args: string[]) => igloo(cleanup, user, args);

function ok(r: RunResult, what: string): RunResult {
  assert.equal(r.status, 0, `${what}: ${r.stderr}${r.stdout}`);
  return r;
}

const links = (): string[] =>
  (
    JSON.parse(spawnSync('ip', ['-j', 'link', 'show'], { encoding: 'utf8' }).stdout) as {
      ifname: string;
    }[]
  ).map((l) => l.ifname);
const nftTable = (): string =>
  spawnSync('nft', ['list', 'table', 'bridge', TABLE], { encoding: 'utf8' }).stdout;
const userVeths = () => links().filter((n) => n.startsWith(`veth${user.uid}_`));
const stateFile = () => join(env.IGLOO_DATA_DIR!, 'net', 'bridges.json');
const readState = () =>
  JSON.parse(readFileSync(stateFile(), 'utf8')) as {
    leases: { container: string; hostVeth: string }[];
  };
const userLeases = () => {
  const path = join(user.home, '.local/share/igloo/net/leases.json');
  return existsSync(path)
    ? (JSON.parse(readFileSync(path, 'utf8')) as { leases: { container: string }[] }).leases.map(
        (l) => l.container,
      )
    : [];
};

/** Starts a listener on PORT in the container that writes what it receives to /tmp/got-PORT. */
async function listen(run: typeof asRoot, name: string, port: number): Promise<void> {
  ok(
    await run([
      'exec',
      name,
      '--',
      '/bin/sh',
      '-c',
      `rm -f /tmp/got-${port}; nc -l -p ${port} > /tmp/got-${port} 2>&1 &`,
    ]),
    `listen in ${name}`,
  );
  // wait for the socket to listen (/proc/net/tcp or tcp6, busybox's nc listens on ::,
  // shows the port in hex, state 0A)
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  await until(`${name} listening on ${port}`, async () => {
    const r = await run(['exec', name, '--', 'cat', '/proc/net/tcp', '/proc/net/tcp6']);
    return new RegExp(`:${hex} 0+:0000 0A`).test(r.stdout);
  });
}

const received = async (run: typeof asRoot, name: string, port: number) =>
  (await run(['exec', name, '--', 'cat', `/tmp/got-${port}`])).stdout;

before(async () => {
  requireRoot();
  stagedCli(cleanup);
  assertRangeFree(ROOT_BASE, 1_000_000);
  assertRangeFree(USER_BASE, 262_144);
  if (!existsSync('/usr/libexec/lxc/lxc-user-nic'))
    throw new Error('lxc-user-nic is missing: run scripts/install.sh (package lxc)');
  const dir = tempDir(cleanup, 'igloo-netbr-', 0o700);
  env = rootTestEnv(dir, ROOT_BASE);
  // Whatever happens, the bridge, its tables, its grant lines and view go.
  const usernetBefore = existsSync(USERNET) ? readFileSync(USERNET, 'utf8') : undefined;
  cleanup.add('remove the test bridge', () => {
    spawnSync('ip', ['link', 'del', BR]);
    for (const f of ['bridge', 'ip']) spawnSync('nft', ['delete', 'table', f, TABLE]);
    rmSync(`/etc/lxc/igloo-net/${BR}.json`, { force: true });
    if (usernetBefore === undefined) rmSync(USERNET, { force: true });
    else writeFileSync(USERNET, usernetBefore);
    // lxc-user-nic's own record of the test user's (dead) veths
    const nics = '/run/lxc/nics';
    if (user && existsSync(nics)) {
      const kept = readFileSync(nics, 'utf8')
        .split('\n')
        .filter((l) => !l.startsWith(`${user.name} `));
      writeFileSync(nics, kept.join('\n'));
    }
  });
  user = createUser(cleanup, 'igloo-netbr');
  await delegate(user, USER_BASE, 262_144);
  cleanup.add("destroy the user's containers", async () => {
    for (const n of ['u1', 'u2', 'u3']) await asUser(['destroy', n, '--force']);
  });
  cleanup.add("destroy root's containers", async () => {
    for (const n of ['r1', 'r2', 'r3', 'rbad']) await asRoot(['destroy', n, '--force']);
  });
  ok(await asRoot(['net', 'create', BR, '--subnet', SUBNET, '--no-nat']), 'net create');
});
after(() => cleanup.run());

describe('igloo net', () => {
  test('bad input gets a clear error and changes nothing', async () => {
    const state = readFileSync(stateFile(), 'utf8');
    const before = {
      links: links().sort(),
      table: nftTable(),
      usernet: existsSync(USERNET) && readFileSync(USERNET, 'utf8'),
    };
    const cases: [string[], RegExp][] = [
      [
        ['net', 'create', 'igloo-tbr1', '--subnet', '10.251.62.0/33'],
        /Invalid subnet "10\.251\.62\.0\/33"/,
      ],
      [['net', 'create', 'igloo-tbr1', '--subnet', '10.251.62.7/24'], /host bits are set/],
      [['net', 'create', 'igloo-tbr1', '--subnet', 'nonsense'], /not an IPv4 CIDR/],
      [
        ['net', 'create', 'igloo-tbr1', '--subnet', '10.251.0.0/16'],
        /overlaps bridge "igloo-tbr0"/,
      ],
      [['net', 'create', '../x', '--subnet', '10.251.62.0/24'], /Invalid bridge name "\.\.\/x"/],
      [['net', 'create', BR, '--subnet', '10.251.62.0/24'], /exists already/],
      [['net', 'create', 'igloo-tbr1'], /--subnet is required/],
      [
        ['net', 'grant', user.name, '--bridge', 'igloo-nosuch', '--count', '1'],
        /Bridge "igloo-nosuch" does not exist/,
      ],
      [['net', 'grant', user.name, '--bridge', BR, '--count', '0'], /Invalid count 0/],
      [['net', 'rm', 'igloo-nosuch'], /Bridge "igloo-nosuch" does not exist/],
      [['net', 'revoke', user.name], /has no grant/],
    ];
    for (const [args, message] of cases) {
      const r = await asRoot(args);
      assert.notEqual(r.status, 0, args.join(' '));
      assert.match(r.stderr, message, args.join(' '));
      assert.match(r.stderr, /hint:|usage/i, `${args.join(' ')} says what to do`);
    }
    // a container on a bridge that does not exist is refused at create (root and user), nothing made
    for (const [who, run] of [
      ['root', asRoot],
      ['user', asUser],
    ] as const) {
      const c = await run(['create', 'rbad', '--net', 'bridge=igloo-nosuch']);
      assert.notEqual(c.status, 0, `${who}: create on a missing bridge`);
      assert.match(c.stderr, /Bridge "igloo-nosuch" does not exist/, who);
      assert.match(c.stderr, /hint: /, who);
      assert.notEqual((await run(['info', 'rbad'])).status, 0, `${who}: no container made`);
    }
    // and at start, when root removed the bridge after the create; nothing left either
    ok(await asRoot(['net', 'create', 'igloo-tbr2', '--subnet', '10.251.63.0/24']), 'net create');
    ok(await asRoot(['create', 'rbad', '--net', 'bridge=igloo-tbr2']), 'create rbad');
    ok(await asRoot(['net', 'rm', 'igloo-tbr2']), 'net rm');
    const r = await asRoot(['start', 'rbad']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /Bridge "igloo-tbr2" does not exist/);
    assert.match(
      (await asRoot(['info', 'rbad', '--json'])).stdout,
      /"status": "(created|stopped)"/,
    );
    ok(await asRoot(['destroy', 'rbad']), 'destroy rbad');
    assert.equal(readFileSync(stateFile(), 'utf8'), state);
    assert.deepEqual(links().sort(), before.links);
    assert.equal(nftTable(), before.table);
    assert.equal(existsSync(USERNET) && readFileSync(USERNET, 'utf8'), before.usernet);
    // a user may not manage bridges
    const u = await asUser(['net', 'create', 'igloo-tbr1', '--subnet', '10.251.62.0/24']);
    assert.notEqual(u.status, 0);
    assert.match(u.stderr, /only root manages bridges/);
    assert.ok(!links().includes('igloo-tbr1'));
  });

  test("root's containers get an address and a route, reach each other by name, and cannot spoof", async () => {
    for (const n of ['r1', 'r2']) {
      ok(await asRoot(['create', n, '--net', `bridge=${BR}`]), `create ${n}`);
      ok(await asRoot(['start', n]), `start ${n}`);
    }
    const addr = ok(
      await asRoot(['exec', 'r1', '--', '/bin/sh', '-c', 'ip -4 addr show eth0']),
      'ip addr',
    ).stdout;
    assert.match(addr, /inet 10\.251\.61\.2\/24/);
    const route = ok(
      await asRoot(['exec', 'r1', '--', '/bin/sh', '-c', 'ip route']),
      'ip route',
    ).stdout;
    assert.match(route, /default via 10\.251\.61\.1 dev eth0/);
    assert.match(
      (await asRoot(['exec', 'r1', '--', 'cat', '/etc/hosts'])).stdout,
      /10\.251\.61\.3\tr2/,
    );
    // r1 learned of r2 when r2 joined
    assert.match(
      (await asRoot(['exec', 'r2', '--', 'cat', '/etc/hosts'])).stdout,
      /10\.251\.61\.2\tr1/,
    );

    await listen(asRoot, 'r2', 7000);
    ok(
      await asRoot(['exec', 'r1', '--', '/bin/sh', '-c', 'echo hello-by-name | nc -w 3 r2 7000']),
      'send by name',
    );
    await until('r2 got it', async () => /hello-by-name/.test(await received(asRoot, 'r2', 7000)));

    // r1 takes another address (container root may change its own eth0): its frames are dropped
    await listen(asRoot, 'r2', 7001);
    const spoof = await asRoot([
      'exec',
      'r1',
      '--',
      '/bin/sh',
      '-c',
      'ip addr flush dev eth0 && ip addr add 10.251.61.99/24 dev eth0 && echo spoofed | nc -w 2 10.251.61.3 7001; rc=$?; ip addr flush dev eth0; ip addr add 10.251.61.2/24 dev eth0; ip route add default via 10.251.61.1; exit $rc',
    ]);
    assert.notEqual(spoof.status, 0, 'the spoofed connection must fail');
    assert.equal(await received(asRoot, 'r2', 7001), '');
    const drops = [...nftTable().matchAll(/@pairs counter packets (\d+)/g)].reduce(
      (a, m) => a + Number(m[1]),
      0,
    );
    assert.ok(drops > 0, `the anti-spoofing rules dropped frames:\n${nftTable()}`);
    // with its own address again, it gets through
    ok(
      await asRoot(['exec', 'r1', '--', '/bin/sh', '-c', 'echo honest | nc -w 3 r2 7001']),
      'send honestly',
    );
    await until('r2 got the honest one', async () =>
      /honest/.test(await received(asRoot, 'r2', 7001)),
    );

    const ls = JSON.parse(ok(await asRoot(['net', 'ls', '--json']), 'net ls').stdout) as {
      bridge: { name: string };
      leases: { container: string; address: string }[];
    }[];
    const mine = ls.find((b) => b.bridge.name === BR)!;
    assert.deepEqual(mine.leases.map((l) => [l.container, l.address]).sort(), [
      ['r1', '10.251.61.2'],
      ['r2', '10.251.61.3'],
    ]);
    const rm = await asRoot(['net', 'rm', BR]);
    assert.notEqual(rm.status, 0);
    assert.match(rm.stderr, /containers are attached to it: root\/r1, root\/r2/);
  });

  test("stop, kill -9 of the monitor and destroy leave no veth, lease or rule of root's containers", async () => {
    const veth = (n: string) => readState().leases.find((l) => l.container === n)?.hostVeth;
    const v1 = veth('r1')!;
    const v2 = veth('r2')!;
    assert.ok(links().includes(v1) && links().includes(v2));
    ok(await asRoot(['stop', 'r1', '--timeout', '2']), 'stop r1');
    assert.ok(!links().includes(v1), 'the veth is gone after stop');
    assert.equal(veth('r1'), undefined, 'the lease is gone after stop');
    assert.ok(!nftTable().includes(v1), 'the rules no longer name the port');

    const info = JSON.parse(ok(await asRoot(['info', 'r2', '--json']), 'info').stdout).state as {
      pid: number;
    };
    // The monitor dies (init outlives it), then init: nobody is left to detach.
    process.kill(Number(procStatus(info.pid).PPid), 'SIGKILL');
    process.kill(info.pid, 'SIGKILL');
    await until('r2 gone', () => !existsSync(`/proc/${info.pid}`));
    await until('its veth gone', () => !links().includes(v2));
    ok(await asRoot(['net', 'ls']), 'net ls reconciles');
    assert.equal(veth('r2'), undefined, 'the dead lease is dropped');
    assert.ok(!nftTable().includes(v2));

    ok(await asRoot(['start', 'r1']), 'start r1 again');
    const v1b = veth('r1')!;
    ok(await asRoot(['destroy', 'r1', '--force']), 'destroy r1');
    assert.ok(!links().includes(v1b));
    assert.equal(veth('r1'), undefined);
    ok(await asRoot(['destroy', 'r2', '--force']), 'destroy r2');
    assert.deepEqual(readState().leases, []);
  });

  test("a user's containers reach each other by name, a third over the quota is refused and leaves nothing", async () => {
    const g = ok(
      await asRoot(['net', 'grant', user.name, '--bridge', BR, '--count', '2']),
      'grant',
    );
    assert.match(
      g.stdout,
      /Granted igloo-netbr 2 interfaces on igloo-tbr0 \(addresses 10\.251\.61\.253-10\.251\.61\.254\)/,
    );
    assert.match(readFileSync(USERNET, 'utf8'), new RegExp(`^${user.name} veth ${BR} 2$`, 'm'));
    for (const n of ['u1', 'u2', 'u3'])
      ok(await asUser(['create', n, '--net', `bridge=${BR}`]), `create ${n}`);
    ok(await asUser(['start', 'u1']), 'start u1');
    ok(await asUser(['start', 'u2']), 'start u2');
    assert.match(
      (await asUser(['exec', 'u1', '--', '/bin/sh', '-c', 'ip -4 addr show eth0'])).stdout,
      /inet 10\.251\.61\.253\/24/,
    );
    await listen(asUser, 'u2', 7002);
    ok(
      await asUser(['exec', 'u1', '--', '/bin/sh', '-c', 'echo user-by-name | nc -w 3 u2 7002']),
      'u1 -> u2',
    );
    await until('u2 got it', async () => /user-by-name/.test(await received(asUser, 'u2', 7002)));
    assert.equal(userVeths().length, 2);

    const third = await asUser(['start', 'u3']);
    assert.notEqual(third.status, 0);
    assert.match(
      third.stderr,
      /igloo-netbr has as many interfaces on it as \/etc\/lxc\/lxc-usernet allows/,
    );
    assert.match(third.stderr, /hint: .*igloo net grant igloo-netbr --bridge igloo-tbr0/);
    assert.equal(userVeths().length, 2, 'no third veth');
    assert.deepEqual(userLeases().sort(), ['u1', 'u2']);
    assert.doesNotMatch((await asUser(['info', 'u3', '--json'])).stdout, /"status": "running"/);

    // a user's container cannot take an address outside its owner's block
    const spoof = await asUser([
      'exec',
      'u1',
      '--',
      '/bin/sh',
      '-c',
      'ip addr flush dev eth0 && ip addr add 10.251.61.3/24 dev eth0 && echo x | nc -w 2 10.251.61.254 7002; rc=$?; ip addr flush dev eth0; ip addr add 10.251.61.253/24 dev eth0; exit $rc',
    ]);
    assert.notEqual(spoof.status, 0);
    // its ARP (or IP, with a neighbour cached) is dropped by the rules of the user's ports
    const userDrops = [
      ...nftTable().matchAll(
        new RegExp(
          `veth${user.uid}_\\*" (?:ip|arp) saddr (?:ip )?!= \\{ 10\\.251\\.61\\.253, 10\\.251\\.61\\.254 \\} counter packets (\\d+)`,
          'g',
        ),
      ),
    ].reduce((a, m) => a + Number(m[1]), 0);
    assert.ok(userDrops > 0, `the user's port rules dropped frames:\n${nftTable()}`);
  });

  test("stop, kill -9 of the monitor and destroy leave nothing of a user's containers", async () => {
    ok(await asUser(['stop', 'u1', '--timeout', '2']), 'stop u1');
    assert.equal(userVeths().length, 1);
    assert.deepEqual(userLeases(), ['u2']);
    const info = JSON.parse(ok(await asUser(['info', 'u2', '--json']), 'info').stdout).state as {
      pid: number;
    };
    process.kill(Number(procStatus(info.pid).PPid), 'SIGKILL');
    process.kill(info.pid, 'SIGKILL');
    await until('u2 gone', () => !existsSync(`/proc/${info.pid}`));
    await until('its veth gone', () => userVeths().length === 0);
    // the quota is free again: u3 starts, then destroy takes it down with its lease
    ok(await asUser(['start', 'u3']), 'start u3 after the kill');
    assert.deepEqual(userLeases(), ['u3']);
    for (const n of ['u1', 'u2', 'u3']) ok(await asUser(['destroy', n, '--force']), `destroy ${n}`);
    assert.equal(userVeths().length, 0);
    assert.deepEqual(userLeases(), []);

    ok(await asRoot(['net', 'revoke', user.name]), 'revoke');
    assert.doesNotMatch(
      existsSync(USERNET) ? readFileSync(USERNET, 'utf8') : '',
      new RegExp(user.name),
    );
    assert.doesNotMatch(nftTable(), new RegExp(`veth${user.uid}_`));
    ok(await asRoot(['net', 'rm', BR]), 'net rm');
    assert.ok(!links().includes(BR));
    assert.equal(nftTable(), '');
    assert.ok(!existsSync(`/etc/lxc/igloo-net/${BR}.json`));
  });
});
