/**
 * Attacks through container archives and checkpoints (issue 13, items 3 and
 * 6), each done for real against root's `igloo import-container`,
 * `igloo restore` and `igloo export`:
 *
 * - an archive with device nodes (kmsg 1:11 and null 1:3, 0666, a loop
 *   block device): none may exist in the imported rootfs, none opens inside;
 * - an archive whose config binds a host path, turns seccomp off, keeps
 *   capabilities, drops namespaces: the lines are refused and reported (CLI
 *   text and --json), the imported config lacks them;
 * - checkpoints root did not make: images edited to map host uid 0, a
 *   hand-made (unsigned) manifest, one re-signed with a key of the
 *   attacker's, one copied from another data directory: restore refuses each
 *   naming why, and criu never runs; a checkpoint this host made still
 *   restores after export and import;
 * - member names that climb out ("..", absolute, a hard link to /etc/shadow,
 *   a symlink then a file through it), a huge config, a manifest naming
 *   "../x", a claimed id map of host ids root does not own;
 * - export into a shared sticky directory where another user planted links
 *   at the names the old code used (FILE.manifest.tmp, FILE.tmp, FILE): a
 *   root-owned 0600 file stays untouched, and the archive is 0600.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import {
  chmodSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Igloo, IglooError } from '../../src/api/index.ts';
import { checkpoint, exportContainer, importContainer, restore } from '../../src/api/index.ts';
import { encodeUsernsImage } from '../../src/core/criu/userns-image.ts';
import { findCriu } from '../../src/host/criu.ts';
import {
  Cleanup,
  createUser,
  ensureRootDelegation,
  procStatus,
  requireRoot,
  runAs,
  stagedCli,
  tempDir,
  type TestUser,
} from '../support/host.ts';

const cleanup = new Cleanup();
let a: Igloo;
let b: Igloo;
let c: Igloo;
let work: string;
let user: TestUser;
/** A plain export of a stopped busybox container of a. */
let plain: string;
/** An export of a checkpointed busybox container of a. */
let signed: string;

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** Unpacks an archive as root (GNU tar, owners and modes kept) into a new directory. */
function unpack(archive: string, dir: string): string {
  mkdirSync(dir);
  sh('tar', ['-x', '-f', archive, '-C', dir, '--numeric-owner', '--same-permissions', '--xattrs']);
  return dir;
}

/** Packs DIR's members into ARCHIVE, then appends EXTRA (hand-made tar members). */
function pack(dir: string, archive: string, extra: Buffer = Buffer.alloc(0)): string {
  const members = readdirSync(dir).sort((x, y) =>
    x === 'igloo-export.json' ? -1 : y === 'igloo-export.json' ? 1 : x < y ? -1 : 1,
  );
  sh('tar', [
    '-c',
    '-f',
    archive,
    '--format=posix',
    '--numeric-owner',
    '--xattrs',
    '-C',
    dir,
    ...members,
  ]);
  if (extra.length === 0) return archive;
  const tar = readFileSync(archive);
  writeFileSync(
    archive,
    Buffer.concat([tar.subarray(0, endOfArchive(tar)), extra, Buffer.alloc(1024)]),
  );
  return archive;
}

/** Offset of the end-of-archive zero block (after the last member). */
function endOfArchive(tar: Buffer): number {
  let at = 0;
  while (at + 512 <= tar.length) {
    const h = tar.subarray(at, at + 512);
    if (h.every((x) => x === 0)) return at;
    const size = parseInt(
      h.subarray(124, 136).toString('latin1').replace(/\0.*$/, '').trim() || '0',
      8,
    );
    at += 512 + Math.ceil(size / 512) * 512;
  }
  throw new Error('no end of archive');
}

