/**
 * Checkpoint and restore with CRIU (root only, as CRIU requires): a busybox
 * container with its normal pty console, whose init runs a counter in
 * memory and a shell on the console, is dumped, restored (the count goes
 * on, pids inside are unchanged, `igloo console` reaches the shell),
 * exported to an archive and imported into a second igloo data directory
 * (another "host"): once into its own slice, once where that slice is taken
 * (new slice: files and checkpoint moved to it, processes run as the new
 * ids). And the failures: criu missing or too old, a dump that fails
 * halfway, a restore that fails, a name taken on the target. Needs a criu
 * that suits the kernel (scripts/install-criu.sh): fails loudly without one.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  cpSync,
  existsSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Igloo, IglooError } from '../../src/api/index.ts';
import { checkpoint, exportContainer, importContainer, restore } from '../../src/api/index.ts';
import { findCriu } from '../../src/host/criu.ts';
import {
  Cleanup,
  procStatus,
  requireRoot,
  root,
  expectConsoleAnswers,
  spawnAs,
  stagedCli,
  tempDir,
} from '../support/host.ts';

const cleanup = new Cleanup();
let a: Igloo;
let b: Igloo;
let work: string;
let probe: string;

// init (pid 1) is busybox init, the image's: a shell on the console
// (respawn) and, from the inittab below, the counter.
// (written by rename, so that it is never read half written)
const COUNTER =
  'i=0\nwhile :; do i=$((i+1)); echo $i > /tmp/count.new; mv -f /tmp/count.new /tmp/count; sleep 0.1; done\n';
const INITTAB =
  '::sysinit:/bin/mount -o remount,rw / 2>/dev/null\n::respawn:-/bin/sh\n::once:/bin/sh /count.sh\n';

function count(api: Igloo, name: string): number {
  return Number(readFileSync(join(api.paths(name).rootfs, 'tmp/count'), 'utf8').trim());
}
async function waitCount(api: Igloo, name: string, above: number): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const n = (() => {
      try {
        return count(api, name);
      } catch {
        return 0;
      }
    })();
    if (n > above) return n;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the counter of ${name} did not go above ${above}`);
}
/** NSpid of PID: the host pid and its pid inside, "1234 1". */
function insidePid(pid: number): string {
  return procStatus(pid).NSpid!.split(/\s+/).pop()!;
}
/** The command line of PID, or '' when it has exited meanwhile. */
function cmdlineOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}
/** The container's lasting processes (not the counter's short-lived children): pid inside -> host pid. */
function processesOf(initPid: number): Map<string, number> {
  const ns = statSync(`/proc/${initPid}/ns/pid`);
  const out = new Map<string, number>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const st = statSync(`/proc/${e}/ns/pid`);
      if (st.ino !== ns.ino || st.dev !== ns.dev) continue;
      // the counter's children (sleep, mv, or a fork of its shell that has
      // not exec'd yet) come and go every 0.1 s: only the lasting ones count
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1];
      if (readFileSync(`/proc/${ppid}/cmdline`, 'utf8').includes('/count.sh')) continue;
      out.set(insidePid(Number(e)), Number(e));
    } catch {
      /* gone */
    }
  }
  return out;
}

async function makeCounter(
  api: Igloo,
  name: string,
  files: Record<string, string> = {},
): Promise<void> {
  await api.create(name);
  const rootfs = api.paths(name).rootfs;
  const owner = statSync(join(rootfs, 'bin'));
  for (const [file, text] of Object.entries({
    'count.sh': COUNTER,
    'etc/inittab': INITTAB,
    ...files,
  })) {
    writeFileSync(join(rootfs, file), text, { mode: 0o755 });
    chownSync(join(rootfs, file), owner.uid, owner.gid);
  }
}

async function stopQuietly(api: Igloo, name: string): Promise<void> {
  if ((await api.state(name).catch(() => undefined))?.status === 'running') await api.stop(name, 0);
}

