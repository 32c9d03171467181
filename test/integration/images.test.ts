/**
 * Images: OCI and docker archives made byte by byte by the test (including
 * entries no honest tool writes), imported and run by an unprivileged user.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  Cleanup,
  createUser,
  delegate,
  igloo,
  requireRoot,
  runAs,
  stagedCli,
  tempDir,
  type TestUser,
} from '../support/host.ts';
import {
  CAP_NET_RAW,
  getcapEntries,
  dockerArchive,
  makeTar,
  ociArchive,
  type ImageParts,
  type TarEntry,
} from '../support/oci.ts';

const cleanup = new Cleanup();
let user: TestUser;
let dir: string;
const SLICE = 16_000_000;

function baseLayer(): Buffer {
  const applets = ['sh', 'id', 'pwd', 'ls', 'cat', 'echo', 'test', 'stat'];
  const entries: TarEntry[] = [
    { path: 'bin/', type: 'dir' },
    { path: 'bin/busybox', data: readFileSync('/bin/busybox'), mode: 0o755 },
    ...applets.map((a): TarEntry => ({ path: `bin/${a}`, type: 'symlink', linkpath: 'busybox' })),
    { path: 'etc/', type: 'dir' },
    {
      path: 'etc/passwd',
      data: 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/opt:/bin/sh\n',
    },
    { path: 'etc/group', data: 'root:x:0:\napp:x:1000:\n' },
    { path: 'etc/removeme', data: 'lower layer\n' },
    { path: 'opt/', type: 'dir', uid: 1000, gid: 1000 },
    { path: 'opt/app-file', data: 'owned by app\n', uid: 1000, gid: 1000, mode: 0o640 },
    { path: 'opt/old/', type: 'dir' },
    { path: 'opt/old/hidden', data: 'hidden by an opaque whiteout\n' },
    { path: 'opt/pipe', type: 'fifo', mode: 0o620, uid: 1000, gid: 1000 },
    { path: 'opt/app-link', type: 'link', linkpath: 'opt/app-file', uid: 1000, gid: 1000 },
  ];
  return makeTar(entries);
}

function upperLayer(): Buffer {
  return makeTar([
    { path: 'etc/.wh.removeme' },
    { path: 'opt/old/.wh..wh..opq' },
    { path: 'opt/old/new', data: 'from the upper layer\n' },
  ]);
}

const appConfig: ImageParts['config'] = {
  Entrypoint: ['/bin/sh', '-c'],
  Cmd: ['echo from-image $GREETING; id -u; pwd'],
  Env: ['GREETING=hej'],
  WorkingDir: '/opt',
  User: 'app',
};

before(async () => {
  requireRoot();
  stagedCli(cleanup);
  user = createUser(cleanup, 'igloo-img');
  await delegate(user, SLICE, 1_000_000);
  dir = tempDir(cleanup, 'igloo-images-');
});
after(() => cleanup.run());

function archive(name: string, data: Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, data);
  return path;
}

describe('igloo image import and run', () => {
  test('an oci-archive with two layers: whiteouts, opaque directories, Entrypoint/Cmd/Env/WorkingDir/User', async () => {
    const file = archive(
      'app.oci.tar',
      ociArchive(
        { layers: [baseLayer(), upperLayer()], config: appConfig, tag: 'localhost/app:1.0' },
        { gzipLayers: true },
      ),
    );
    let r = await igloo(cleanup, user, ['image', 'import', file]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /Imported app:1.0 \(oci, 2 layers\)/);
    const ls = JSON.parse((await igloo(cleanup, user, ['image', 'ls', '--json'])).stdout) as Array<{
      name: string;
      ref?: string;
    }>;
    assert.deepEqual(
      ls.map((i) => i.ref ?? i.name),
      ['busybox', 'app:1.0'],
    );

    r = await igloo(cleanup, user, ['run', '--image', 'app:1.0']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'from-image hej\n1000\n/opt\n');

    r = await igloo(cleanup, user, [
      'run',
      '--image',
      'app:1.0',
      '--',
      'test ! -e /etc/removeme && ls /opt/old && stat -c %u:%g /opt/app-file',
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'new\n1000:1000\n');
  });

  test("files of an image belong to the container's ids on the host", async () => {
    const r = await igloo(cleanup, user, ['create', 'img-c1', '--image', 'app:1.0', '--json']);
    assert.equal(r.status, 0, r.stderr);
    cleanup.add(
      'destroy img-c1',
      async () => void (await igloo(cleanup, user, ['destroy', '--force', 'img-c1'])),
    );
    const config = JSON.parse(r.stdout) as {
      rootfs: string;
      idmap: { uid: Array<{ outside: number }> };
      user: { uid: number };
    };
    const first = config.idmap.uid[0]!.outside;
    assert.equal(config.user.uid, 1000, 'the image\'s User "app" was resolved in its /etc/passwd');
    assert.equal(statSync(join(config.rootfs, 'opt/app-file')).uid, first + 1000);
    assert.equal(statSync(join(config.rootfs, 'bin/busybox')).uid, first);
    const pipe = statSync(join(config.rootfs, 'opt/pipe'));
    assert.ok(pipe.isFIFO(), 'a named pipe survives');
    assert.equal(pipe.mode & 0o777, 0o620);
    assert.equal(pipe.uid, first + 1000);
    const link = statSync(join(config.rootfs, 'opt/app-link'));
    assert.equal(
      link.ino,
      statSync(join(config.rootfs, 'opt/app-file')).ino,
      'a hard link stays a hard link',
    );
    assert.equal((await igloo(cleanup, user, ['destroy', 'img-c1'])).status, 0);
  });

  test('a docker-archive imports and runs', async () => {
    const file = archive(
      'app.docker.tar',
      dockerArchive({
        layers: [baseLayer()],
        config: { Cmd: ['/bin/sh', '-c', 'echo docker-ok'] },
      }),
    );
    let r = await igloo(cleanup, user, ['image', 'import', file, '--name', 'dock']);
    assert.equal(r.status, 0, r.stderr);
    r = await igloo(cleanup, user, ['run', '--image', 'dock']);
    assert.equal(r.stdout, 'docker-ok\n');
    assert.equal((await igloo(cleanup, user, ['image', 'rm', 'dock'])).status, 0);
  });
});

describe('archives that podman saved', () => {
  test('podman save --format oci-archive and docker-archive both import and run', async () => {
    // podman (as root, private storage) builds an image from a busybox tree and saves it.
    const work = tempDir(cleanup, 'igloo-podman-');
    const tree = makeTar([
      { path: 'bin/', type: 'dir' },
      { path: 'bin/busybox', data: readFileSync('/bin/busybox'), mode: 0o755 },
      { path: 'bin/sh', type: 'symlink', linkpath: 'busybox' },
      { path: 'bin/echo', type: 'symlink', linkpath: 'busybox' },
    ]);
    writeFileSync(join(work, 'rootfs.tar'), tree);
    const podman = [
      'podman',
      '--root',
      join(work, 'storage'),
      '--runroot',
      join(work, 'run'),
      '--storage-driver',
      'vfs',
    ];
    const env = { XDG_DATA_HOME: join(work, 'data'), XDG_CONFIG_HOME: join(work, 'config') };
    let r = await runAs(
      'root',
      [
        ...podman,
        'import',
        '--change',
        'CMD ["/bin/sh","-c","echo podman-ok $0"]',
        join(work, 'rootfs.tar'),
        'localhost/pdm:1',
      ],
      { env },
    );
    assert.equal(r.status, 0, r.stderr);
    for (const format of ['oci-archive', 'docker-archive']) {
      const file = join(work, `pdm.${format}.tar`);
      r = await runAs(
        'root',
        [...podman, 'save', '--format', format, '-o', file, 'localhost/pdm:1'],
        { env },
      );
      assert.equal(r.status, 0, r.stderr);
      chmodSync(file, 0o644);
      r = await igloo(cleanup, user, ['image', 'import', file, '--name', `pdm-${format}`]);
      assert.equal(r.status, 0, r.stderr);
      r = await igloo(cleanup, user, ['run', '--image', `pdm-${format}`]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, 'podman-ok /bin/sh\n');
      assert.equal((await igloo(cleanup, user, ['image', 'rm', `pdm-${format}`])).status, 0);
    }
  });
});

describe('hostile and broken archives', () => {
  test('"..", absolute paths, symlinks out of the rootfs, hard links and device nodes never write outside', async () => {
    const outside = join(user.home, 'outside');
    const evil = makeTar([
      { path: 'bin/', type: 'dir' },
      { path: 'bin/busybox', data: readFileSync('/bin/busybox'), mode: 0o755 },
      { path: 'bin/sh', type: 'symlink', linkpath: 'busybox' },
      { path: 'bin/cat', type: 'symlink', linkpath: 'busybox' },
      { path: '../dotdot-escape', data: 'x' },
      { path: '/absolute-file', data: 'inside\n' },
      { path: 'homelink', type: 'symlink', linkpath: user.home },
      { path: 'dev/evil', type: 'char' },
      { path: 'shadowlink', type: 'link', linkpath: '../../../../etc/shadow' },
    ]);
    const second = makeTar([{ path: 'homelink/outside', data: 'pwned\n' }]);
    const file = archive(
      'evil.tar',
      ociArchive({ layers: [evil, second], config: { Cmd: ['/bin/sh'] } }),
    );
    let r = await igloo(cleanup, user, ['image', 'import', file, '--name', 'evil']);
    assert.equal(r.status, 0, r.stderr);
    r = await igloo(cleanup, user, ['create', 'evil-c', '--image', 'evil', '--json']);
    assert.equal(r.status, 0, r.stderr);
    cleanup.add(
      'destroy evil-c',
      async () => void (await igloo(cleanup, user, ['destroy', '--force', 'evil-c'])),
    );
    const rootfs = (JSON.parse(r.stdout) as { rootfs: string }).rootfs;
    assert.match(r.stderr, /dotdot-escape: "..\/dotdot-escape" contains ".."/);
    assert.match(r.stderr, /dev\/evil: CharacterDevice not created/);
    assert.match(r.stderr, /shadowlink: hard link to "..\/..\/..\/..\/etc\/shadow" refused/);
    assert.equal(
      existsSync(outside),
      false,
      "nothing was written through the symlink into the user's home",
    );
    assert.equal(
      readFileSync(join(rootfs, user.home, 'outside'), 'utf8'),
      'pwned\n',
      'the write landed inside the rootfs',
    );
    assert.equal(readFileSync(join(rootfs, 'absolute-file'), 'utf8'), 'inside\n');
    assert.equal(existsSync(join(rootfs, '..', 'dotdot-escape')), false);
    assert.equal(
      (await igloo(cleanup, user, ['run', '--name', 'evil-c', '--', '/bin/cat', '/absolute-file']))
        .stdout,
      'inside\n',
    );
  });

  test('a truncated archive, a corrupt layer and a missing file are refused, leaving nothing behind', async () => {
    const good = ociArchive({ layers: [baseLayer()], config: { Cmd: ['/bin/sh'] } });
    const storeDir = join(user.home, '.local/share/igloo/images');
    const before = readdirSync(storeDir).sort();
    const cases: Array<[string, Buffer, RegExp]> = [
      [
        'truncated.tar',
        good.subarray(0, Math.floor(good.length / 2)),
        /truncated|does not unpack|missing/,
      ],
      [
        'corrupt.tar',
        ociArchive(
          { layers: [baseLayer()], config: { Cmd: ['/bin/sh'] } },
          { corruptFirstLayer: true },
        ),
        /has digest sha256:[0-9a-f]{64}, not sha256:/,
      ],
      [
        'not-an-image.tar',
        makeTar([{ path: 'hello.txt', data: 'hi' }]),
        /neither index.json \(OCI\) nor manifest.json/,
      ],
    ];
    for (const [name, data, pattern] of cases) {
      const r = await igloo(cleanup, user, [
        'image',
        'import',
        archive(name, data),
        '--name',
        name.replace('.tar', ''),
      ]);
      assert.equal(r.status, 1, `${name}: ${r.stdout}`);
      assert.match(r.stderr, pattern, name);
    }
    const r = await igloo(cleanup, user, ['image', 'import', join(dir, 'no-such.tar')]);
    assert.match(r.stderr, /no such file or directory/);
    assert.deepEqual(
      readdirSync(storeDir).sort(),
      before,
      'no staging directory or half image is left',
    );
    const run = await igloo(cleanup, user, ['run', '--image', 'no-such-image', '--', '/bin/true']);
    assert.match(run.stderr, /No image named "no-such-image"/);
  });
});

describe('extended attributes and file capabilities', () => {
  test("a layer's cap_net_raw+ep and user.test survive import and the in-namespace copy", async () => {
    const layer = makeTar([
      { path: 'bin/', type: 'dir' },
      { path: 'bin/busybox', data: readFileSync('/bin/busybox'), mode: 0o755 },
      { path: 'bin/sh', type: 'symlink', linkpath: 'busybox' },
      {
        path: 'bin/ping',
        data: readFileSync('/bin/busybox'),
        mode: 0o755,
        xattrs: { 'security.capability': CAP_NET_RAW, 'user.test': 'hello' },
      },
      ...getcapEntries(),
    ]);
    const file = archive(
      'caps.tar',
      ociArchive({ layers: [layer], config: { Cmd: ['/bin/sh'] } }, { gzipLayers: true }),
    );
    let r = await igloo(cleanup, user, ['image', 'import', file, '--name', 'caps']);
    assert.equal(r.status, 0, r.stderr);
    r = await igloo(cleanup, user, ['create', 'img-caps', '--image', 'caps', '--json']);
    assert.equal(r.status, 0, r.stderr);
    cleanup.add(
      'destroy img-caps',
      async () => void (await igloo(cleanup, user, ['destroy', '--force', 'img-caps'])),
    );
    const config = JSON.parse(r.stdout) as {
      rootfs: string;
      idmap: { uid: Array<{ outside: number }> };
    };
    const base = config.idmap.uid[0]!.outside;
    const ping = join(config.rootfs, 'bin/ping');
    // From the host: a v3 capability whose rootid is the container's root.
    const host = spawnSync('getcap', ['-n', ping], { encoding: 'utf8' });
    assert.equal(host.stdout.trim(), `${ping} cap_net_raw=ep [rootid=${base}]`, host.stderr);
    const attr = spawnSync('getfattr', ['--only-values', '-n', 'user.test', ping], {
      encoding: 'utf8',
    });
    assert.equal(attr.stdout, 'hello', attr.stderr);
    // Inside: the container's root reads it as its own (plain) capability.
    r = await igloo(cleanup, user, [
      'run',
      '--name',
      'img-caps',
      '--',
      '/usr/sbin/getcap',
      '/bin/ping',
    ]);
    assert.equal(r.stdout.trim(), '/bin/ping cap_net_raw=ep', r.stderr);
    assert.equal((await igloo(cleanup, user, ['destroy', 'img-caps'])).status, 0);
  });

  test('copying a directory into a container keeps xattrs and capabilities (stored with its root)', async () => {
    const src = join(user.home, 'caps-tree');
    mkdirSync(join(src, 'bin'), { recursive: true });
    copyFileSync('/bin/busybox', join(src, 'bin/busybox'));
    chmodSync(join(src, 'bin/busybox'), 0o755);
    symlinkSync('busybox', join(src, 'bin/sh'));
    copyFileSync('/bin/busybox', join(src, 'bin/ping'));
    chmodSync(join(src, 'bin/ping'), 0o755);
    for (const [cmd, args] of [
      ['chown', ['-R', `${user.uid}:${user.gid}`, src]],
      ['setcap', ['cap_net_raw+ep', join(src, 'bin/ping')]],
      ['setfattr', ['-n', 'user.test', '-v', 'tree', join(src, 'bin/ping')]],
    ] as const) {
      const done = spawnSync(cmd, args, { encoding: 'utf8' });
      assert.equal(done.status, 0, `${cmd}: ${done.stderr}`);
    }
    assert.match(
      spawnSync('getcap', [join(src, 'bin/ping')], { encoding: 'utf8' }).stdout,
      /cap_net_raw=ep/,
    );
    const r = await igloo(cleanup, user, ['create', 'img-tree', '--image', src, '--json']);
    assert.equal(r.status, 0, r.stderr);
    cleanup.add(
      'destroy img-tree',
      async () => void (await igloo(cleanup, user, ['destroy', '--force', 'img-tree'])),
    );
    const config = JSON.parse(r.stdout) as {
      rootfs: string;
      idmap: { uid: Array<{ outside: number }> };
    };
    const base = config.idmap.uid[0]!.outside;
    const ping = join(config.rootfs, 'bin/ping');
    assert.equal(statSync(ping).uid, base);
    assert.equal(
      spawnSync('getcap', ['-n', ping], { encoding: 'utf8' }).stdout.trim(),
      `${ping} cap_net_raw=ep [rootid=${base}]`,
    );
    assert.equal(
      spawnSync('getfattr', ['--only-values', '-n', 'user.test', ping], { encoding: 'utf8' })
        .stdout,
      'tree',
    );
    assert.equal((await igloo(cleanup, user, ['destroy', 'img-tree'])).status, 0);
  });
});
