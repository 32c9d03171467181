/**
 * Root's containers made from one imported image share it: the image is kept
 * once with its stored ids shifted to 0x7FFF0000+ (no file is host root's) and each container's rootfs is an overlay over an
 * idmapped mount of it. Checked from the host (inodes, owners, the upper
 * directories) and from inside (owners, isolation between the two). Where
 * the file system refuses idmapped mounts (ramfs) the image is copied, and
 * create says so.
 *
 * Root's delegation for these containers comes from a private subuid file
 * (IGLOO_SUBUID) with ids 20,000,000.., and they live in a temporary data
 * directory (IGLOO_DATA_DIR), so nothing of /var/lib/igloo is touched.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  Cleanup,
  assertRangeFree,
  igloo,
  requireRoot,
  rootTestEnv,
  stagedCli,
  tempDir,
} from '../support/host.ts';
import { CAP_NET_RAW, getcapEntries, makeTar, ociArchive, type TarEntry } from '../support/oci.ts';

const cleanup = new Cleanup();
const BASE = 20_000_000;
/** Where root's shared images keep their ids (lifecycle/idmapped.ts). */
const SHARED_BASE = 0x7fff0000;
let dir: string;
let env: Record<string, string>;

const root = (args: string[], extra: Record<string, string> = {}) =>
  igloo(cleanup, 'root', args, { env: { ...env, ...extra } });

function layer(): Buffer {
  const applets = ['sh', 'id', 'ls', 'cat', 'echo', 'stat', 'test', 'rm'];
  const entries: TarEntry[] = [
    { path: 'bin/', type: 'dir' },
    { path: 'bin/busybox', data: readFileSync('/bin/busybox'), mode: 0o755 },
    ...applets.map((a): TarEntry => ({ path: `bin/${a}`, type: 'symlink', linkpath: 'busybox' })),
    { path: 'etc/', type: 'dir' },
    { path: 'etc/passwd', data: 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/opt:/bin/sh\n' },
    { path: 'etc/group', data: 'root:x:0:\napp:x:1000:\n' },
    { path: 'etc/motd', data: 'from the image\n' },
    { path: 'opt/', type: 'dir', uid: 1000, gid: 1000 },
    { path: 'opt/app-file', data: 'app\n', uid: 1000, gid: 1000, mode: 0o640 },
  ];
  return makeTar(entries);
}

/** Every path of a tree with its owner, mode and content hash (symlinks: target). */
function snapshot(top: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    const full = join(top, rel);
    const st = lstatSync(full);
    let what = '';
    if (st.isFile()) what = createHash('sha256').update(readFileSync(full)).digest('hex');
    else if (st.isSymbolicLink()) what = `-> ${spawnSync('readlink', [full]).stdout}`;
    out.push(`${rel} ${st.uid}:${st.gid} ${(st.mode & 0o7777).toString(8)} ${st.ino} ${what}`);
    if (st.isDirectory()) for (const n of readdirSync(full).sort()) walk(join(rel, n));
  };
  walk('.');
  return out;
}

function filesUnder(top: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const n of readdirSync(join(top, rel))) {
      const p = join(rel, n);
      const st = lstatSync(join(top, p));
      if (st.isDirectory()) walk(p);
      else out.push(p);
    }
  };
  walk('');
  return out.sort();
}

interface Created {
  rootfs: string;
  idmap: { uid: Array<{ inside: number; outside: number; count: number }> };
}

async function create(name: string, image: string, extra: Record<string, string> = {}) {
  const r = await root(['create', name, '--image', image, '--json'], extra);
  assert.equal(r.status, 0, r.stderr);
  cleanup.add(`destroy ${name}`, async () => void (await root(['destroy', '--force', name])));
  return { config: JSON.parse(r.stdout) as Created, stderr: r.stderr };
}

before(async () => {
  requireRoot();
  stagedCli(cleanup);
  assertRangeFree(BASE, 1_000_000);
  dir = tempDir(cleanup, 'igloo-idmapped-');
  env = rootTestEnv(dir, BASE);
  writeFileSync(
    join(dir, 'app.tar'),
    ociArchive({ layers: [layer()], config: { Cmd: ['/bin/sh'] }, tag: 'localhost/shared:1' }),
  );
  const r = await root(['image', 'import', join(dir, 'app.tar'), '--name', 'shared']);
  assert.equal(r.status, 0, r.stderr);
});
after(() => cleanup.run());

