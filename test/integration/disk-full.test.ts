/**
 * A full disk under the data directory (issue 18): the test mounts a small
 * tmpfs, gives it to a test user as IGLOO_DATA_DIR, fills it to a few
 * hundred kB of its end, and runs create and image import into it as the
 * user, checkpoint and export (CRIU's, root's) as root.
 * Each fails with an error that says the disk is full (ENOSPC), names the
 * path and what to do; what was there before is intact, and the space the
 * failed operation took is given back.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { checkpoint, exportContainer, Igloo, IglooError } from '../../src/api/index.ts';
import { asUser } from '../support/as-user.ts';
import {
  assertRangeFree,
  Cleanup,
  createUser,
  delegate,
  ensureRootDelegation,
  requireRoot,
  stagedCli,
  tempDir,
  type TestUser,
} from '../support/host.ts';
import { makeTar, ociArchive } from '../support/oci.ts';

const cleanup = new Cleanup();
const BASE = 620_000_000;
let user: TestUser;
let fs: string;
let env: Record<string, string>;
const me = asUser(cleanup, () => user);
const run = (args: string[]) => me.run(args, env);
const ok = (args: string[]) => me.ok(args, env);

/** Bytes in use on the tmpfs. */
function used(): number {
  const s = statfsSync(fs);
  return (s.blocks - s.bfree) * s.bsize;
}

/** Fills the tmpfs with a file of root's until LEAVE bytes are free; returns its remover. */
function fill(leave: number): () => void {
  const s = statfsSync(fs);
  const free = s.bavail * s.bsize;
  const path = join(fs, 'filler');
  writeFileSync(path, Buffer.alloc(Math.max(0, free - leave)));
  return () => rmSync(path, { force: true });
}

/** The error a full disk must give: ENOSPC said, a path named, what to do. */
function assertDiskFull(r: { status: number | null; stderr: string }, path: RegExp): void {
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /no space left on device|ENOSPC/i, r.stderr);
  assert.match(r.stderr, path, r.stderr);
  assert.match(r.stderr, /disk is full|free some space|space/i, r.stderr);
}

before(async () => {
  requireRoot();
  stagedCli(cleanup);
  assertRangeFree(BASE, 4 * 65536);
  user = createUser(cleanup, 'igloo-diskfull');
  await delegate(user, BASE, 4 * 65536);
  fs = tempDir(cleanup, 'igloo-diskfull-');
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=24m,mode=0711', 'igloo-diskfull', fs], {
    encoding: 'utf8',
  });
  if (m.status !== 0) throw new Error(`mount tmpfs on ${fs}: ${m.stderr}`);
  cleanup.add(`unmount ${fs}`, () => {
    // containers are destroyed by then (cleanup runs in reverse); lazily if still busy
    const u = spawnSync('umount', [fs], { encoding: 'utf8' });
    if (u.status !== 0) {
      const l = spawnSync('umount', ['-l', fs], { encoding: 'utf8' });
      if (l.status !== 0) throw new Error(`umount ${fs}: ${u.stderr} ${l.stderr}`);
    }
  });
  chownSync(fs, user.uid, user.gid);
  const runDir = tempDir(cleanup, 'igloo-diskfull-run-', 0o700);
  chownSync(runDir, user.uid, user.gid);
  env = { IGLOO_DATA_DIR: join(fs, 'data'), IGLOO_RUN_DIR: runDir };
  // The data directory's own files (directories, the one-shot slot) exist
  // before the measurements: a first container made and destroyed.
  await ok(['create', 'warmup']);
  await ok(['destroy', 'warmup']);
});
after(() => cleanup.run());

