/**
 * Root's setup tasks (lifecycle/userns-task.ts) run as root of a user
 * namespace with the container's slice. They used to map host uid 0 too
 * (the owner's own id, so the owner's 0700 directory was reachable): root
 * of that namespace could setuid() to it and read or write every root-only
 * file of the host (docs/security.md). The attack, for real: a process in a
 * namespace made by the same code path as root's tasks (rootTask,
 * taskMap, usernsTaskPlan; only the program is the test's) tries every
 * mapped uid, and where host 0 is mapped, that one, on a root-only file.
 * Then root's real remove and busybox-rootfs tasks still do their work.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { IdMaps } from '../../src/core/idmap/index.ts';
import { runHelper } from '../../src/native/spawn.ts';
import {
  rootTask,
  runUsernsTask,
  taskMap,
  usernsTaskPlan,
} from '../../src/lifecycle/userns-task.ts';
import { Cleanup, assertRangeFree, requireRoot, tempDir } from '../support/host.ts';

const cleanup = new Cleanup();
const RANGE = 37_300_000;
const ROOT = { uid: 0, gid: 0 };
const idmap: IdMaps = {
  uid: [{ inside: 0, outside: RANGE, count: 65536 }],
  gid: [{ inside: 0, outside: RANGE, count: 65536 }],
};
const tag = randomBytes(4).toString('hex');
let work: string;

/** Tries to read and append to SECRET as the namespace's root and as each probed uid. */
function attackScript(secret: string): string {
  return `exec >./result 2>&1
sed 's/^/uidmap /' /proc/self/uid_map
sed 's/^/gidmap /' /proc/self/gid_map
try() {
  setpriv --reuid="$1" cat ${secret} >/dev/null 2>&1 && echo "READ $1"
  setpriv --reuid="$1" sh -c 'echo pwned >>${secret}' 2>/dev/null && echo "WROTE $1"
  return 0
}
cat ${secret} >/dev/null 2>&1 && echo "READ root"
while read inside outside count; do
  try "$inside"
  try "$((inside + count - 1))"
  if [ "$outside" -le 0 ] && [ "$((outside + count))" -gt 0 ]; then try "$((inside - outside))"; fi
done </proc/self/uid_map
echo done
`;
}

