/**
 * Resource limits as a real user (docs/limits.md): root delegates cgroups
 * to the user with a ceiling (igloo limit set), the user's containers get
 * their own cgroups below it; a fork bomb stops at the pids limit while the
 * host and a sibling keep working, a memory hog is OOM-killed inside (init
 * survives, the count shows), a CPU loop is throttled, the ceiling holds
 * across two containers, freeze/thaw, stop/start keeps the limits, destroy
 * removes the cgroups, bad values change nothing.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { findCriu } from '../../src/host/criu.ts';
import {
  Cleanup,
  assertRangeFree,
  createUser,
  delegate,
  igloo,
  requireRoot,
  runAs,
  tempDir,
  type TestUser,
} from '../support/host.ts';
import { until } from '../support/wait.ts';

const cleanup = new Cleanup();
const BASE = 66_000_000;
/** Root's containers here: a private subid file (ROOT_BASE, 1M), never /etc's. */
const ROOT_BASE = 67_000_000;
const HIERARCHIES = ['memory', 'pids', 'cpu', 'cpuacct', 'cpuset', 'freezer', 'blkio'];
let anna: TestUser;
let userCg: string;

const cg = (h: string, rel: string, file?: string) =>
  `/sys/fs/cgroup/${h}/${rel}${file ? `/${file}` : ''}`;
const read = (h: string, rel: string, file: string) =>
  readFileSync(cg(h, rel, file), 'utf8').trim();

async function as(args: string[], ok = true) {
  const r = await igloo(cleanup, anna, args, { timeoutMs: 60_000 });
  if (ok) assert.equal(r.status, 0, `igloo ${args.join(' ')}: ${r.stderr}${r.stdout}`);
  return r;
}

interface Stats {
  name: string;
  usage?: {
    memory?: { current: number; limit?: number; oomKills: number };
    cpu?: { usageNs: number; throttled?: number };
    pids?: { current: number; limit?: number };
    frozen?: boolean;
  };
}
async function stats(name: string): Promise<Stats> {
  const r = await as(['stats', name, '--json']);
  return (JSON.parse(r.stdout) as Stats[])[0]!;
}

before(async () => {
  requireRoot();
  assertRangeFree(BASE, 2_000_000);
  anna = createUser(cleanup, 'igloo-lim-anna');
  await delegate(anna, BASE, 1_000_000);
  userCg = `igloo/user-${anna.name}`;
  cleanup.add('remove the delegated cgroups', async () => {
    // containers first (their processes run with subordinate ids, not anna's uid)
    for (const name of ['c1', 'c2', 'c3', 'c4'])
      await igloo(cleanup, anna, ['destroy', '--force', name]);
    const r = await igloo(cleanup, 'root', ['limit', 'rm', anna.name]);
    if (r.status !== 0 && !/none are set/.test(r.stderr)) throw new Error(r.stderr);
    for (const h of HIERARCHIES)
      if (existsSync(cg(h, userCg))) throw new Error(`${cg(h, userCg)} is left`);
  });
});
after(() => cleanup.run());