/** `igloo console NAME` against API's directories: a shell answers on it. */
async function consoleAnswers(api: Igloo, name: string): Promise<void> {
  const session = spawnAs('root', [
    'env',
    `IGLOO_DATA_DIR=${api.dirs.data}`,
    `IGLOO_RUN_DIR=${api.dirs.run}`,
    process.execPath,
    stagedCli(cleanup),
    'console',
    name,
  ]);
  await expectConsoleAnswers(session);
}

before(async () => {
  requireRoot();
  const criu = await findCriu();
  if (!criu)
    throw new Error(
      'a criu that suits this kernel is missing: run scripts/install-criu.sh as root (CI does)',
    );
  work = tempDir(cleanup, 'igloo-criu-');
  probe = join(work, 'sockets');
  const cc = spawnSync('cc', ['-static', '-O2', '-o', probe, join(root, 'test/probe/sockets.c')], {
    encoding: 'utf8',
  });
  assert.equal(cc.status, 0, `cc -static sockets.c: ${cc.stderr}`);
  a = new Igloo({ data: join(work, 'a/data'), run: join(work, 'a/run') });
  b = new Igloo({ data: join(work, 'b/data'), run: join(work, 'b/run') });
  for (const api of [a, b]) {
    cleanup.add(`destroy the containers of ${api.dirs.data}`, async () => {
      for (const n of await api.names()) {
        await stopQuietly(api, n);
        await api.destroy(n, { force: true });
      }
    });
  }
  stagedCli(cleanup);
});
after(() => cleanup.run());

