/**
 * Attacks on root's image import and on root's shared images (issue 13):
 * a user hands root an archive (an OCI layout directory, a docker-archive
 * directory, an oci-archive tarball) whose files are links to root-only
 * files, FIFOs or /dev/zero; and an image with a setuid-root program, a file
 * capability, a device node and overlay/trusted xattrs becomes root's shared
 * image. Each test performs the real attack and fails on the code before
 * the fix (root read its own secret into its store, hung on a FIFO, or left
 * a setuid-root file under the store).
 *
 * Root's containers use a private subuid file (IGLOO_SUBUID) with ids
 * 27,000,000.. and a temporary data directory (IGLOO_DATA_DIR).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chownSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  Cleanup,
  assertRangeFree,
  createUser,
  igloo,
  requireRoot,
  rootTestEnv,
  runAs,
  stagedCli,
  tempDir,
  type TestUser,
} from '../support/host.ts';
import { CAP_NET_RAW, dockerArchive, makeTar, ociArchive, type TarEntry } from '../support/oci.ts';

const cleanup = new Cleanup();
const BASE = 27_000_000;
let dir: string;
let secret: string;
let user: TestUser;
let env: Record<string, string>;
const MARKER = 'ROOT-ONLY-SECRET-6f1d2c';

const root = (args: string[], timeoutMs = 60_000) =>
  igloo(cleanup, 'root', args, { env, timeoutMs });
const asUser = (script: string) =>
  runAs(user, ['sh', '-ec', script]).then((r) => {
    assert.equal(r.status, 0, `as ${user.name}: ${script}: ${r.stderr}`);
  });

function busyboxLayer(extra: TarEntry[] = []): Buffer {
  return makeTar([
    { path: 'bin/', type: 'dir' },
    { path: 'bin/busybox', data: readFileSync('/bin/busybox'), mode: 0o755 },
    ...['sh', 'stat', 'cat', 'ls', 'id'].map((a): TarEntry => ({
      path: `bin/${a}`,
      type: 'symlink',
      linkpath: 'busybox',
    })),
    ...extra,
  ]);
}

/** A static program that prints its real and effective uid and its effective capabilities. */
function showIds(): Buffer {
  const src = join(dir, 'show.c');
  writeFileSync(
    src,
    `#include <stdio.h>
#include <string.h>
#include <unistd.h>
int main(void) {
  char line[256];
  FILE *f = fopen("/proc/self/status", "r");
  printf("uid=%u euid=%u ", (unsigned)getuid(), (unsigned)geteuid());
  while (f && fgets(line, sizeof(line), f))
    if (strncmp(line, "CapEff:", 7) == 0) fputs(line, stdout);
  return 0;
}
`,
  );
  const out = join(dir, 'show');
  const cc = spawnSync('cc', ['-static', '-O2', '-o', out, src], { encoding: 'utf8' });
  assert.equal(cc.status, 0, `cc: ${cc.stderr}`);
  return readFileSync(out);
}

/** Every file under DIR whose content has MARKER (grep -r, binary files too). */
function filesWithMarker(top: string): string {
  return spawnSync('grep', ['-rl', '--', MARKER, top], { encoding: 'utf8' }).stdout.trim();
}

/** An OCI layout directory owned by the user (the oci-archive unpacked by them). */
async function userLayout(name: string, archive: Buffer): Promise<string> {
  const file = join(dir, `${name}.tar`);
  writeFileSync(file, archive, { mode: 0o644 });
  const layout = join(user.home, name);
  await asUser(`mkdir ${layout} && tar -xf ${file} -C ${layout}`);
  return layout;
}

function storeDir(): string {
  return join(env.IGLOO_DATA_DIR!, 'images');
}

before(async () => {
  requireRoot();
  stagedCli(cleanup);
  assertRangeFree(BASE, 1_000_000);
  user = createUser(cleanup, 'igloo-img-atk');
  dir = tempDir(cleanup, 'igloo-img-atk-');
  // Root's secrets: a directory only root can enter.
  secret = tempDir(cleanup, 'igloo-img-atk-secret-', 0o700);
  env = rootTestEnv(dir, BASE);
});
after(() => cleanup.run());