describe('limits for a user', () => {
  test('without a delegation: limits are refused and change nothing, check says what to do', async () => {
    const r = await as(['create', 'c1', '--pids', '20'], false);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /no cgroup is delegated to igloo-lim-anna/);
    assert.match(r.stderr, /igloo limit igloo-lim-anna|igloo limit set|igloo limit/);
    assert.equal((await as(['ls', '--json'])).stdout.trim(), '[]');
    const check = await as(['check', '--json'], false);
    const d = (
      JSON.parse(check.stdout) as { checks: { name: string; status: string; fix?: string }[] }
    ).checks.find((c) => c.name === 'cgroup delegation');
    assert.equal(d?.status, 'warn');
    assert.match(d!.fix!, /igloo limit set igloo-lim-anna/);
    // A container without limits is still bounded: RLIMIT_NPROC on its own host uids.
    const run = await as(['run', '--', 'cat', '/proc/self/limits']);
    assert.match(run.stdout, /Max processes\s+4096\s+4096/);
  });

  test("root delegates with a ceiling: directories and delegation files are the user's, limit files root's", async () => {
    const r = await igloo(cleanup, 'root', [
      'limit',
      'set',
      anna.name,
      '--memory',
      '512M',
      '--pids',
      '100',
    ]);
    assert.equal(r.status, 0, r.stderr);
    for (const h of HIERARCHIES) {
      assert.ok(existsSync(cg(h, userCg)), h);
      const own = (f: string) => {
        const st = readdirSync(cg(h, userCg)).includes(f) ? cg(h, userCg, f) : undefined;
        return st;
      };
      assert.ok(own('cgroup.procs'));
    }
    assert.equal(read('pids', userCg, 'pids.max'), '100');
    assert.equal(read('memory', userCg, 'memory.limit_in_bytes'), String(512 * 2 ** 20));
    const ls = await igloo(cleanup, 'root', ['limit', 'ls', '--json']);
    assert.ok(
      (JSON.parse(ls.stdout) as { user: string }[]).some((d) => d.user === anna.name),
      ls.stdout,
    );
    // anna cannot raise her own ceiling
    const w = await runAs(anna, ['sh', '-c', `echo 1000 > ${cg('pids', userCg, 'pids.max')}`]);
    assert.notEqual(w.status, 0);
    assert.equal(read('pids', userCg, 'pids.max'), '100');
  });

  test('a limit above the ceiling and bad values are refused and change nothing', async () => {
    let r = await as(['create', 'c1', '--pids', '1000'], false);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /--pids 1000: it is above igloo-lim-anna's ceiling of 100/);
    r = await as(['create', 'c1', '--memory', '10Q'], false);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /--memory 10Q: "10Q" is not a size/);
    assert.equal((await as(['ls', '--json'])).stdout.trim(), '[]');
    assert.deepEqual(
      readdirSync(cg('pids', userCg), { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => e.name),
      [],
    );
  });

  test('the container is in its cgroups from the start, sees them as / and read-only', async () => {
    await as(['create', 'c1', '--pids', '20', '--memory', '64M']);
    await as(['create', 'c2', '--cpus', '0.2', '--pids', '40']);
    await as(['start', 'c1']);
    await as(['start', 'c2']);
    const rel = `${userCg}/c1`;
    const init = Number(read('pids', rel, 'cgroup.procs').split('\n')[0]);
    assert.ok(init > 0);
    // the host sees init in the container's cgroup in every hierarchy
    const host = readFileSync(`/proc/${init}/cgroup`, 'utf8');
    for (const h of ['memory', 'pids', 'cpu', 'freezer'])
      assert.match(host, new RegExp(`:${h}:/${rel}$`, 'm'), host);
    // the monitor (init's parent) is not in it: freezing must not freeze it
    const ppid = Number(/^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${init}/status`, 'utf8'))![1]);
    assert.doesNotMatch(readFileSync(`/proc/${ppid}/cgroup`, 'utf8'), /igloo\/user-/);
    const inside = await as(['exec', 'c1', '--', 'cat', '/proc/self/cgroup']);
    assert.match(inside.stdout, /:pids:\/$/m);
    assert.match(inside.stdout, /:memory:\/$/m);
    assert.equal(
      (await as(['exec', 'c1', '--', 'cat', '/sys/fs/cgroup/pids/pids.max'])).stdout.trim(),
      '20',
    );
    assert.equal(
      (
        await as(['exec', 'c1', '--', 'cat', '/sys/fs/cgroup/memory/memory.limit_in_bytes'])
      ).stdout.trim(),
      String(64 * 2 ** 20),
    );
    const w = await as(
      ['exec', 'c1', '--', 'sh', '-c', 'echo 1000 > /sys/fs/cgroup/pids/pids.max'],
      false,
    );
    assert.notEqual(w.status, 0);
    // exec'd processes join too: cat is listed with init in the container's cgroup.procs
    const procs = (await as(['exec', 'c1', '--', 'cat', '/sys/fs/cgroup/pids/cgroup.procs']))
      .stdout;
    assert.ok(
      procs.split('\n').includes('1') && procs.split('\n').filter(Boolean).length >= 2,
      procs,
    );
  });

  test('a fork bomb stops at the pids limit; the host and a sibling keep working', async () => {
    const bomb = await as(
      [
        'exec',
        'c1',
        '--',
        'sh',
        '-c',
        'i=0; while [ $i -lt 60 ]; do sleep 1000 </dev/null >/dev/null 2>&1 & i=$((i+1)); done; echo tried',
      ],
      false,
    );
    assert.match(bomb.stderr + bomb.stdout, /can't fork|Resource temporarily unavailable/);
    const rel = `${userCg}/c1`;
    // forks failed at the limit (the bombing shell itself has exited since)
    assert.match(read('pids', rel, 'pids.events'), /^max [1-9]/m);
    assert.equal(read('pids', rel, 'pids.peak'), '20');
    assert.ok(Number(read('pids', rel, 'pids.current')) <= 20);
    assert.match(read('pids', rel, 'pids.events'), /^max [1-9]/m);
    // the sibling and the host still fork
    assert.equal(
      (await as(['exec', 'c2', '--', 'echo', 'sibling ok'])).stdout.trim(),
      'sibling ok',
    );
    assert.equal((await runAs(anna, ['sh', '-c', 'echo host ok'])).stdout.trim(), 'host ok');
    // c1 is full: not even igloo exec gets in; a live raise lets it, and the sleeps are killed
    const full = await as(['exec', 'c1', '--', 'true'], false);
    assert.notEqual(full.status, 0);
    await as(['set', 'c1', '--pids', '30']);
    assert.equal(read('pids', rel, 'pids.max'), '30');
    await as(['exec', 'c1', '--', 'killall', 'sleep']);
    await until('the sleeps gone', () => Number(read('pids', rel, 'pids.current')) < 5);
    await as(['set', 'c1', '--pids', '20']);
    assert.equal(read('pids', rel, 'pids.max'), '20');
  });

  test('a memory hog is OOM-killed inside; init survives; stats and info show the count', async () => {
    const before = (await stats('c1')).usage!.memory!.oomKills;
    const hog = await as(
      ['exec', 'c1', '--', 'awk', 'BEGIN { s = "x"; while (1) s = s s }'],
      false,
    );
    assert.equal(hog.status, 137, hog.stderr);
    const after = (await stats('c1')).usage!.memory!;
    assert.ok(after.oomKills > before, JSON.stringify(after));
    assert.equal(after.limit, 64 * 2 ** 20);
    assert.equal((await as(['exec', 'c1', '--', 'echo', 'alive'])).stdout.trim(), 'alive');
    const info = await as(['info', 'c1']);
    assert.match(info.stdout, new RegExp(`OOM kills ${after.oomKills}`));
    assert.match(info.stdout, /^state\s+running$/m);
  });

  test('a CPU loop is throttled (cpu.stat throttled count grows)', async () => {
    const before = (await stats('c2')).usage!.cpu!;
    await as(['exec', 'c2', '--', 'timeout', '1', 'sh', '-c', 'while :; do :; done'], false);
    const after = (await stats('c2')).usage!.cpu!;
    assert.ok(after.usageNs > before.usageNs);
    assert.ok((after.throttled ?? 0) > (before.throttled ?? 0), JSON.stringify({ before, after }));
  });

  test('freeze and thaw', async () => {
    const rel = `${userCg}/c1`;
    const init = Number(read('pids', rel, 'cgroup.procs').split('\n')[0]);
    await as(['freeze', 'c1']);
    assert.equal(read('freezer', rel, 'freezer.state'), 'FROZEN');
    assert.equal((await stats('c1')).usage!.frozen, true);
    assert.match(readFileSync(`/proc/${init}/status`, 'utf8'), /^State:\s+D/m);
    // the sibling is not frozen
    assert.equal((await as(['exec', 'c2', '--', 'echo', 'ok'])).stdout.trim(), 'ok');
    await as(['thaw', 'c1']);
    assert.equal(read('freezer', rel, 'freezer.state'), 'THAWED');
    assert.equal((await as(['exec', 'c1', '--', 'echo', 'thawed'])).stdout.trim(), 'thawed');
  });

  test('limits survive stop and start; a bad set changes nothing', async () => {
    await as(['stop', 'c1']);
    await as(['start', 'c1']);
    assert.equal(
      (await as(['exec', 'c1', '--', 'cat', '/sys/fs/cgroup/pids/pids.max'])).stdout.trim(),
      '20',
    );
    assert.equal(read('memory', `${userCg}/c1`, 'memory.limit_in_bytes'), String(64 * 2 ** 20));
    const config = readFileSync(`${anna.home}/.local/share/igloo/containers/c1/config`, 'utf8');
    for (const bad of [
      ['--pids', '0'],
      ['--pids', '1000'],
      ['--memory', '1Q'],
      ['--cpuset', '999'],
    ]) {
      const r = await as(['set', 'c1', ...bad], false);
      assert.notEqual(r.status, 0, bad.join(' '));
    }
    assert.equal(
      readFileSync(`${anna.home}/.local/share/igloo/containers/c1/config`, 'utf8'),
      config,
    );
    assert.equal(read('pids', `${userCg}/c1`, 'pids.max'), '20');
  });

  test('the ceiling holds across two containers', async () => {
    await as(['destroy', '--force', 'c1']);
    await as(['destroy', '--force', 'c2']);
    await as(['create', 'c3', '--pids', '90']);
    await as(['create', 'c4', '--pids', '90']);
    await as(['start', 'c3']);
    await as(['start', 'c4']);
    const spawn =
      'i=0; while [ $i -lt 70 ]; do sleep 1000 </dev/null >/dev/null 2>&1 & i=$((i+1)); done; echo tried';
    await as(['exec', 'c3', '--', 'sh', '-c', spawn], false);
    await until('c3 settled', () => Number(read('pids', `${userCg}/c3`, 'pids.current')) >= 70);
    const r = await as(['exec', 'c4', '--', 'sh', '-c', spawn], false);
    assert.match(r.stderr + r.stdout, /can't fork|Resource temporarily unavailable/);
    const c4 = Number(read('pids', `${userCg}/c4`, 'pids.current'));
    // c4 stopped below its own limit of 90: the ceiling of 100 was reached first
    assert.ok(c4 < 90, String(c4));
    assert.ok(Number(read('pids', userCg, 'pids.current')) <= 100);
    // v1 counts the refused forks in the cgroup that forked, whichever level's limit refused
    assert.match(read('pids', `${userCg}/c4`, 'pids.events'), /^max [1-9]/m);
    assert.ok(Number(read('pids', userCg, 'pids.peak')) <= 100);
  });

  test('limit rm is refused while containers run; destroy removes their cgroups', async () => {
    const r = await igloo(cleanup, 'root', ['limit', 'rm', anna.name]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /processes are still in it/);
    await as(['destroy', '--force', 'c3']);
    await as(['destroy', '--force', 'c4']);
    for (const h of HIERARCHIES) {
      assert.ok(!existsSync(cg(h, `${userCg}/c3`)), h);
      assert.ok(!existsSync(cg(h, `${userCg}/c4`)), h);
    }
  });

  test('a one-shot run with limits, and its cgroup is gone afterwards', async () => {
    const r = await as(['run', '--pids', '10', '--', 'cat', '/sys/fs/cgroup/pids/pids.max']);
    assert.equal(r.stdout.trim(), '10');
    const left = readdirSync(cg('pids', userCg)).filter((f) => f.startsWith('run-'));
    assert.deepEqual(left, []);
  });
});

describe('limits for root', () => {
  // root's cgroups are igloo/root/NAME whatever the data directory: a name of its own
  const name = 'lim-cr-root';
  const rel = `igloo/root/${name}`;
  let env: Record<string, string>;
  const asRoot = async (args: string[], ok = true) => {
    const r = await igloo(cleanup, 'root', args, { env, timeoutMs: 60_000 });
    if (ok) assert.equal(r.status, 0, `igloo ${args.join(' ')}: ${r.stderr}${r.stdout}`);
    return r;
  };
  const procsOf = (h: string) => read(h, rel, 'cgroup.procs').split('\n').filter(Boolean);
  /** 40 sleeps forked in the container (after FIRST): the fork fails at its pids.max of 20. */
  const forkLoopStops = async (first = '') => {
    const loop =
      'i=0; while [ $i -lt 40 ]; do sleep 1000 </dev/null >/dev/null 2>&1 & i=$((i+1)); done';
    const r = await asRoot(['exec', name, '--', 'sh', '-c', `${first}${loop}; echo tried`], false);
    assert.match(r.stderr + r.stdout, /can't fork|Resource temporarily unavailable/);
    assert.ok(Number(read('pids', rel, 'pids.current')) <= 20);
  };

  before(async () => {
    if (!(await findCriu()))
      throw new Error(
        'a criu that suits this kernel is missing: run scripts/install-criu.sh as root (CI does)',
      );
    const dir = tempDir(cleanup, 'igloo-lim-root-');
    writeFileSync(join(dir, 'subuid'), `root:${ROOT_BASE}:1000000\n`);
    writeFileSync(join(dir, 'subgid'), `root:${ROOT_BASE}:1000000\n`);
    env = {
      IGLOO_SUBUID: join(dir, 'subuid'),
      IGLOO_SUBGID: join(dir, 'subgid'),
      IGLOO_DATA_DIR: join(dir, 'data'),
      IGLOO_RUN_DIR: join(dir, 'run'),
    };
    cleanup.add(`destroy root's ${name}`, async () => {
      await igloo(cleanup, 'root', ['destroy', '--force', name], { env });
      for (const h of HIERARCHIES)
        if (existsSync(cg(h, rel))) throw new Error(`${cg(h, rel)} is left`);
    });
  });

  test('checkpoint and restore keep the tree in its cgroups, with its limits', async () => {
    await asRoot(['create', name, '--pids', '20', '--memory', '64M']);
    await asRoot(['start', name, '--console', 'null']);
    const before = (await asRoot(['exec', name, '--', 'cat', '/proc/1/cgroup'])).stdout;
    await asRoot(['checkpoint', name]);
    assert.equal(procsOf('pids').length, 0, 'the dump ended the tree');
    // the limit written at restore is the config's, not what a leftover cgroup says
    writeFileSync(cg('pids', rel, 'pids.max'), '1000');
    await asRoot(['restore', name]);
    const ls = JSON.parse((await asRoot(['ls', '--json'])).stdout) as {
      name: string;
      pid: number;
    }[];
    const st = ls.find((c) => c.name === name)!;
    // the restored init is in the container's cgroup in every hierarchy, limits as configured
    for (const h of HIERARCHIES) assert.ok(procsOf(h).includes(String(st.pid)), h);
    assert.equal(read('pids', rel, 'pids.max'), '20');
    assert.equal(read('memory', rel, 'memory.limit_in_bytes'), String(64 * 2 ** 20));
    // its cgroup namespace came back rooted there: init still sees itself at /
    const after = (await asRoot(['exec', name, '--', 'cat', '/proc/1/cgroup'])).stdout;
    assert.equal(after, before);
    assert.match(after, /^\d+:pids:\/$/m);
    // pids.max holds: a fork loop stops at 20
    await forkLoopStops();
    assert.match(read('pids', rel, 'pids.events'), /^max [1-9]/m);
    const stats = JSON.parse((await asRoot(['stats', name, '--json'])).stdout) as Stats[];
    assert.equal(stats[0]!.usage!.pids!.limit, 20);
    assert.equal(stats[0]!.usage!.memory!.limit, 64 * 2 ** 20);
    // the sleeps go (init stays): the next test needs room
    for (const pid of procsOf('pids'))
      if (Number(pid) !== st.pid) process.kill(Number(pid), 'SIGKILL');
    await until('the sleeps gone', () => Number(read('pids', rel, 'pids.current')) < 10);
  });

  test("the container's root makes child cgroups in its own, and cannot raise its limits", async () => {
    // its cgroup and the files that let processes in are its root's; the limit files root's
    for (const h of HIERARCHIES) {
      const st = statSync(cg(h, rel));
      assert.equal(st.uid, ROOT_BASE, h);
      assert.equal(statSync(cg(h, rel, 'cgroup.procs')).uid, ROOT_BASE, h);
    }
    assert.equal(statSync(cg('pids', rel, 'pids.max')).uid, 0);
    const r = await asRoot(
      [
        'exec',
        name,
        '--',
        'sh',
        '-c',
        [
          'mkdir /sys/fs/cgroup/pids/nested /sys/fs/cgroup/memory/nested',
          'echo 1000 > /sys/fs/cgroup/pids/nested/pids.max',
          'echo $$ > /sys/fs/cgroup/pids/nested/cgroup.procs',
          'grep :pids: /proc/self/cgroup',
          'echo 1000 > /sys/fs/cgroup/pids/pids.max || echo refused',
        ].join('; '),
      ],
      false,
    );
    assert.match(r.stdout, /^\d+:pids:\/nested$/m, r.stderr);
    assert.match(r.stdout, /refused/);
    assert.match(r.stderr, /Permission denied/);
    assert.equal(read('pids', rel, 'pids.max'), '20');
    assert.equal(read('pids', `${rel}/nested`, 'pids.max'), '1000');
    // the child's own limit of 1000 does not lift the container's 20
    await forkLoopStops('echo $$ > /sys/fs/cgroup/pids/nested/cgroup.procs; ');
    // destroy removes what the container made too
    await asRoot(['destroy', '--force', name]);
    for (const h of HIERARCHIES) assert.ok(!existsSync(cg(h, rel)), h);
  });
});