describe("root's containers share one image through idmapped mounts", () => {
  test('two containers, one image: shared inodes, own ids, own writes, the image untouched', async () => {
    const a = await create('img-idm-a', 'shared');
    const b = await create('img-idm-b', 'shared');
    assert.equal(a.stderr, '', 'no note: the image is shared, not copied');
    const image = join(env.IGLOO_DATA_DIR!, 'images', 'shared+latest', 'rootfs-shifted');
    const before = snapshot(image);
    const baseA = a.config.idmap.uid[0]!.outside;
    const baseB = b.config.idmap.uid[0]!.outside;
    assert.notEqual(baseA, baseB, 'each container has its own slice');
    assert.ok(baseA >= BASE && baseB >= BASE);

    const info = JSON.parse((await root(['info', 'img-idm-a', '--json'])).stdout) as {
      rootfs: { kind: string; lower: string; upper: string };
    };
    assert.equal(info.rootfs.kind, 'idmapped-overlay');
    assert.equal(info.rootfs.lower, image);
    assert.match((await root(['info', 'img-idm-a'])).stdout, /rootfs +overlay of image shared/);

    // No copy: the container directories hold no file of the image.
    for (const name of ['img-idm-a', 'img-idm-b']) {
      const cdir = join(env.IGLOO_DATA_DIR!, 'containers', name);
      assert.deepEqual(filesUnder(join(cdir, 'upper')), [], `${name}: empty upper at first`);
      assert.deepEqual(readdirSync(join(cdir, 'rootfs')), [], `${name}: rootfs is a mount point`);
      assert.equal(statSync(join(cdir, 'upper')).uid, name.endsWith('a') ? baseA : baseB);
    }

    const busybox = statSync(join(image, 'bin/busybox'));
    assert.equal(
      busybox.uid,
      SHARED_BASE,
      'the image keeps its stored owner, shifted to ids no host user has',
    );
    const script = [
      'stat -c "%i %u:%g" /bin/busybox',
      'stat -c "%u:%g" /opt/app-file',
      'cat /etc/motd',
      'echo written-by-a > /etc/a-file',
      'rm /etc/motd',
      'stat -c "%u:%g" /etc/a-file',
    ].join('; ');
    let r = await root(['run', '--name', 'img-idm-a', '--', '/bin/sh', '-c', script]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(
      r.stdout,
      `${busybox.ino} 0:0\n1000:1000\nfrom the image\n0:0\n`,
      "inside, the image's own inode, owned by 0; the app's file by 1000",
    );

    r = await root([
      'run',
      '--name',
      'img-idm-b',
      '--',
      '/bin/sh',
      '-c',
      'stat -c "%i %u:%g" /bin/busybox; test ! -e /etc/a-file && echo no-a-file; cat /etc/motd',
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(
      r.stdout,
      `${busybox.ino} 0:0\nno-a-file\nfrom the image\n`,
      "b shares the same inode and sees neither a's file nor a's removal",
    );

    const upperA = join(env.IGLOO_DATA_DIR!, 'containers', 'img-idm-a', 'upper');
    const upperB = join(env.IGLOO_DATA_DIR!, 'containers', 'img-idm-b', 'upper');
    const written = statSync(join(upperA, 'etc/a-file'));
    assert.equal(written.uid, baseA, "a's write is owned by a's slice base on the host");
    assert.equal(written.gid, baseA);
    assert.equal(readFileSync(join(upperA, 'etc/a-file'), 'utf8'), 'written-by-a\n');
    assert.ok(statSync(join(upperA, 'etc/motd')).isCharacterDevice(), 'the removal is a whiteout');
    assert.deepEqual(
      filesUnder(upperB).filter((f) => f.startsWith('etc')),
      [],
      "nothing of a's in b's upper",
    );
    assert.deepEqual(snapshot(image), before, 'the image is unchanged: owners, modes, content');

    // The image is in use: rm is refused and names both containers.
    r = await root(['image', 'rm', 'shared']);
    assert.equal(r.status, 1);
    assert.match(
      r.stderr,
      /Cannot remove image "shared:latest": containers "img-idm-a", "img-idm-b" use it/,
    );
    assert.match(r.stderr, /igloo destroy img-idm-a/);

    // Export needs a rootfs of the container's own: refused clearly.
    r = await root(['export', 'img-idm-a', join(dir, 'a-export.tar')]);
    assert.equal(r.status, 1);
    assert.match(
      r.stderr,
      /Cannot export "img-idm-a": its rootfs is an overlay of the shared image "shared:latest"/,
    );

    // A detached start, exec and stop work on the overlay too.
    r = await root(['start', 'img-idm-a']);
    assert.equal(r.status, 0, r.stderr);
    r = await root([
      'exec',
      'img-idm-a',
      '--user',
      'app',
      '--',
      '/bin/sh',
      '-c',
      'id -u; cat /etc/a-file',
    ]);
    assert.equal(r.stdout, '1000\nwritten-by-a\n', r.stderr);
    assert.equal((await root(['stop', 'img-idm-a', '--timeout', '1'])).status, 0);

    for (const name of ['img-idm-a', 'img-idm-b'])
      assert.equal((await root(['destroy', name])).status, 0);
    assert.deepEqual(snapshot(image), before, 'destroy leaves the image intact');
    assert.deepEqual(readdirSync(join(env.IGLOO_DATA_DIR!, 'containers')), []);
    r = await root(['image', 'rm', 'shared']);
    assert.equal(r.status, 0, r.stderr);
  });

  test('file capabilities and xattrs of the image show through the idmapped overlay', async () => {
    const caps = makeTar([
      { path: 'bin/', type: 'dir' },
      { path: 'bin/busybox', data: readFileSync('/bin/busybox'), mode: 0o755 },
      { path: 'bin/sh', type: 'symlink', linkpath: 'busybox' },
      { path: 'bin/sleep', type: 'symlink', linkpath: 'busybox' },
      {
        path: 'bin/ping',
        data: readFileSync('/bin/busybox'),
        mode: 0o755,
        xattrs: { 'security.capability': CAP_NET_RAW, 'user.test': 'hello' },
      },
      ...getcapEntries(),
    ]);
    writeFileSync(
      join(dir, 'caps.tar'),
      ociArchive({ layers: [caps], config: { Cmd: ['/bin/sleep', '1000'] } }, { gzipLayers: true }),
    );
    let r = await root(['image', 'import', join(dir, 'caps.tar'), '--name', 'caps']);
    assert.equal(r.status, 0, r.stderr);
    const c = await create('img-idm-caps', 'caps');
    const base = c.config.idmap.uid[0]!.outside;
    const stored = join(env.IGLOO_DATA_DIR!, 'images', 'caps+latest', 'rootfs-shifted', 'bin/ping');
    const getcap = (path: string) =>
      spawnSync('getcap', ['-n', path], { encoding: 'utf8' }).stdout.trim();
    const getfattr = (path: string) =>
      spawnSync('getfattr', ['--only-values', '-n', 'user.test', path], { encoding: 'utf8' })
        .stdout;
    assert.equal(
      getcap(stored),
      `${stored} cap_net_raw=ep [rootid=${SHARED_BASE}]`,
      "the image keeps its capability, for the shifted root (none for host root's processes)",
    );
    assert.equal(getfattr(stored), 'hello');
    r = await root(['run', '--name', 'img-idm-caps', '--', '/usr/sbin/getcap', '/bin/ping']);
    assert.equal(r.stdout.trim(), '/bin/ping cap_net_raw=ep', r.stderr);
    r = await root(['start', 'img-idm-caps']);
    assert.equal(r.status, 0, r.stderr);
    const pid = (
      JSON.parse((await root(['info', 'img-idm-caps', '--json'])).stdout) as {
        state: { pid: number };
      }
    ).state.pid;
    const seen = `/proc/${pid}/root/bin/ping`;
    assert.equal(
      getcap(seen),
      `${seen} cap_net_raw=ep [rootid=${base}]`,
      "from the host, through the container's view: the capability belongs to its root",
    );
    assert.equal(getfattr(seen), 'hello');
    assert.equal((await root(['destroy', '--force', 'img-idm-caps'])).status, 0);
    assert.equal(
      getcap(stored),
      `${stored} cap_net_raw=ep [rootid=${SHARED_BASE}]`,
      'the image is unchanged',
    );
    assert.equal((await root(['image', 'rm', 'caps'])).status, 0);
  });

  test('export, then import into another slice: the shift keeps capabilities and set-id bits', async () => {
    const layer = makeTar([
      { path: 'bin/', type: 'dir' },
      { path: 'bin/busybox', data: readFileSync('/bin/busybox'), mode: 0o755 },
      { path: 'bin/sh', type: 'symlink', linkpath: 'busybox' },
      { path: 'bin/setuid-tool', data: readFileSync('/bin/busybox'), mode: 0o4755 },
      {
        path: 'bin/ping',
        data: readFileSync('/bin/busybox'),
        mode: 0o755,
        xattrs: { 'security.capability': CAP_NET_RAW, 'user.test': 'shifted' },
      },
    ]);
    writeFileSync(
      join(dir, 'shift.tar'),
      ociArchive({ layers: [layer], config: { Cmd: ['/bin/sh'] } }),
    );
    let r = await root(['image', 'import', join(dir, 'shift.tar'), '--name', 'shiftimg']);
    assert.equal(r.status, 0, r.stderr);
    // A copy (export needs a rootfs of the container's own).
    const c = await create('img-idm-exp', 'shiftimg', { IGLOO_IDMAPPED: '0' });
    const oldBase = c.config.idmap.uid[0]!.outside;
    const archiveFile = join(dir, 'exp.tar');
    r = await root(['export', 'img-idm-exp', archiveFile]);
    assert.equal(r.status, 0, r.stderr);
    // The original still holds its slice: the import must move to another one.
    r = await root(['import-container', archiveFile, '--name', 'img-idm-imp', '--json']);
    assert.equal(r.status, 0, r.stderr);
    cleanup.add(
      'destroy img-idm-imp',
      async () => void (await root(['destroy', '--force', 'img-idm-imp'])),
    );
    const imported = JSON.parse((await root(['info', 'img-idm-imp', '--json'])).stdout) as {
      config: Created;
    };
    const newBase = imported.config.idmap.uid[0]!.outside;
    assert.notEqual(newBase, oldBase);
    const rootfs = imported.config.rootfs;
    const ping = join(rootfs, 'bin/ping');
    assert.equal(statSync(ping).uid, newBase);
    assert.equal(
      spawnSync('getcap', ['-n', ping], { encoding: 'utf8' }).stdout.trim(),
      `${ping} cap_net_raw=ep [rootid=${newBase}]`,
      'the capability moved with the slice',
    );
    assert.equal(
      spawnSync('getfattr', ['--only-values', '-n', 'user.test', ping], { encoding: 'utf8' })
        .stdout,
      'shifted',
    );
    const setuid = statSync(join(rootfs, 'bin/setuid-tool'));
    assert.equal(setuid.uid, newBase);
    assert.equal(setuid.mode & 0o7777, 0o4755, 'chown did not cost the set-uid bit');
    r = await root([
      'run',
      '--name',
      'img-idm-imp',
      '--',
      '/bin/sh',
      '-c',
      'stat -c %u:%a /bin/setuid-tool',
    ]);
    assert.equal(r.stdout, '0:4755\n', r.stderr);
    for (const name of ['img-idm-imp', 'img-idm-exp'])
      assert.equal((await root(['destroy', name])).status, 0);
  });

  test('IGLOO_IDMAPPED=0 and a file system without idmapped mounts (ramfs) get a copy, said once', async () => {
    const file = join(dir, 'app.tar');
    // On ext4, asked for a copy: the container's own files, owned by its ids, no note.
    let r = await root(['image', 'import', file, '--name', 'copied']);
    assert.equal(r.status, 0, r.stderr);
    const c = await create('img-idm-copy', 'copied', { IGLOO_IDMAPPED: '0' });
    assert.equal(c.stderr, '');
    const base = c.config.idmap.uid[0]!.outside;
    assert.equal(statSync(join(c.config.rootfs, 'bin/busybox')).uid, base);
    assert.equal(statSync(join(c.config.rootfs, 'opt/app-file')).uid, base + 1000);
    assert.equal((await root(['destroy', 'img-idm-copy'])).status, 0);

    // A data directory on ramfs, which cannot be idmapped.
    const ram = join(dir, 'ram');
    mkdirSync(ram);
    const m = spawnSync('mount', ['-t', 'ramfs', 'igloo-test-ramfs', ram], { encoding: 'utf8' });
    assert.equal(m.status, 0, m.stderr);
    cleanup.add('umount ramfs', () => {
      spawnSync('umount', ['-l', ram]);
    });
    const ramEnv = { IGLOO_DATA_DIR: join(ram, 'data'), IGLOO_RUN_DIR: join(ram, 'run') };
    r = await root(['image', 'import', file, '--name', 'onram'], ramEnv);
    assert.equal(r.status, 0, r.stderr);
    r = await root(['create', 'img-idm-ram', '--image', 'onram', '--json'], ramEnv);
    cleanup.add('destroy img-idm-ram', async () => {
      await root(['destroy', '--force', 'img-idm-ram'], ramEnv);
    });
    assert.equal(r.status, 0, r.stderr);
    const notes = r.stderr.split('\n').filter((l) => l.includes('copied into the container'));
    assert.equal(notes.length, 1, r.stderr);
    assert.match(notes[0]!, /idmapped mounts refused \(EINVAL/);
    const config = JSON.parse(r.stdout) as Created;
    const ramBase = config.idmap.uid[0]!.outside;
    assert.equal(statSync(join(config.rootfs, 'bin/busybox')).uid, ramBase);
    r = await root(['info', 'img-idm-ram'], ramEnv);
    assert.match(
      r.stdout,
      /rootfs +\S+ \(a copy of image onram:latest: idmapped mounts refused \(EINVAL/,
    );
    r = await root(['run', '--name', 'img-idm-ram', '--', '/bin/cat', '/etc/motd'], ramEnv);
    assert.equal(r.stdout, 'from the image\n', r.stderr);
    assert.equal((await root(['destroy', 'img-idm-ram'], ramEnv)).status, 0);
  });
});