describe("root imports a user's archive: no link, FIFO or device of it is followed", () => {
  test('OCI layout whose index.json is a link to a root-only file: refused, naming the path', async () => {
    const layout = await userLayout(
      'idx-link',
      ociArchive({ layers: [busyboxLayer()], config: { Cmd: ['/bin/sh'] } }),
    );
    // Root's own copy of a valid index (only root can read it); the user's
    // index.json becomes a link to it.
    writeFileSync(join(secret, 'index.json'), readFileSync(join(layout, 'index.json')), {
      mode: 0o600,
    });
    await asUser(`rm ${layout}/index.json && ln -s ${secret}/index.json ${layout}/index.json`);
    const r = await root(['image', 'import', layout, '--name', 'idx-link']);
    assert.equal(r.status, 1, `the import must be refused: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /Refusing to import .*idx-link\/index\.json: .*symbolic link/);
    assert.equal((await root(['image', 'ls', '--json'])).stdout.includes('idx-link'), false);
  });

  test("docker-archive directory whose layer is a link to root's secret tar: its content is nowhere in root's store", async () => {
    const secretTar = join(secret, 'secret-layer.tar');
    writeFileSync(secretTar, makeTar([{ path: 'secret.txt', data: `${MARKER}\n` }]), {
      mode: 0o600,
    });
    const layout = await userLayout(
      'docker-link',
      dockerArchive({ layers: [busyboxLayer()], config: { Cmd: ['/bin/sh'] } }),
    );
    await asUser(`rm ${layout}/layer0/layer.tar && ln -s ${secretTar} ${layout}/layer0/layer.tar`);
    const r = await root(['image', 'import', layout, '--name', 'docker-link']);
    assert.equal(r.status, 1, `the import must be refused: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /Refusing to import .*docker-link\/layer0\/layer\.tar: .*symbolic link/);
    mkdirSync(storeDir(), { recursive: true });
    assert.equal(filesWithMarker(storeDir()), '', "root's secret was copied into its store");
    assert.equal(filesWithMarker('/tmp').includes('igloo-import-'), false);
  });

  test('a link in the middle of the path (blobs/sha256 -> a root-only directory): refused', async () => {
    const layout = await userLayout(
      'mid-link',
      ociArchive({ layers: [busyboxLayer()], config: { Cmd: ['/bin/sh'] } }),
    );
    // Root holds the blobs where the user cannot read; the user's layout points there.
    const blobs = join(secret, 'blobs-sha256');
    spawnSync('cp', ['-a', join(layout, 'blobs/sha256'), blobs]);
    chownSync(blobs, 0, 0);
    spawnSync('chown', ['-R', 'root:root', blobs]);
    spawnSync('chmod', ['-R', 'go-rwx', blobs]);
    await asUser(`rm -r ${layout}/blobs/sha256 && ln -s ${blobs} ${layout}/blobs/sha256`);
    const r = await root(['image', 'import', layout, '--name', 'mid-link']);
    assert.equal(r.status, 1, `the import must be refused: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /Refusing to import .*mid-link\/blobs\/sha256: .*symbolic link/);
  });

  test('a layer that is a FIFO, or a link to /dev/zero: the import ends at once with an error', async () => {
    for (const [name, plant, why] of [
      ['fifo-layer', 'mkfifo', /layer 0 is a FIFO/],
      ['zero-layer', 'ln -s /dev/zero', /symbolic link/],
    ] as const) {
      const layout = await userLayout(
        name,
        dockerArchive({ layers: [busyboxLayer()], config: { Cmd: ['/bin/sh'] } }),
      );
      await asUser(`rm ${layout}/layer0/layer.tar && ${plant} ${layout}/layer0/layer.tar`);
      const started = Date.now();
      const r = await root(['image', 'import', layout, '--name', name], 30_000);
      assert.notEqual(r.signal, 'SIGKILL', `${name}: the import hung (killed after 30 s)`);
      assert.equal(r.status, 1, `${name}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, why);
      assert.ok(Date.now() - started < 20_000, `${name}: took ${Date.now() - started} ms`);
    }
  });

  test("an oci-archive tarball whose index.json is a link to root's file: dropped and refused", async () => {
    writeFileSync(join(secret, 'tar-index.json'), '{"schemaVersion":2,"manifests":[]}', {
      mode: 0o600,
    });
    const inner = ociArchive({ layers: [busyboxLayer()], config: { Cmd: ['/bin/sh'] } });
    // Rebuild the archive with index.json replaced by a relative link that
    // climbs out of wherever it is unpacked (/tmp/igloo-import-X/ before).
    const layout = await userLayout('tar-link', inner);
    await asUser(
      `cd ${layout} && rm index.json && ln -s ../../..${secret}/tar-index.json index.json && tar -cf ../tar-link.tar .`,
    );
    const r = await root(['image', 'import', join(user.home, 'tar-link.tar'), '--name', 'tarl']);
    assert.equal(r.status, 1, `${r.stdout}${r.stderr}`);
    assert.match(
      r.stderr,
      /Refusing to import .*tar-link\.tar:index\.json: its image index is a symbolic link in the archive/,
    );
  });

  test('the archive itself given as a link: refused', async () => {
    const file = join(user.home, 'real.tar');
    writeFileSync(file, ociArchive({ layers: [busyboxLayer()], config: { Cmd: ['/bin/sh'] } }));
    await asUser(`ln -s ${file} ${user.home}/link.tar`);
    const r = await root(['image', 'import', join(user.home, 'link.tar'), '--name', 'srclink']);
    assert.equal(r.status, 1, `${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /Refusing to import .*link\.tar: it is a symbolic link/);
  });
});

describe("root's shared image: no setuid-root file or host-root capability on the host", () => {
  test('setuid-root program, file capability, device node, overlay and trusted xattrs', async () => {
    const show = showIds();
    const layer = busyboxLayer([
      { path: 'bin/suid-show', data: show, mode: 0o4755 },
      {
        path: 'bin/cap-show',
        data: show,
        mode: 0o755,
        xattrs: { 'security.capability': CAP_NET_RAW },
      },
      { path: 'bin/su-tool', data: readFileSync('/bin/busybox'), mode: 0o4755 },
      { path: 'bin/sg-tool', data: readFileSync('/bin/busybox'), mode: 0o2755 },
      {
        path: 'bin/ping',
        data: readFileSync('/bin/busybox'),
        mode: 0o755,
        xattrs: { 'security.capability': CAP_NET_RAW, 'trusted.evil': 'x' },
      },
      { path: 'dev/', type: 'dir' },
      { path: 'dev/mem-node', type: 'char', mode: 0o666 },
      { path: 'etc/', type: 'dir', xattrs: { 'user.overlay.opaque': 'y' } },
      { path: 'etc/passwd', data: 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/:/bin/sh\n' },
      { path: 'etc/group', data: 'root:x:0:\napp:x:1000:\n' },
      { path: 'etc/.wh...', data: '' },
      { path: 'etc/shadow-link', type: 'link', linkpath: '../../../../etc/shadow' },
    ]);
    writeFileSync(
      join(dir, 'suid.tar'),
      ociArchive({ layers: [layer], config: { Cmd: ['/bin/sh'] } }),
    );
    let r = await root(['image', 'import', join(dir, 'suid.tar'), '--name', 'suid']);
    assert.equal(r.status, 0, r.stderr);
    r = await root(['create', 'atk-suid', '--image', 'suid', '--json']);
    assert.equal(r.status, 0, r.stderr);
    cleanup.add(
      'destroy atk-suid',
      async () => void (await root(['destroy', '--force', 'atk-suid'])),
    );
    const info = JSON.parse((await root(['info', 'atk-suid', '--json'])).stdout) as {
      rootfs: { kind: string; lower: string };
    };
    assert.equal(info.rootfs.kind, 'idmapped-overlay', 'the image is shared, not copied');

    const store = storeDir();
    const find = (...args: string[]) =>
      spawnSync('find', [store, ...args], { encoding: 'utf8' }).stdout.trim();
    assert.equal(find('-perm', '-4000', '-uid', '0'), '', 'a setuid-root file on the host');
    assert.equal(find('-perm', '-2000', '-gid', '0'), '', 'a setgid-root file on the host');
    assert.equal(find('(', '-type', 'c', '-o', '-type', 'b', ')'), '', 'a device node');
    assert.equal(find('-uid', '0', '-path', '*/rootfs*/*'), '', 'image files owned by host root');
    // File capabilities on disk belong to the shifted root, never to host root.
    const caps = spawnSync('getcap', ['-n', '-r', store], { encoding: 'utf8' }).stdout.trim();
    assert.match(caps, /bin\/ping cap_net_raw=ep \[rootid=\d+\]/);
    for (const line of caps.split('\n'))
      assert.match(line, /\[rootid=\d+\]/, `a capability host root would get: ${line}`);
    const xattrs = spawnSync('getfattr', ['-R', '-d', '-m', '-', store], {
      encoding: 'utf8',
    }).stdout;
    assert.doesNotMatch(xattrs, /trusted\.evil|user\.overlay/);
    assert.equal(find('-name', 'shadow-link'), '', 'a hard link out of the rootfs');

    // Inside the container the image is itself again.
    r = await root([
      'run',
      '--name',
      'atk-suid',
      '--',
      '/bin/sh',
      '-c',
      'stat -c "%n %a %u:%g" /bin/su-tool /bin/sg-tool /bin/busybox / && ls /dev/mem-node 2>&1; cat /etc/passwd',
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^\/bin\/su-tool 4755 0:0$/m, 'setuid root inside');
    assert.match(r.stdout, /^\/bin\/sg-tool 2755 0:0$/m);
    assert.match(r.stdout, /^\/bin\/busybox 755 0:0$/m);
    assert.match(r.stdout, /^\/ \d+ 0:0$/m);
    assert.match(r.stdout, /root:x:0:0/);
    // Set-id bits take effect inside: the container's root is not nosuid.
    r = await root([
      'run',
      '--name',
      'atk-suid',
      '--',
      '/bin/sh',
      '-c',
      'cat /proc/self/mountinfo | grep " / / " ; grep -c nosuid /proc/self/mountinfo || true',
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(
      r.stdout.split('\n')[0] ?? '',
      /nosuid/,
      "the container's root is not nosuid",
    );
    assert.equal((await root(['destroy', 'atk-suid'])).status, 0);

    // They work inside: in a container without no_new_privs (--nesting),
    // an unprivileged id inside runs the setuid program as the container's
    // root and the capability program with cap_net_raw effective.
    r = await root(['create', 'atk-suid-n', '--image', 'suid', '--nesting']);
    assert.equal(r.status, 0, r.stderr);
    cleanup.add(
      'destroy atk-suid-n',
      async () => void (await root(['destroy', '--force', 'atk-suid-n'])),
    );
    r = await root(['start', 'atk-suid-n']);
    assert.equal(r.status, 0, r.stderr);
    r = await root(['exec', '--user', 'app', 'atk-suid-n', '--', '/bin/suid-show']);
    // euid 0 with the container's capabilities (its bounding set)
    assert.match(r.stdout, /^uid=1000 euid=0 CapEff:\t0*[1-9a-f][0-9a-f]*\n$/, r.stderr);
    r = await root(['exec', '--user', 'app', 'atk-suid-n', '--', '/bin/cap-show']);
    assert.equal(r.stdout, 'uid=1000 euid=1000 CapEff:\t0000000000002000\n', r.stderr);
    assert.equal((await root(['destroy', '--force', 'atk-suid-n'])).status, 0);
    assert.equal((await root(['image', 'rm', 'suid'])).status, 0);
  });
});