/** One ustar member, by hand: any name, any type. */
function member(
  name: string,
  opts: {
    type?: string;
    data?: string | Buffer;
    mode?: number;
    uid?: number;
    gid?: number;
    link?: string;
    major?: number;
    minor?: number;
  } = {},
): Buffer {
  const data = Buffer.from(opts.data ?? '');
  const h = Buffer.alloc(512);
  const put = (off: number, len: number, s: string) => h.write(s, off, len, 'latin1');
  const oct = (off: number, len: number, n: number) =>
    put(off, len, n.toString(8).padStart(len - 1, '0') + '\0');
  put(0, 100, name);
  oct(100, 8, opts.mode ?? 0o644);
  oct(108, 8, opts.uid ?? 0);
  oct(116, 8, opts.gid ?? 0);
  oct(124, 12, data.length);
  oct(136, 12, 0);
  put(148, 8, '        ');
  put(156, 1, opts.type ?? '0');
  put(157, 100, opts.link ?? '');
  put(257, 6, 'ustar\0');
  put(263, 2, '00');
  oct(329, 8, opts.major ?? 0);
  oct(337, 8, opts.minor ?? 0);
  let sum = 0;
  for (const x of h) sum += x;
  put(148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
  const pad = Buffer.alloc((512 - (data.length % 512)) % 512);
  return Buffer.concat([h, data, pad]);
}

/** Every device node under DIR. */
function devicesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    const p = join(e.parentPath, e.name);
    const st = lstatSync(p);
    if (st.isCharacterDevice() || st.isBlockDevice()) out.push(p);
  }
  return out;
}

function cliAsRoot(api: Igloo, args: string[]) {
  return runAs('root', [process.execPath, stagedCli(cleanup), ...args], {
    env: { IGLOO_DATA_DIR: api.dirs.data, IGLOO_RUN_DIR: api.dirs.run },
  });
}

async function stopQuietly(api: Igloo, name: string): Promise<void> {
  if ((await api.state(name).catch(() => undefined))?.status === 'running') await api.stop(name, 0);
}

/** Restore must refuse, say WHY, and never run criu (no restore.log, still stopped). */
async function refusedRestore(api: Igloo, name: string, why: RegExp): Promise<void> {
  const dir = join(api.paths(name).dir, 'checkpoint');
  rmSync(join(dir, 'restore.log'), { force: true });
  let restored: { pid: number } | undefined;
  let error: unknown;
  try {
    restored = await restore(api, name);
  } catch (err) {
    error = err;
  }
  if (restored) {
    // what the attack got: the restored init and its host credentials
    const st = procStatus(restored.pid);
    await api.stop(name, 0);
    assert.fail(
      `restore ran a checkpoint this host did not make: init is host pid ${restored.pid}, Uid ${st.Uid}, CapEff ${st.CapEff}`,
    );
  }
  const message = error instanceof Error ? error.message : String(error);
  assert.ok(
    error instanceof IglooError &&
      error.code === 'EUNSAFE' &&
      message.includes(`Cannot restore "${name}"`) &&
      why.test(message),
    `restore must refuse with ${why}: ${message}`,
  );
  assert.equal((await api.state(name)).status, 'stopped');
  assert.ok(!existsSync(join(dir, 'restore.log')), 'criu never ran');
}

before(async () => {
  requireRoot();
  if (!(await findCriu()))
    throw new Error(
      'a criu that suits this kernel is missing: run scripts/install-criu.sh as root',
    );
  await ensureRootDelegation(cleanup);
  work = tempDir(cleanup, 'igloo-arch-atk-');
  user = createUser(cleanup, 'igloo-arch-atk');
  a = new Igloo({ data: join(work, 'a/data'), run: join(work, 'a/run') });
  b = new Igloo({ data: join(work, 'b/data'), run: join(work, 'b/run') });
  c = new Igloo({ data: join(work, 'c/data'), run: join(work, 'c/run') });
  for (const api of [a, b, c]) {
    cleanup.add(`destroy the containers of ${api.dirs.data}`, async () => {
      for (const n of await api.names()) {
        await stopQuietly(api, n);
        await api.destroy(n, { force: true });
      }
    });
  }
  stagedCli(cleanup);
  await a.create('plain');
  plain = (await exportContainer(a, 'plain', join(work, 'plain.tar'))).file;
  await a.create('ck');
  await a.start('ck');
  await checkpoint(a, 'ck');
  signed = (await exportContainer(a, 'ck', join(work, 'ck.tar'))).file;
});
after(() => cleanup.run());

