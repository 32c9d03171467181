/**
 * igloo image pull / push against a real registry: Debian's docker-registry,
 * started by the test on 127.0.0.1 with its storage in a temp directory.
 * The test pushes images into it with skopeo (as root, as a fixture); a real
 * user pulls them, runs them as a one-shot and as a system container, pushes
 * one back and pulls it again. Refusals change nothing; a hostile image
 * from a registry meets the defenses an imported archive meets.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Cleanup, igloo, tempDir, type TestUser } from '../support/host.ts';
import { userWithBlock, expectRefusals, type Refusal } from '../support/cli-checks.ts';
import { makeTar, ociArchive, type ImageParts, type TarEntry } from '../support/oci.ts';

const cleanup = new Cleanup();
let user: TestUser;
let registry: string;
let dir: string;
const SLICE = 33_000_000;

function busyboxLayer(extra: TarEntry[] = []): Buffer {
  const applets = ['sh', 'id', 'cat', 'echo', 'sleep', 'ls', 'stat', 'test'];
  return makeTar([
    { path: 'bin/', type: 'dir' },
    { path: 'bin/busybox', data: readFileSync('/bin/busybox'), mode: 0o755 },
    ...applets.map((a): TarEntry => ({ path: `bin/${a}`, type: 'symlink', linkpath: 'busybox' })),
    { path: 'etc/', type: 'dir' },
    { path: 'etc/passwd', data: 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/:/bin/sh\n' },
    { path: 'etc/group', data: 'root:x:0:\napp:x:1000:\n' },
    { path: 'data/', type: 'dir', uid: 1000, gid: 1000 },
    { path: 'data/owned', data: 'app\n', uid: 1000, gid: 1000 },
    ...extra,
  ]);
}

/** Pushes an image made by the test into the registry (root, skopeo, as a fixture). */
function pushFixture(repo: string, parts: ImageParts, layers?: Buffer[]): void {
  const file = join(dir, `${repo.replace(/\W/g, '_')}.tar`);
  writeFileSync(file, ociArchive({ ...parts, ...(layers && { layers }) }, { gzipLayers: true }));
  const r = spawnSync(
    'skopeo',
    ['copy', '--dest-tls-verify=false', `oci-archive:${file}`, `docker://${registry}/${repo}`],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`skopeo copy into the test registry: ${r.stderr}`);
}

async function startRegistry(): Promise<string> {
  const work = tempDir(cleanup, 'igloo-registry-', 0o700);
  // A port of the loopback that nothing listens on (the registry fails at once otherwise).
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    writeFileSync(
      join(work, 'config.yml'),
      [
        'version: 0.1',
        'log: { level: error }',
        `storage: { filesystem: { rootdirectory: ${join(work, 'data')} } }`,
        `http: { addr: "127.0.0.1:${port}" }`,
        '',
      ].join('\n'),
    );
    const child = spawn('docker-registry', ['serve', join(work, 'config.yml')], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    let gone = false;
    void exited.then(() => (gone = true));
    cleanup.add('stop the test registry', async () => {
      if (!gone) child.kill('SIGTERM');
      await exited;
    });
    const deadline = Date.now() + 15_000;
    while (!gone && Date.now() < deadline) {
      const ok = await fetch(`http://127.0.0.1:${port}/v2/`).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) return `127.0.0.1:${port}`;
      await new Promise((r) => setTimeout(r, 100));
    }
    if (!gone) throw new Error(`docker-registry did not answer on 127.0.0.1:${port}: ${stderr}`);
  }
  throw new Error('docker-registry would not start on a loopback port (is it installed?)');
}

const imagesDir = () => join(user.home, '.local/share/igloo/images');
const listing = () => (existsSync(imagesDir()) ? readdirSync(imagesDir()).sort() : []);