describe('criu', () => {
  test('checkpoint, restore with the pty console: the count goes on, pids inside unchanged, the console answers', async () => {
    await makeCounter(a, 'counter');
    const started = await a.start('counter');
    const before1 = await waitCount(a, 'counter', 3);
    assert.equal(insidePid(started.pid!), '1');
    const procs = processesOf(started.pid!);
    assert.ok(procs.size >= 3, `init, the shell and the counter: ${[...procs.keys()].join(' ')}`);
    await consoleAnswers(a, 'counter');

    // --leave-running: dumped and still counting
    const kept = await checkpoint(a, 'counter', { leaveRunning: true });
    assert.ok(kept.bytes > 0);
    assert.equal((await a.state('counter')).status, 'running');
    await waitCount(a, 'counter', before1 + 1);
    await consoleAnswers(a, 'counter');

    // a real checkpoint stops it
    const dumped = await checkpoint(a, 'counter');
    const atDump = count(a, 'counter');
    const state = await a.state('counter');
    assert.equal(state.status, 'stopped');
    assert.match(state.lastExit ?? '', /checkpointed/);
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(count(a, 'counter'), atDump, 'nothing counts while checkpointed');
    const manifest = JSON.parse(readFileSync(join(dumped.dir, 'igloo-checkpoint.json'), 'utf8'));
    assert.match(manifest.console.key, /^tty\[[0-9a-f]+:[0-9a-f]+\]$/);

    // restore onto a running container is refused, and leaves it running
    const r = await restore(a, 'counter');
    await assert.rejects(
      () => restore(a, 'counter'),
      (err: unknown) => err instanceof IglooError && err.code === 'ESTATE',
    );
    const after1 = await waitCount(a, 'counter', atDump);
    assert.ok(after1 > atDump && after1 < atDump + 30, `count went on from ${atDump}: ${after1}`);
    assert.equal(insidePid(r.pid), '1', 'init keeps pid 1 inside');
    assert.deepEqual([...processesOf(r.pid).keys()].sort(), [...procs.keys()].sort());
    // the restored init is the restore helper's child, which monitors it
    // and serves the new console
    const monitor = Number(procStatus(r.pid).PPid);
    assert.match(readFileSync(`/proc/${monitor}/cmdline`, 'utf8'), /igloo-helper\0restore/);
    assert.ok(existsSync(join(a.paths('counter').rundir, 'console.sock')));
    // `igloo exec` without Node finds the restored init in its prepared plan
    const prepared = readFileSync(join(a.paths('counter').rundir, 'prepared-exec'), 'latin1');
    assert.match(prepared, new RegExp(`^init ${r.pid} \\d+$`, 'm'));
    await consoleAnswers(a, 'counter');
    assert.equal((await a.state('counter')).status, 'running');
    // exec joins the restored container (its cgroup namespace is the initial
    // user namespace's after a restore: joined before the user namespace)
    const ex = await a.exec('counter', [
      '/bin/sh',
      '-c',
      'test "$(cat /proc/1/comm)" = init && exit 3',
    ]);
    assert.equal(ex.exitCode, 3);

    // a restored container checkpoints and restores again (its console is
    // now the restore helper's pty)
    await checkpoint(a, 'counter');
    const again = await restore(a, 'counter');
    await waitCount(a, 'counter', count(a, 'counter'));
    assert.equal(insidePid(again.pid), '1');
    await consoleAnswers(a, 'counter');

    // the monitor records the exit of the restored init
    await a.stop('counter', 0);
    const exit = readFileSync(a.paths('counter').exitFile, 'utf8');
    assert.match(exit, /^signaled SIGKILL\n\d+\n$/);
    assert.equal((await a.state('counter')).status, 'stopped');
  });

  test('export, import into another data directory, restore there; into a taken slice too', async () => {
    // Started afresh: the checkpoint above is older than the files the
    // restored container wrote before it was stopped (CRIU does not keep a
    // copy of the rootfs; a checkpoint goes with the files as they were).
    rmSync(join(a.paths('counter').rootfs, 'tmp/count'));
    await a.start('counter');
    const n = await waitCount(a, 'counter', 0);
    const pidsBefore = [...processesOf((await a.state('counter')).pid!).keys()].sort();
    await checkpoint(a, 'counter');
    const atDump = count(a, 'counter');
    assert.ok(atDump >= n);
    const archive = join(work, 'counter.tar');
    const ex = await exportContainer(a, 'counter', archive);
    assert.equal(ex.checkpoint, true);
    const oldMap = (await a.config('counter')).idmap;

    const imp = await importContainer(b, archive);
    assert.equal(imp.name, 'counter');
    assert.equal(imp.remapped, false, 'the slice is free on the target');
    assert.deepEqual(imp.idmap, oldMap);
    const r = await restore(b, 'counter');
    const moved = await waitCount(b, 'counter', atDump);
    assert.ok(moved < atDump + 30, `count went on from ${atDump}: ${moved}`);
    assert.equal(insidePid(r.pid), '1');
    assert.equal((await b.state('counter')).status, 'running');
    assert.equal((await a.state('counter')).status, 'stopped', 'the original stays checkpointed');

    // Imported where its slice is taken (by the running "counter"): a new
    // slice, the rootfs and the checkpoint's user namespace moved to it.
    const again = await importContainer(b, archive, { name: 'counter2' });
    assert.equal(again.remapped, true);
    const base = again.idmap.uid[0]!.outside;
    assert.notEqual(base, oldMap.uid[0]!.outside);
    const rootfs2 = b.paths('counter2').rootfs;
    for (const f of ['bin', 'count.sh', 'tmp/count'])
      assert.equal(statSync(join(rootfs2, f)).uid, base, `${f} belongs to the new slice`);
    const r2 = await restore(b, 'counter2');
    const moved2 = await waitCount(b, 'counter2', atDump);
    assert.ok(moved2 < atDump + 30, `count went on from ${atDump}: ${moved2}`);
    const procs2 = processesOf(r2.pid);
    assert.deepEqual([...procs2.keys()].sort(), pidsBefore, 'pids inside unchanged');
    for (const [inside, pid] of procs2) {
      const st = procStatus(pid);
      assert.equal(st.Uid!.split(/\s+/)[0], String(base), `pid ${inside} runs as the new slice`);
      assert.equal(st.Gid!.split(/\s+/)[0], String(again.idmap.gid[0]!.outside));
    }
    assert.equal(
      readFileSync(`/proc/${r2.pid}/uid_map`, 'utf8').trim().split(/\s+/).join(' '),
      `0 ${base} ${again.idmap.uid[0]!.count}`,
    );
    const inside = await b.exec('counter2', [
      '/bin/sh',
      '-c',
      'test "$(stat -c %u:%g /count.sh /tmp/count | sort -u)" = 0:0 && exit 4',
    ]);
    assert.equal(inside.exitCode, 4, 'inside, the files are still root:root');
    await consoleAnswers(b, 'counter2');
    await b.stop('counter2', 0);
    await b.stop('counter', 0);
  });

  test('import refuses a name taken on the target and changes nothing', async () => {
    const archive = join(work, 'counter.tar');
    const cfg = readFileSync(b.paths('counter').config, 'utf8');
    const st = readFileSync(join(b.paths('counter').dir, 'state.json'), 'utf8');
    const entries = readdirSync(join(b.dirs.data, 'containers')).sort();
    await assert.rejects(
      () => importContainer(b, archive),
      (err: unknown) =>
        err instanceof IglooError && err.code === 'EEXIST' && /exists/.test(err.message),
    );
    assert.equal(readFileSync(b.paths('counter').config, 'utf8'), cfg);
    assert.equal(readFileSync(join(b.paths('counter').dir, 'state.json'), 'utf8'), st);
    assert.deepEqual(readdirSync(join(b.dirs.data, 'containers')).sort(), entries);
    // and its checkpoint still restores
    await restore(b, 'counter');
    await waitCount(b, 'counter', 0);
    await b.stop('counter', 0);
  });

  test('criu missing or too old: checkpoint says so and the container keeps running', async () => {
    await makeCounter(a, 'nocriu');
    const st = await a.start('nocriu');
    await waitCount(a, 'nocriu', 1);
    const fake = join(work, 'old-criu');
    writeFileSync(fake, '#!/bin/sh\necho "Version: 3.17"\n');
    chmodSync(fake, 0o755);
    const saved = process.env.IGLOO_CRIU;
    try {
      process.env.IGLOO_CRIU = join(work, 'no-such-criu');
      await assert.rejects(
        () => checkpoint(a, 'nocriu'),
        (err: unknown) =>
          err instanceof IglooError &&
          err.code === 'ENOENT' &&
          /criu is not installed/.test(err.message) &&
          /install-criu\.sh/.test(err.hint ?? ''),
      );
      process.env.IGLOO_CRIU = fake;
      await assert.rejects(
        () => checkpoint(a, 'nocriu'),
        (err: unknown) =>
          err instanceof IglooError &&
          /is criu 3\.17; kernels >= 6\.1\d need criu >= 4\.\d/.test(err.message),
      );
    } finally {
      if (saved === undefined) delete process.env.IGLOO_CRIU;
      else process.env.IGLOO_CRIU = saved;
    }
    assert.equal((await a.state('nocriu')).pid, st.pid);
    await waitCount(a, 'nocriu', count(a, 'nocriu'));
    assert.ok(!existsSync(join(a.paths('nocriu').dir, 'checkpoint')));
    await a.stop('nocriu', 0);
  });

  test('a process holding /dev/tty is refused before anything is frozen', async () => {
    // busybox ash as pid 1 on the console opens /dev/tty (job control)
    await a.create('devtty', { init: ['/bin/sh', '-c', 'exec /bin/sh'] });
    const st = await a.start('devtty');
    for (let i = 0; i < 100; i++) {
      const fds = readdirSync(`/proc/${st.pid}/fd`).map((f) => {
        try {
          return statSync(`/proc/${st.pid}/fd/${f}`).rdev;
        } catch {
          return 0;
        }
      });
      if (fds.includes(0x500)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await assert.rejects(
      () => checkpoint(a, 'devtty'),
      (err: unknown) =>
        err instanceof IglooError &&
        err.code === 'ESTATE' &&
        /holds \/dev\/tty/.test(err.message) &&
        /Nothing was frozen/.test(err.hint ?? ''),
    );
    assert.equal((await a.state('devtty')).pid, st.pid);
    assert.ok(!existsSync(join(a.paths('devtty').dir, 'dump-failed.log')), 'criu never ran');
    assert.ok(!existsSync(join(a.paths('devtty').dir, 'checkpoint.new')));
    await consoleAnswers(a, 'devtty');
    await a.stop('devtty', 0);
  });

  test('a dump that fails halfway leaves the container running and the previous checkpoint in place', async () => {
    // After /tmp/go appears, init starts a process holding a Landlock
    // ruleset: a file CRIU cannot dump, met after the tree is frozen.
    await makeCounter(a, 'halfway', {
      'etc/inittab': `${INITTAB}::once:/bin/sh /later.sh\n`,
      'later.sh': 'while [ ! -e /tmp/go ]; do sleep 0.1; done\nexec /sockets --hold-landlock\n',
    });
    const rootfs = a.paths('halfway').rootfs;
    cpSync(probe, join(rootfs, 'sockets'));
    const st = await a.start('halfway');
    await waitCount(a, 'halfway', 1);
    const first = await checkpoint(a, 'halfway', { leaveRunning: true });
    const firstManifest = readFileSync(join(first.dir, 'igloo-checkpoint.json'), 'utf8');

    writeFileSync(join(rootfs, 'tmp/go'), '');
    for (let i = 0; i < 100; i++) {
      if (
        // later.sh's sleep may exit between the listing and this read
        [...processesOf(st.pid!).values()].some((p) => /sockets/.test(cmdlineOf(p)))
      )
        break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await assert.rejects(
      () => checkpoint(a, 'halfway'),
      (err: unknown) =>
        err instanceof IglooError &&
        /criu dump failed/.test(err.message) &&
        /landlock/.test(err.message) &&
        /still running/.test(err.message),
    );
    const now = await a.state('halfway');
    assert.equal(now.status, 'running');
    assert.equal(now.pid, st.pid);
    await waitCount(a, 'halfway', count(a, 'halfway'));
    await consoleAnswers(a, 'halfway');
    assert.ok(!existsSync(`${first.dir}.new`), 'no half checkpoint left');
    assert.equal(
      readFileSync(join(first.dir, 'igloo-checkpoint.json'), 'utf8'),
      firstManifest,
      'the previous checkpoint is kept',
    );
    assert.match(readFileSync(join(a.paths('halfway').dir, 'dump-failed.log'), 'utf8'), /landlock/);
    await a.stop('halfway', 0);
  });

  test('a restore that fails leaves the container stopped and its checkpoint in place', async () => {
    // "counter" was checkpointed (stopped) above and nothing touched its files
    // since: its checkpoint restores, once the pages image is back.
    const dir = join(a.paths('counter').dir, 'checkpoint');
    const pages = readdirSync(dir).find((f) => /^pages-\d+\.img$/.test(f))!;
    renameSync(join(dir, pages), join(work, pages));
    try {
      await assert.rejects(
        () => restore(a, 'counter'),
        (err: unknown) => err instanceof IglooError && /Cannot restore "counter"/.test(err.message),
      );
      assert.equal((await a.state('counter')).status, 'stopped');
      assert.ok(!existsSync(a.paths('counter').rundir), 'no run directory left');
    } finally {
      renameSync(join(work, pages), join(dir, pages));
    }
    const r = await restore(a, 'counter');
    assert.equal(insidePid(r.pid), '1');
    await waitCount(a, 'counter', count(a, 'counter'));
    await consoleAnswers(a, 'counter');
    await a.stop('counter', 0);
  });
});