describe("root's setup tasks cannot become host root", () => {
  before(() => {
    requireRoot();
    assertRangeFree(RANGE, 65536);
    work = tempDir(cleanup, 'igloo-rm-tasks-', 0o700); // like /var/lib/igloo: root's, 0700
  });
  after(() => cleanup.run());

  test("a process in root's task namespace cannot read or write a root-only file", async () => {
    const secret = join(work, `secret-${tag}`);
    writeFileSync(secret, 'root only\n', { mode: 0o600 });
    const rootfs = join(work, 'rootfs');
    mkdirSync(rootfs, { mode: 0o755 });
    chownSync(rootfs, RANGE, RANGE);
    writeFileSync(join(rootfs, 'file'), 'x');
    const root = await rootTask(idmap, { kind: 'remove', path: rootfs });
    assert.ok(typeof root === 'object', 'root removes through a working directory');
    const map = taskMap(idmap, ROOT);
    for (const e of [...map.uid, ...map.gid])
      assert.ok(
        e.outside + e.count <= 0 || e.outside > 0,
        `host id 0 mapped: ${JSON.stringify(e)}`,
      );
    const plan = usernsTaskPlan(map, root.task, root.workdir);
    const argv = ['/bin/sh', '-c', attackScript(secret)];
    const steps = plan.steps.map((s) => (s.op === 'exec' ? { ...s, file: argv[0]!, argv } : s));
    const result = await runHelper({ ...plan, steps }, 'the attack');
    assert.equal(result.exitCode, 0);
    const out = readFileSync(join(rootfs, 'result'), 'utf8');
    assert.match(out, /^done$/m, out);
    assert.match(out, new RegExp(`^uidmap\\s+0\\s+${RANGE}\\s+65536$`, 'm'), out);
    for (const line of out.split('\n').filter((l) => /^[ug]idmap/.test(l))) {
      const [, , outside] = line.trim().split(/\s+/);
      assert.notEqual(Number(outside), 0, `host id 0 is mapped: ${line}`);
    }
    assert.doesNotMatch(out, /^(READ|WROTE) /m, out);
    assert.equal(readFileSync(secret, 'utf8'), 'root only\n');
  });

  test("root's busybox-rootfs and remove tasks still make and remove a rootfs", async () => {
    const rootfs = join(work, 'busybox');
    await runUsernsTask(idmap, ROOT, { kind: 'busybox-rootfs', rootfs, hostname: 'rm-tasks' });
    for (const path of ['', 'bin/busybox', 'etc/inittab', 'bin/sh']) {
      const st = statSync(join(rootfs, path), { throwIfNoEntry: true });
      if (path !== 'bin/sh') assert.equal(st.uid, RANGE, path);
    }
    await runUsernsTask(idmap, ROOT, { kind: 'remove', path: rootfs });
    assert.equal(existsSync(rootfs), false);
    // A path that is gone already is fine (create's revert).
    await runUsernsTask(idmap, ROOT, { kind: 'remove', path: rootfs });
  });

  test("root's extract-layers task makes the rootfs from root's private layers", async () => {
    const src = join(work, 'layer-src');
    mkdirSync(join(src, 'etc'), { recursive: true });
    writeFileSync(join(src, 'etc', 'hello'), 'hello\n');
    const layers = join(work, 'layers'); // like the image store: root's only
    mkdirSync(layers, { mode: 0o700 });
    const layer = join(layers, '0.tar');
    execFileSync('tar', ['--create', '--file', layer, '--directory', src, '--numeric-owner', '.']);
    chmodSync(layer, 0o600);
    const dir = join(work, 'c1');
    mkdirSync(dir, { mode: 0o700 });
    const rootfs = join(dir, 'rootfs');
    await runUsernsTask(idmap, ROOT, { kind: 'extract-layers', layers: [layer], rootfs });
    assert.equal(readFileSync(join(rootfs, 'etc', 'hello'), 'utf8'), 'hello\n');
    assert.equal(statSync(join(rootfs, 'etc', 'hello')).uid, RANGE);
    assert.equal(statSync(rootfs).uid, RANGE);
    assert.deepEqual(readdirSync(dir), ['rootfs'], 'no working directory is left behind');
    await runUsernsTask(idmap, ROOT, { kind: 'remove', path: rootfs });
    assert.deepEqual(readdirSync(dir), []);
  });

  test("root's copy of a rootfs directory runs no task: copied on the host, then shifted to the slice", async () => {
    const src = join(work, 'copy-src'); // like a rootfs of root's: host root's files
    mkdirSync(join(src, 'etc'), { recursive: true });
    mkdirSync(join(src, 'bin'));
    writeFileSync(join(src, 'etc', 'shadow'), 'root only\n', { mode: 0o600 });
    copyFileSync('/bin/busybox', join(src, 'bin', 'ping'));
    chmodSync(join(src, 'bin', 'ping'), 0o755);
    copyFileSync('/bin/busybox', join(src, 'bin', 'su'));
    chmodSync(join(src, 'bin', 'su'), 0o4755);
    symlinkSync('/etc/shadow', join(src, 'bin', 'link'));
    execFileSync('setcap', ['cap_net_raw+ep', join(src, 'bin', 'ping')]);
    // Written by host root: the v2 form, valid in every user namespace.
    assert.doesNotMatch(
      execFileSync('getcap', ['-n', join(src, 'bin', 'ping')], { encoding: 'utf8' }),
      /rootid/,
    );
    const dir = join(work, 'c-copy');
    mkdirSync(dir, { mode: 0o700 });
    const rootfs = join(dir, 'rootfs');
    const task = { kind: 'copy-rootfs', from: src, rootfs } as const;
    assert.equal(
      await rootTask(idmap, task),
      'done',
      'root does the copy itself, with no namespace',
    );
    for (const path of ['', 'etc', 'etc/shadow', 'bin/ping', 'bin/su', 'bin/link']) {
      const st = lstatSync(join(rootfs, path));
      assert.deepEqual([st.uid, st.gid], [RANGE, RANGE], `${path} is the container root's`);
    }
    assert.equal(readFileSync(join(rootfs, 'etc', 'shadow'), 'utf8'), 'root only\n');
    assert.equal(statSync(join(rootfs, 'etc', 'shadow')).mode & 0o7777, 0o600);
    assert.equal(
      statSync(join(rootfs, 'bin', 'su')).mode & 0o7777,
      0o4755,
      "set-uid kept (the container root's)",
    );
    assert.equal(
      readlinkSync(join(rootfs, 'bin', 'link')),
      '/etc/shadow',
      'a link is copied, never followed',
    );
    assert.equal(
      execFileSync('getcap', ['-n', join(rootfs, 'bin', 'ping')], { encoding: 'utf8' }).trim(),
      `${join(rootfs, 'bin', 'ping')} cap_net_raw=ep [rootid=${RANGE}]`,
      "the capability names the container's root: it gives nothing on the host",
    );
    assert.deepEqual(readdirSync(dir), ['rootfs'], 'no staging directory is left behind');
    // A copy that fails leaves nothing either.
    const broken = join(dir, 'broken');
    await assert.rejects(
      rootTask(idmap, { kind: 'copy-rootfs', from: join(work, 'no-such'), rootfs: broken }),
    );
    assert.deepEqual(readdirSync(dir), ['rootfs']);
    await runUsernsTask(idmap, ROOT, { kind: 'remove', path: rootfs });
  });

  test("root's import-archive task works in a directory of the container root's, not with host id 0", async () => {
    const stage = join(work, 'import-stage'); // like DATA/.import-*: root's, 0700
    mkdirSync(stage, { mode: 0o700 });
    const archive = join(stage, 'archive.tar');
    writeFileSync(archive, '', { mode: 0o600 });
    chownSync(archive, RANGE, RANGE);
    const dest = join(stage, 'container');
    mkdirSync(dest, { mode: 0o700 });
    const task = { kind: 'import-archive', archive, shown: archive, dest, from: idmap } as const;
    const root = await rootTask(idmap, task);
    assert.ok(typeof root === 'object', 'not run with host id 0 mapped');
    assert.equal(
      statSync(root.workdir).uid,
      RANGE,
      "the working directory is the container root's",
    );
    assert.deepEqual(
      {
        archive: root.task.kind === 'import-archive' && root.task.archive,
        dest: root.task.kind === 'import-archive' && root.task.dest,
      },
      { archive: 'archive.tar', dest: 'container' },
    );
    // What the task makes comes back into root's DEST; the working directory goes.
    writeFileSync(join(root.workdir, 'container', 'config'), 'igloo.name = x\n');
    await root.after?.(true);
    assert.deepEqual(readdirSync(dest), ['config']);
    assert.deepEqual(readdirSync(stage).sort(), ['container']);
  });
});
