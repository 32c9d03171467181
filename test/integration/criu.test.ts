/**
 * Checkpoint and restore with CRIU (root only, as CRIU requires): a busybox
 * container whose init counts in memory is dumped, restored (the count goes
 * on, pids inside are unchanged), exported to an archive and imported into a
 * second igloo data directory (another "host") and restored there. Needs a
 * criu >= 4.1 (scripts/install-criu.sh): fails loudly without one.
 */
import assert from 'node:assert/strict';
import { chownSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Igloo, IglooError } from '../../src/api/index.ts';
import { checkpoint, exportContainer, importContainer, restore } from '../../src/api/index.ts';
import { findCriu } from '../../src/host/criu.ts';
import { Cleanup, procStatus, requireRoot, tempDir } from '../support/host.ts';

const cleanup = new Cleanup();
let a: Igloo;
let b: Igloo;
let work: string;

const COUNTER = 'i=0\nwhile :; do i=$((i+1)); echo $i > /tmp/count; sleep 0.1; done\n';

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
/** The pid of init inside its pid namespace (last NSpid field). */
function insidePid(pid: number): string {
  return procStatus(pid).NSpid!.split(/\s+/).pop()!;
}

async function makeCounter(api: Igloo, name: string): Promise<void> {
  await api.create(name, { init: ['/bin/sh', '/count.sh'] });
  const rootfs = api.paths(name).rootfs;
  const owner = statSync(join(rootfs, 'bin'));
  writeFileSync(join(rootfs, 'count.sh'), COUNTER, { mode: 0o755 });
  chownSync(join(rootfs, 'count.sh'), owner.uid, owner.gid);
}

async function stopQuietly(api: Igloo, name: string): Promise<void> {
  if ((await api.state(name).catch(() => undefined))?.status === 'running') await api.stop(name, 0);
}

before(async () => {
  requireRoot();
  const criu = await findCriu();
  if (!criu)
    throw new Error('criu >= 4.1 is missing: run scripts/install-criu.sh as root (CI does)');
  work = tempDir(cleanup, 'igloo-criu-');
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
});
after(() => cleanup.run());

describe('criu', () => {
  test('a pty-console container cannot be dumped; it stays running and says why', async () => {
    await makeCounter(a, 'ptyc');
    const st = await a.start('ptyc');
    await waitCount(a, 'ptyc', 2);
    await assert.rejects(
      () => checkpoint(a, 'ptyc', { timeoutSeconds: 30 }),
      (err: unknown) =>
        err instanceof IglooError &&
        /criu dump failed/.test(err.message) &&
        /still running/.test(err.message),
    );
    const now = await a.state('ptyc');
    assert.equal(now.status, 'running');
    assert.equal(now.pid, st.pid);
    const n = count(a, 'ptyc');
    await waitCount(a, 'ptyc', n);
    assert.ok(!existsSync(join(a.paths('ptyc').dir, 'checkpoint')), 'no half checkpoint left');
    await a.stop('ptyc', 0);
  });

  test('checkpoint, restore: the count goes on, pids inside unchanged', async () => {
    await makeCounter(a, 'counter');
    const started = await a.start('counter', { console: 'null' });
    const before1 = await waitCount(a, 'counter', 3);
    const inside = insidePid(started.pid!);
    assert.equal(inside, '1');

    // --leave-running: dumped and still counting
    const kept = await checkpoint(a, 'counter', { leaveRunning: true });
    assert.ok(kept.bytes > 0);
    assert.equal((await a.state('counter')).status, 'running');
    await waitCount(a, 'counter', before1 + 1);

    // a real checkpoint stops it
    const dumped = await checkpoint(a, 'counter');
    const atDump = count(a, 'counter');
    const state = await a.state('counter');
    assert.equal(state.status, 'stopped');
    assert.match(state.lastExit ?? '', /checkpointed/);
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(count(a, 'counter'), atDump, 'nothing counts while checkpointed');
    assert.ok(existsSync(join(dumped.dir, 'igloo-checkpoint.json')));

    // restore onto a running container is refused, and leaves it running
    const r = await restore(a, 'counter');
    await assert.rejects(
      () => restore(a, 'counter'),
      (err: unknown) => err instanceof IglooError && err.code === 'ESTATE',
    );
    const after1 = await waitCount(a, 'counter', atDump);
    assert.ok(after1 > atDump && after1 < atDump + 30, `count went on from ${atDump}: ${after1}`);
    assert.equal(insidePid(r.pid), inside, 'init keeps pid 1 inside');
    // the restored init is the restore helper's child, which monitors it
    const monitor = Number(procStatus(r.pid).PPid);
    assert.match(readFileSync(`/proc/${monitor}/cmdline`, 'utf8'), /igloo-helper\0restore/);
    assert.equal((await a.state('counter')).status, 'running');
    // exec joins the restored container (its cgroup namespace is the initial
    // user namespace's after a restore: joined before the user namespace)
    const ex = await a.exec('counter', [
      '/bin/sh',
      '-c',
      'test "$(cat /proc/1/comm)" = sh && exit 3',
    ]);
    assert.equal(ex.exitCode, 3);

    // the monitor records the exit of the restored init
    await a.stop('counter', 0);
    const exit = readFileSync(a.paths('counter').exitFile, 'utf8');
    assert.match(exit, /^signaled SIGKILL\n\d+\n$/);
    assert.equal((await a.state('counter')).status, 'stopped');
  });

  test('export, import into another data directory, restore there', async () => {
    await restore(a, 'counter'); // from the checkpoint made above (it stays valid)
    const n = await waitCount(a, 'counter', 0);
    await checkpoint(a, 'counter');
    const atDump = count(a, 'counter');
    assert.ok(atDump >= n);
    const archive = join(work, 'counter.tar');
    const ex = await exportContainer(a, 'counter', archive);
    assert.equal(ex.checkpoint, true);

    const imp = await importContainer(b, archive);
    assert.equal(imp.name, 'counter');
    assert.equal(imp.remapped, false, 'the slice is free on the target');
    assert.deepEqual(imp.idmap, (await a.config('counter')).idmap);
    // a second import under the same name is refused
    await assert.rejects(
      () => importContainer(b, archive),
      (err: unknown) => err instanceof IglooError && err.code === 'EEXIST',
    );
    const r = await restore(b, 'counter');
    const moved = await waitCount(b, 'counter', atDump);
    assert.ok(moved < atDump + 30, `count went on from ${atDump}: ${moved}`);
    assert.equal(insidePid(r.pid), '1');
    assert.equal((await b.state('counter')).status, 'running');
    assert.equal((await a.state('counter')).status, 'stopped', 'the original stays checkpointed');

    // Imported where its slice is taken: new slice, ownership shifted, and
    // its checkpoint refused with a clear message.
    const again = await importContainer(b, archive, { name: 'counter2' });
    assert.equal(again.remapped, true);
    const base = again.idmap.uid[0]!.outside;
    assert.notEqual(base, imp.idmap.uid[0]!.outside);
    assert.equal(statSync(join(b.paths('counter2').rootfs, 'bin')).uid, base);
    await assert.rejects(
      () => restore(b, 'counter2'),
      (err: unknown) => err instanceof IglooError && /another id map/.test(err.message),
    );
    await b.stop('counter', 0);
  });
});