describe('a full disk', () => {
  test('create fails clearly, leaves no container, and gives the space back', async () => {
    const before = used();
    const unfill = fill(256 * 1024);
    try {
      const r = await run(['create', 'c1']);
      assertDiskFull(r, new RegExp(join(fs, 'data').replace(/[/.]/g, '\\$&')));
      assert.deepEqual(JSON.parse((await ok(['ls', '--json'])).stdout), []);
    } finally {
      unfill();
    }
    assert.equal(used(), before, 'the failed create left files behind');
    // and with the space back, the same create works
    me.destroyLater('c1');
    await ok(['create', 'c1']);
    await ok(['destroy', 'c1']);
    assert.equal(used(), before);
  });

  test('image import fails clearly, stores nothing, and gives the space back', async () => {
    const dir = tempDir(cleanup, 'igloo-diskfull-image-');
    const archive = join(dir, 'big.tar');
    // 3 MB that do not compress, in one layer
    const layer = makeTar([
      { path: 'bin/', type: 'dir' },
      { path: 'bin/big', data: randomBytes(3 * 2 ** 20), mode: 0o755 },
    ]);
    writeFileSync(archive, ociArchive({ layers: [layer], config: { Cmd: ['/bin/big'] } }));
    spawnSync('chmod', ['-R', 'a+rX', dir]);
    const images = (await ok(['image', 'ls', '--json'])).stdout;
    const before = used();
    const unfill = fill(512 * 1024);
    try {
      const r = await run(['image', 'import', archive, '--name', 'big']);
      assertDiskFull(r, new RegExp(`${join(fs, 'data').replace(/[/.]/g, '\\$&')}|big`));
      assert.equal((await ok(['image', 'ls', '--json'])).stdout, images, 'no image was stored');
    } finally {
      unfill();
    }
    assert.equal(used(), before, 'the failed import left files behind');
  });

  test("checkpoint and export (root's) fail clearly, keep the container, and give the space back", async () => {
    await ensureRootDelegation(cleanup);
    const api = new Igloo({ data: join(fs, 'root-data'), run: join(fs, 'root-run') });
    cleanup.add('destroy the root container on the tmpfs', async () => {
      for (const n of await api.names()) await api.destroy(n, { force: true });
    });
    await api.create('ck');
    const started = await api.start('ck', { console: 'null' });
    const before = used();
    const unfill = fill(64 * 1024);
    try {
      await assert.rejects(checkpoint(api, 'ck', { leaveRunning: true }), (err: unknown) => {
        assert.ok(err instanceof IglooError, String(err));
        assert.match(err.message, /no space left on device \(ENOSPC\)/, err.message);
        assert.ok(err.message.includes(api.paths('ck').dir), err.message);
        assert.match(err.hint ?? '', /Free some space/, err.hint);
        return true;
      });
    } finally {
      unfill();
    }
    // CRIU's log is kept for diagnosis, the images are not
    const log = join(api.paths('ck').dir, 'dump-failed.log');
    assert.ok(existsSync(log), 'the failed dump keeps its log');
    rmSync(log);
    assert.equal(used(), before, 'the failed checkpoint left images behind');
    const state = await api.state('ck');
    assert.equal(state.status, 'running');
    assert.equal(state.pid, started.pid, 'the same init runs on');
    assert.equal((await api.exec('ck', ['/bin/true'])).exitCode, 0);
    await api.stop('ck', 5);

    // export (root's too): the partial archive is removed, the container intact
    const file = join(fs, 'ck.tar');
    const config = readFileSync(api.paths('ck').config, 'utf8');
    const beforeExport = used();
    const unfill2 = fill(128 * 1024);
    try {
      await assert.rejects(exportContainer(api, 'ck', file), (err: unknown) => {
        assert.ok(err instanceof IglooError, String(err));
        assert.match(err.message, /no space left on device \(ENOSPC\)/, err.message);
        assert.match(err.hint ?? '', /Free some space/, err.hint);
        assert.match(err.message, /ck/);
        return true;
      });
      assert.equal(existsSync(file), false, 'the partial archive is removed');
    } finally {
      unfill2();
    }
    assert.equal(used(), beforeExport, 'the failed export left files behind');
    assert.equal(readFileSync(api.paths('ck').config, 'utf8'), config);
    assert.equal((await api.state('ck')).status, 'stopped');
    await exportContainer(api, 'ck', file);
    assert.ok(existsSync(file), 'with the space back, the export works');
    rmSync(file);
    await api.destroy('ck');
  });
});