before(async () => {
  user = await userWithBlock(cleanup, 'igloo-pull', SLICE);
  dir = tempDir(cleanup, 'igloo-pull-');
  registry = await startRegistry();
  pushFixture('test/app:1', {
    layers: [busyboxLayer()],
    config: {
      Entrypoint: ['/bin/sh', '-c'],
      Cmd: ['echo pulled $GREETING; id -u'],
      Env: ['GREETING=hej'],
      User: 'app',
    },
  });
  pushFixture('test/sys:1', {
    layers: [busyboxLayer()],
    config: {
      Cmd: [
        '/bin/sh',
        '-c',
        'trap "exit 0" TERM; echo up > /run-marker; while :; do sleep 1; done',
      ],
    },
  });
});
after(() => cleanup.run());

describe('igloo image pull', () => {
  test('a user pulls an image, with progress, and runs it as a one-shot (Entrypoint/Cmd/Env/User)', async () => {
    let r = await igloo(cleanup, user, [
      'image',
      'pull',
      '--tls-verify=false',
      `${registry}/test/app:1`,
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^Pulled app:1 from .* \(1 layers\)\n$/);
    assert.match(r.stderr, /Copying blob sha256:/, 'skopeo progress is shown');
    r = await igloo(cleanup, user, ['image', 'ls']);
    assert.match(r.stdout, /^app:1\s+oci\s+1\s/m);
    assert.deepEqual(listing(), ['app+1'], 'nothing but the image is left in the store');
    r = await igloo(cleanup, user, ['run', '--image', 'app']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'pulled hej\n1000\n');
  });

  test('an image stored before tags (DATA/images/NAME, no tag) keeps its name and runs', async () => {
    // As an older igloo left it: the directory is the name, image.json has no tag.
    const old = join(imagesDir(), 'app-1');
    const r0 = spawnSync('cp', ['-a', join(imagesDir(), 'app+1'), old]);
    assert.equal(r0.status, 0);
    const meta = JSON.parse(readFileSync(join(old, 'image.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    delete meta.tag;
    writeFileSync(join(old, 'image.json'), JSON.stringify({ ...meta, name: 'app-1' }));
    let r = await igloo(cleanup, user, ['image', 'ls']);
    assert.match(r.stdout, /^app-1\s+oci/m);
    r = await igloo(cleanup, user, ['run', '--image', 'app-1']);
    assert.equal(r.stdout, 'pulled hej\n1000\n', r.stderr);
    r = await igloo(cleanup, user, ['image', 'rm', 'app-1']);
    assert.equal(r.stdout, 'Removed image app-1\n', r.stderr);
    assert.deepEqual(listing(), ['app+1']);
  });

  test('the pulled image runs as a system container; its files belong to the container', async () => {
    let r = await igloo(cleanup, user, [
      'image',
      'pull',
      '--tls-verify=false',
      `${registry}/test/sys:1`,
      '--name',
      'sys',
    ]);
    assert.equal(r.status, 0, r.stderr);
    r = await igloo(cleanup, user, ['create', 'pulled-c', '--image', 'sys', '--json']);
    assert.equal(r.status, 0, r.stderr);
    cleanup.add(
      'destroy pulled-c',
      async () => void (await igloo(cleanup, user, ['destroy', '--force', 'pulled-c'])),
    );
    const config = JSON.parse(r.stdout) as {
      rootfs: string;
      idmap: { uid: Array<{ outside: number }> };
    };
    const first = config.idmap.uid[0]!.outside;
    assert.equal(statSync(join(config.rootfs, 'data/owned')).uid, first + 1000);
    assert.equal((await igloo(cleanup, user, ['start', 'pulled-c'])).status, 0);
    const deadline = Date.now() + 10_000;
    do {
      r = await igloo(cleanup, user, ['exec', 'pulled-c', '--', 'cat', '/run-marker']);
    } while (r.stdout !== 'up\n' && Date.now() < deadline);
    assert.equal(r.stdout, 'up\n', r.stderr);
    r = await igloo(cleanup, user, ['exec', 'pulled-c', '--', 'sh', '-c', 'echo $$; id -u']);
    assert.equal(r.stdout.split('\n')[1], '0');
    r = await igloo(cleanup, user, ['stop', 'pulled-c', '--timeout', '5']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal((await igloo(cleanup, user, ['destroy', 'pulled-c'])).status, 0);
  });

  test('push: a stored image goes to the registry and comes back whole', async () => {
    let r = await igloo(cleanup, user, [
      'image',
      'push',
      'app:1',
      `${registry}/mine/app:2`,
      '--tls-verify=false',
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^Pushed app:1 to /);
    r = await igloo(cleanup, user, [
      'image',
      'pull',
      '--tls-verify=false',
      `${registry}/mine/app:2`,
      '--name',
      'back:2',
    ]);
    assert.equal(r.status, 0, r.stderr);
    r = await igloo(cleanup, user, ['run', '--image', 'back:2']);
    assert.equal(r.stdout, 'pulled hej\n1000\n', r.stderr);
    assert.ok(!listing().some((n) => n.startsWith('.')), 'no private directory is left');
  });
});

describe('refusals change nothing', () => {
  test('an unknown repository, a bad reference, TLS to a plain-HTTP registry, a name taken', async () => {
    const cases: Refusal[] = [
      [
        ['--tls-verify=false', `${registry}/test/nope:1`],
        /Cannot pull .*manifest unknown/,
        /has no image/,
      ],
      [
        ['--tls-verify=false', `${registry}/test/app:9`],
        /manifest unknown/,
        /check the repository and the tag/,
      ],
      [
        ['--tls-verify=false', `${registry}/Bad/Name`],
        /Invalid registry reference/,
        /HOST\[:PORT\]/,
      ],
      [
        [`${registry}/test/app:1`, '--name', 'other'],
        /HTTP response to HTTPS client/,
        /--tls-verify=false/,
      ],
      [
        ['--tls-verify=false', `${registry}/test/app:1`],
        /the image app:1 exists/,
        /igloo image rm app:1/,
      ],
      [
        ['127.0.0.1:1/test/app:1', '--tls-verify=false', '--name', 'other'],
        /connection refused/,
        /cannot be reached/,
      ],
    ];
    await expectRefusals(
      cleanup,
      user,
      cases.map(([a, m, h]): Refusal => [['image', 'pull', ...a], m, h]),
      listing,
    );
    const r = await igloo(cleanup, user, ['image', 'push', 'nothing', `${registry}/x/y:1`]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /No image named "nothing"/);
  });
});

describe('a hostile image from a registry', () => {
  test('meets the import defenses: no write outside through links or "..", no device node', async () => {
    const outside = join(user.home, 'outside');
    const evil = busyboxLayer([
      { path: '../dotdot-escape', data: 'x' },
      { path: 'homelink', type: 'symlink', linkpath: user.home },
      { path: 'dev/', type: 'dir' },
      { path: 'dev/evil', type: 'char' },
    ]);
    const second = makeTar([{ path: 'homelink/outside', data: 'pwned\n' }]);
    pushFixture('test/evil:1', { layers: [], config: { Cmd: ['/bin/sh'] } }, [evil, second]);
    let r = await igloo(cleanup, user, [
      'image',
      'pull',
      '--tls-verify=false',
      `${registry}/test/evil:1`,
    ]);
    assert.equal(r.status, 0, r.stderr);
    r = await igloo(cleanup, user, ['create', 'evil-p', '--image', 'evil', '--json']);
    assert.equal(r.status, 0, r.stderr);
    cleanup.add(
      'destroy evil-p',
      async () => void (await igloo(cleanup, user, ['destroy', '--force', 'evil-p'])),
    );
    const rootfs = (JSON.parse(r.stdout) as { rootfs: string }).rootfs;
    assert.ok(!existsSync(outside), "the layer's write through a link stayed inside");
    assert.ok(!existsSync(join(rootfs, '..', 'dotdot-escape')));
    assert.ok(!existsSync(join(rootfs, 'dev/evil')), 'no device node');
    assert.equal((await igloo(cleanup, user, ['destroy', 'evil-p'])).status, 0);
  });
});