describe('archive attacks', () => {
  test('device nodes in an archive are not made, and none opens inside', async () => {
    const dir = unpack(plain, join(work, 'devs'));
    const owner = statSync(join(dir, 'rootfs/bin'));
    for (const [node, kind, major, minor] of [
      ['evil-kmsg', 'c', 1, 11],
      ['evil-null', 'c', 1, 3],
      ['evil-loop', 'b', 7, 0],
    ] as const) {
      const p = join(dir, 'rootfs', node);
      sh('mknod', ['-m', '0666', p, kind, String(major), String(minor)]);
      sh('chown', [`${owner.uid}:${owner.gid}`, p]);
    }
    const archive = pack(dir, join(work, 'devs.tar'));
    const r = await importContainer(b, archive, { name: 'devs' });
    const rootfs = b.paths('devs').rootfs;
    assert.deepEqual(devicesUnder(rootfs), [], 'no device node in the imported rootfs');
    await b.start('devs');
    const inside = await b.exec('devs', [
      '/bin/sh',
      '-c',
      'for f in /evil-kmsg /evil-null /evil-loop; do test -e $f && exit 7; done; exit 3',
    ]);
    assert.equal(inside.exitCode, 3, 'none of the nodes exists inside');
    for (const node of ['evil-kmsg', 'evil-null', 'evil-loop'])
      assert.ok(
        r.skipped.some((s) => s.includes(`rootfs/${node}`) && /Device/.test(s)),
        `${node} reported: ${r.skipped.join('; ')}`,
      );
    await b.stop('devs', 0);
  });

  test('config lines create would not write are refused, reported and not applied', async () => {
    const dir = unpack(plain, join(work, 'cfg'));
    writeFileSync(
      join(dir, 'config'),
      readFileSync(join(dir, 'config'), 'utf8') +
        [
          'igloo.mount = /etc /hostetc rw',
          'igloo.seccomp = unconfined',
          'igloo.cap.keep = sys_admin, sys_module',
          'igloo.namespaces = user,mnt,pid',
          'igloo.rlimit = RLIMIT_NOFILE 1048576',
          '',
        ].join('\n'),
    );
    const archive = pack(dir, join(work, 'cfg.tar'));
    const res = await cliAsRoot(b, ['import-container', archive, '--name', 'cfg', '--json']);
    assert.equal(res.status, 0, res.stderr);
    const cfg = await b.config('cfg');
    assert.deepEqual(cfg.mounts, [], 'no host bind mount');
    assert.equal(cfg.seccomp?.profile, 'default');
    assert.deepEqual(cfg.caps?.keep, []);
    assert.equal(cfg.namespaces.length, 7);
    assert.deepEqual(cfg.rlimits, []);
    assert.doesNotMatch(
      readFileSync(b.paths('cfg').config, 'utf8'),
      /hostetc|unconfined|sys_admin/,
    );
    const json = JSON.parse(res.stdout) as { refused: Array<{ key: string; why: string }> };
    assert.deepEqual(
      json.refused.map((x) => x.key),
      ['igloo.mount', 'igloo.seccomp', 'igloo.cap.keep', 'igloo.namespaces', 'igloo.rlimit'],
    );
    // the text output names them too
    const text = await cliAsRoot(b, ['import-container', archive, '--name', 'cfg2']);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /Refused 5 lines of the archive's config/);
    assert.match(text.stdout, /igloo\.mount = \/etc \/hostetc rw: a bind mount of a host path/);
  });

  test('a checkpoint this host made restores after export and import', async () => {
    const r = await importContainer(b, signed, { name: 'ck' });
    assert.equal(r.checkpoint, true);
    assert.equal(r.checkpointRefused, undefined);
    const restored = await restore(b, 'ck');
    assert.equal(procStatus(restored.pid).NSpid!.split(/\s+/).pop(), '1');
    await b.stop('ck', 0);
    const key = statSync('/var/lib/igloo/checkpoint.key');
    assert.equal(key.mode & 0o777, 0o600);
    assert.equal(key.uid, 0);
    assert.equal(key.size, 32);
  });

  test('images edited to map host uid 0 are refused by import and by restore', async () => {
    const dir = unpack(signed, join(work, 'evil'));
    const cdir = join(dir, 'checkpoint');
    const manifest = JSON.parse(readFileSync(join(cdir, 'igloo-checkpoint.json'), 'utf8'));
    const base = manifest.idmap.uid[0].outside as number;
    const rootMap = [
      { inside: 0, outside: 0, count: 1 },
      { inside: 1, outside: base + 1, count: 65535 },
    ];
    for (const f of readdirSync(cdir).filter((x) => /^userns-\d+\.img$/.test(x)))
      writeFileSync(join(cdir, f), encodeUsernsImage({ uid: rootMap, gid: rootMap }));
    // into a data directory with no containers: the exported slice is free
    // there and kept, so the edited userns image is what criu would get
    const r = await importContainer(c, pack(dir, join(work, 'evil.tar')), { name: 'evil' });
    assert.equal(r.remapped, false);
    await refusedRestore(c, 'evil', /signature does not match/);
    assert.equal(r.checkpoint, false);
    assert.match(r.checkpointRefused ?? '', /signature does not match/);
  });

  test('a hand-made (unsigned) checkpoint manifest is refused', async () => {
    const dir = unpack(signed, join(work, 'unsigned'));
    const path = join(dir, 'checkpoint/igloo-checkpoint.json');
    const {
      mac: _mac,
      container: _c,
      config: _cfg,
      ...rest
    } = JSON.parse(readFileSync(path, 'utf8'));
    writeFileSync(path, JSON.stringify(rest));
    const r = await importContainer(b, pack(dir, join(work, 'unsigned.tar')), {
      name: 'unsigned',
    });
    await refusedRestore(b, 'unsigned', /not signed by this host/);
    assert.equal(r.checkpoint, false);
  });

  test('a checkpoint re-signed with a key of the attacker is refused', async () => {
    const dir = unpack(signed, join(work, 'resigned'));
    const path = join(dir, 'checkpoint/igloo-checkpoint.json');
    const m = JSON.parse(readFileSync(path, 'utf8'));
    // what an attacker can compute: any text, under a key that is not the host's
    m.mac = createHmac('sha256', randomBytes(32)).update(JSON.stringify(m)).digest('hex');
    writeFileSync(path, JSON.stringify(m));
    await importContainer(b, pack(dir, join(work, 'resigned.tar')), { name: 'resigned' });
    await refusedRestore(b, 'resigned', /signature does not match/);
  });

  test('a checkpoint copied from another data directory is refused', async () => {
    // b's "ck" has its own signed checkpoint (imported above): replace it by a's
    const dest = join(b.paths('ck').dir, 'checkpoint');
    rmSync(dest, { recursive: true });
    cpSync(join(a.paths('ck').dir, 'checkpoint'), dest, { recursive: true });
    await refusedRestore(b, 'ck', /made for another container/);
  });

  test('member names that climb out, hard links to host files and a huge config stop the import', async () => {
    const dir = unpack(plain, join(work, 'names'));
    const base = pack(dir, join(work, 'names-base.tar'));
    // owned by the exported slice, as export writes them
    const { uid, gid } = statSync(join(dir, 'rootfs/bin'));
    const outside = join(work, 'escaped');
    const cases: Array<[string, Buffer, RegExp]> = [
      [
        'dotdot',
        member(`rootfs/../../../../../..${outside}`, { data: 'x' }),
        /has a "\.\." in its name/,
      ],
      ['abs', member(outside, { data: 'x' }), /an absolute name/],
      [
        'hardlink',
        member('rootfs/shadow', { type: '1', link: '/etc/shadow', uid, gid }),
        /hard link to "\/etc\/shadow", outside the rootfs/,
      ],
      ['stranger', member('notes.txt', { data: 'x' }), /not a member igloo export writes/],
    ];
    for (const [name, extra, why] of cases) {
      const tar = readFileSync(base);
      const archive = join(work, `names-${name}.tar`);
      writeFileSync(
        archive,
        Buffer.concat([tar.subarray(0, endOfArchive(tar)), extra, Buffer.alloc(1024)]),
      );
      await assert.rejects(
        () => importContainer(b, archive, { name: `names-${name}` }),
        (err: unknown) =>
          err instanceof IglooError && err.code === 'EUNSAFE' && why.test(err.message),
        name,
      );
      assert.ok(!existsSync(b.paths(`names-${name}`).dir), `${name}: nothing imported`);
      assert.ok(!existsSync(outside), `${name}: nothing written outside`);
    }
    // a symlink to / and then a file through it: lands inside the rootfs
    const through = join(work, 'names-link.tar');
    const tar = readFileSync(base);
    writeFileSync(
      through,
      Buffer.concat([
        tar.subarray(0, endOfArchive(tar)),
        member('rootfs/up', { type: '2', link: '/', uid, gid }),
        member(`rootfs/up${outside}`, { data: 'x', uid, gid }),
        Buffer.alloc(1024),
      ]),
    );
    await importContainer(b, through, { name: 'names-link' });
    assert.ok(!existsSync(outside), 'nothing written outside');
    assert.equal(readFileSync(join(b.paths('names-link').rootfs, outside), 'utf8'), 'x');
    // a config bigger than any igloo writes
    rmSync(join(dir, 'config'));
    writeFileSync(join(dir, 'config'), `# ${'x'.repeat(2 << 20)}\n`);
    await assert.rejects(
      () => importContainer(b, pack(dir, join(work, 'names-huge.tar')), { name: 'names-huge' }),
      (err: unknown) => err instanceof IglooError && /config is larger than/.test(err.message),
    );
  });

  test('a manifest naming ../x or claiming host ids root does not own', async () => {
    const dir = unpack(plain, join(work, 'claims'));
    const path = join(dir, 'igloo-export.json');
    const m = JSON.parse(readFileSync(path, 'utf8'));
    writeFileSync(path, JSON.stringify({ ...m, name: '../x' }));
    await assert.rejects(
      () => importContainer(b, pack(dir, join(work, 'claims-name.tar'))),
      (err: unknown) =>
        err instanceof IglooError && err.code === 'EINVAL' && /\.\.\/x/.test(err.message),
    );
    assert.ok(!existsSync(join(b.dirs.data, 'x')));
    // the archive claims the test user's ids (files owned by them): never used
    const uidOwner = user.uid;
    const theirs = [{ inside: 0, outside: uidOwner, count: 1 }];
    writeFileSync(path, JSON.stringify({ ...m, idmap: { uid: theirs, gid: theirs } }));
    sh('chown', ['-R', `${uidOwner}:${uidOwner}`, join(dir, 'rootfs')]);
    const r = await importContainer(b, pack(dir, join(work, 'claims-ids.tar')), { name: 'claims' });
    assert.equal(r.remapped, true);
    assert.notEqual(r.idmap.uid[0]!.outside, uidOwner);
    const st = statSync(join(b.paths('claims').rootfs, 'bin'));
    assert.equal(st.uid, r.idmap.uid[0]!.outside, 'files belong to the new slice, not the user');
  });

  test('export through a shared directory: planted links are not followed, the archive is 0600', async () => {
    const shared = join(work, 'shared');
    mkdirSync(shared);
    chmodSync(shared, 0o1777);
    const secretDir = join(work, 'secret');
    mkdirSync(secretDir, { mode: 0o755 });
    const secret = join(secretDir, 'secret');
    writeFileSync(secret, 'root secret\n', { mode: 0o600 });
    const file = join(shared, 'x.tar');
    for (const name of ['x.tar.manifest.tmp', 'x.tar.tmp']) {
      const r = await runAs(user, ['ln', '-s', secret, join(shared, name)]);
      assert.equal(r.status, 0, r.stderr);
    }
    await exportContainer(a, 'plain', file);
    assert.equal(readFileSync(secret, 'utf8'), 'root secret\n', 'the root file is untouched');
    assert.equal(statSync(secret).mode & 0o777, 0o600);
    const st = lstatSync(file);
    assert.ok(st.isFile(), 'the archive is a regular file');
    assert.equal(st.mode & 0o777, 0o600, 'the archive holds process memory: 0600');
    assert.equal(st.uid, 0);
    assert.deepEqual(readdirSync(shared).sort(), ['x.tar', 'x.tar.manifest.tmp', 'x.tar.tmp']);
    // a link planted at the archive's own name is replaced, never followed
    rmSync(file);
    const r = await runAs(user, ['ln', '-s', secret, file]);
    assert.equal(r.status, 0, r.stderr);
    await exportContainer(a, 'plain', file);
    assert.equal(readFileSync(secret, 'utf8'), 'root secret\n');
    assert.ok(lstatSync(file).isFile());
  });
});
