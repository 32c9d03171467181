/**
 * igloo copy SRC DST: as a real user (a new slice, every owner moved from
 * SRC's ids to DST's, the copy runs on its own), with a hostile tree (links
 * to the owner's files, a FIFO: nothing followed, nothing of the owner's
 * changed), refusals that change nothing, and root's copy of a container
 * over a shared image (only upper/ is copied, the image stays shared).
 */
import assert from 'node:assert/strict';
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  assertRangeFree,
  Cleanup,
  igloo,
  rootTestEnv,
  tempDir,
  type TestUser,
} from '../support/host.ts';
import { userWithBlock, expectRefusals, iglooOk, type Refusal } from '../support/cli-checks.ts';
import { makeTar, ociArchive, type TarEntry } from '../support/oci.ts';

const cleanup = new Cleanup();
let user: TestUser;
const SLICE = 37_000_000;
const ROOT_BASE = 39_000_000;

const ok = (who: TestUser | 'root', args: string[], env: Record<string, string> = {}) =>
  iglooOk(cleanup, who, args, env);

/** Every path below DIR, links not followed (the tree has links to the owner's home). */
function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    return e.isDirectory() ? [path, ...walk(path)] : [path];
  });
}

interface Info {
  config: {
    rootfs: string;
    hostname: string;
    idmap: { uid: Array<{ outside: number; count: number }> };
  };
}

before(async () => {
  user = await userWithBlock(cleanup, 'igloo-copy', SLICE);
  assertRangeFree(ROOT_BASE, 1_000_000);
});
after(() => cleanup.run());

describe('igloo copy as a user', () => {
  test("a new slice; every owner moved to it; the owner's files never touched through links", async () => {
    const secret = join(user.home, 'secret');
    writeFileSync(secret, 'owner only\n');
    chmodSync(secret, 0o600);
    chownSync(secret, user.uid, user.gid);
    const { uid } = user;
    await ok(user, ['create', 'src']);
    cleanup.add(
      'destroy src',
      async () => void (await igloo(cleanup, user, ['destroy', '--force', 'src'])),
    );
    await ok(user, ['start', 'src']);
    await ok(user, [
      'exec',
      'src',
      '--',
      'sh',
      '-c',
      // the owner's paths, as a hostile container would plant them
      `echo data > /root/f; mkdir /home/app; echo app > /home/app/f; chown -R 1000:1000 /home/app; ln /root/f /root/hard; ln -s ${secret} /root/to-secret; ln -s ${user.home} /home/app/to-home; mkfifo /root/fifo`,
    ]);
    await ok(user, ['stop', 'src', '--timeout', '2']);

    const out = await ok(user, ['copy', 'src', 'dst']);
    assert.match(out, /^Copied src to dst \(ids \d+\.\.\d+\)\n$/);
    cleanup.add(
      'destroy dst',
      async () => void (await igloo(cleanup, user, ['destroy', '--force', 'dst'])),
    );
    const src = JSON.parse(await ok(user, ['info', 'src', '--json'])) as Info;
    const dst = JSON.parse(await ok(user, ['info', 'dst', '--json'])) as Info;
    const a = src.config.idmap.uid[0]!;
    const b = dst.config.idmap.uid[0]!;
    assert.notEqual(b.outside, a.outside, 'a slice of its own');
    assert.equal(b.count, a.count);
    assert.ok(b.outside >= SLICE && b.outside + b.count <= SLICE + 1_000_000, 'in the delegation');
    assert.equal(dst.config.hostname, 'dst');

    const root = dst.config.rootfs;
    assert.equal(statSync(join(root, 'root/f')).uid, b.outside);
    assert.equal(statSync(join(root, 'home/app/f')).uid, b.outside + 1000);
    assert.equal(statSync(join(root, 'home/app/f')).gid, b.outside + 1000);
    assert.equal(
      statSync(join(root, 'root/hard')).ino,
      statSync(join(root, 'root/f')).ino,
      'hard links stay',
    );
    assert.ok(lstatSync(join(root, 'root/fifo')).isFIFO());
    assert.equal(
      lstatSync(join(root, 'root/to-secret')).isSymbolicLink(),
      true,
      'a link, not the secret',
    );
    assert.equal(lstatSync(join(root, 'root/to-secret')).uid, b.outside);
    // Nothing of SRC's ids is left in DST's tree, and SRC is as it was.
    const stray = walk(root).filter((p) => {
      const u = lstatSync(p).uid;
      return u < b.outside || u >= b.outside + b.count;
    });
    assert.deepEqual(stray, []);
    assert.equal(statSync(join(src.config.rootfs, 'home/app/f')).uid, a.outside + 1000);
    // The owner's files: same owner, mode and bytes (the shift followed no link).
    const st = statSync(secret);
    assert.equal(st.uid, uid);
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal(readFileSync(secret, 'utf8'), 'owner only\n');
    assert.equal(statSync(user.home).uid, uid);

    // The copy runs, with its own ids, while its source runs too.
    await ok(user, ['start', 'dst']);
    await ok(user, ['start', 'src']);
    assert.equal(
      await ok(user, [
        'exec',
        'dst',
        '--',
        'sh',
        '-c',
        'cat /root/f /home/app/f; stat -c %u /home/app/f; hostname',
      ]),
      'data\napp\n1000\ndst\n',
    );
    await ok(user, ['stop', 'src', '--timeout', '2']);
    await ok(user, ['stop', 'dst', '--timeout', '2']);
  });

  test('refusals change nothing: onto an existing name, a running source, an unknown one, a bad name', async () => {
    await ok(user, ['create', 'busy']);
    cleanup.add(
      'destroy busy',
      async () => void (await igloo(cleanup, user, ['destroy', '--force', 'busy'])),
    );
    const names = () => readdirSync(join(user.home, '.local/share/igloo/containers')).sort();
    const cases: Refusal[] = [
      [['copy', 'src', 'dst'], /"dst" exists already/, /igloo destroy dst/],
      [['copy', 'nothing', 'x'], /No container named "nothing"/, /igloo ls/],
      [['copy', 'src', '../x'], /Invalid container name/, /letters, digits/],
    ];
    await ok(user, ['start', 'busy']);
    cases.push([['copy', 'busy', 'busy2'], /Cannot copy "busy": it is running/, /igloo stop busy/]);
    await expectRefusals(cleanup, user, cases, names);
    await ok(user, ['stop', 'busy', '--timeout', '2']);
  });
});

describe('igloo copy as root, over a shared image', () => {
  test('only upper/ is copied and shifted; the image stays shared; no host uid 0 in the copy', async () => {
    const dir = tempDir(cleanup, 'igloo-copy-root-', 0o700);
    const env = rootTestEnv(dir, ROOT_BASE);
    const layer = makeTar([
      { path: 'bin/', type: 'dir' },
      { path: 'bin/busybox', data: readFileSync('/bin/busybox'), mode: 0o755 },
      ...['sh', 'cat', 'echo', 'sleep', 'stat', 'chown', 'mkdir'].map((a): TarEntry => ({
        path: `bin/${a}`,
        type: 'symlink',
        linkpath: 'busybox',
      })),
      { path: 'etc/', type: 'dir' },
      { path: 'etc/image-file', data: 'from the image\n' },
    ]);
    const archive = join(dir, 'img.tar');
    writeFileSync(
      archive,
      ociArchive({
        layers: [layer],
        config: { Cmd: ['/bin/sh', '-c', 'while :; do sleep 1; done'] },
      }),
    );
    await ok('root', ['image', 'import', archive, '--name', 'shared:1'], env);
    await ok('root', ['create', 'r1', '--image', 'shared'], env);
    cleanup.add(
      'destroy r1',
      async () => void (await igloo(cleanup, 'root', ['destroy', '--force', 'r1'], { env })),
    );
    const info = JSON.parse(await ok('root', ['info', 'r1', '--json'], env)) as Info & {
      rootfs?: unknown;
    };
    await ok('root', ['start', 'r1'], env);
    await ok(
      'root',
      ['exec', 'r1', '--', 'sh', '-c', 'echo mine > /etc/own; mkdir /srv; chown 1000:1000 /srv'],
      env,
    );
    await ok('root', ['stop', 'r1', '--timeout', '2'], env);
    await ok('root', ['copy', 'r1', 'r2'], env);
    cleanup.add(
      'destroy r2',
      async () => void (await igloo(cleanup, 'root', ['destroy', '--force', 'r2'], { env })),
    );
    const r2 = JSON.parse(await ok('root', ['info', 'r2', '--json'], env)) as Info;
    const base2 = r2.config.idmap.uid[0]!.outside;
    assert.notEqual(base2, info.config.idmap.uid[0]!.outside);
    const c2 = join(env.IGLOO_DATA_DIR!, 'containers', 'r2');
    const rootfsJson = JSON.parse(readFileSync(join(c2, 'rootfs.json'), 'utf8')) as {
      kind: string;
      image: string;
    };
    assert.equal(rootfsJson.kind, 'idmapped-overlay');
    assert.equal(rootfsJson.image, 'shared:1');
    // the container's changes, and the mount points its start made: none of the image's files
    assert.deepEqual(
      readdirSync(join(c2, 'upper')).sort(),
      ['dev', 'etc', 'proc', 'srv', 'sys'],
      'only the changes were copied',
    );
    assert.equal(statSync(join(c2, 'upper/etc/own')).uid, base2);
    assert.equal(statSync(join(c2, 'upper/srv')).uid, base2 + 1000);
    assert.ok(!existsSync(join(c2, 'upper/bin')), "the image's files were not copied");
    await ok('root', ['start', 'r2'], env);
    assert.equal(
      await ok(
        'root',
        ['exec', 'r2', '--', 'sh', '-c', 'cat /etc/own /etc/image-file; stat -c %u /srv'],
        env,
      ),
      'mine\nfrom the image\n1000\n',
    );
    await ok('root', ['stop', 'r2', '--timeout', '2'], env);
    // The image is shared by both: removing it is refused, naming them.
    const rm = await igloo(cleanup, 'root', ['image', 'rm', 'shared'], { env });
    assert.equal(rm.status, 1);
    assert.match(rm.stderr, /"r1", "r2"/);
  });
});
