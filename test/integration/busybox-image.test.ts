/**
 * The default image is made two ways: by the host's busybox from a shell
 * script (what `igloo create` runs in the container's user namespace) and
 * from Node (tests and benchmarks). Both must give the same system: the
 * same directories with the same modes, the same files, and an applet link
 * for every applet that leads to /bin/busybox inside the rootfs.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { lstatSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join, posix } from 'node:path';
import { after, test } from 'node:test';
import {
  buildBusyboxRootfs,
  busyboxRootfsScript,
  findHostBusybox,
  hostBusybox,
} from '../../src/host/busybox-rootfs.ts';
import { Cleanup, requireRoot, tempDir } from '../support/host.ts';

const cleanup = new Cleanup();
after(() => cleanup.run());

type Entry = { type: string; mode: number; content: string };

/** Every path under root: its type, mode and content (a link: where it leads inside root). */
function describeTree(root: string): Map<string, Entry> {
  const out = new Map<string, Entry>();
  const walk = (rel: string) => {
    for (const name of readdirSync(join(root, rel))) {
      const path = posix.join(rel, name);
      const st = lstatSync(join(root, path));
      if (st.isSymbolicLink()) {
        const target = readlinkSync(join(root, path));
        const inside = posix.resolve('/', posix.dirname(`/${path}`), target);
        out.set(path, { type: 'link', mode: 0, content: inside });
      } else if (st.isDirectory()) {
        out.set(path, { type: 'dir', mode: st.mode & 0o7777, content: '' });
        walk(path);
      } else {
        const content =
          path === 'bin/busybox' ? `${st.size} bytes` : readFileSync(join(root, path), 'utf8');
        out.set(path, { type: 'file', mode: st.mode & 0o7777, content });
      }
    }
  };
  walk('');
  return out;
}

test('the busybox script and the Node builder make the same system', async () => {
  requireRoot();
  const base = tempDir(cleanup, 'igloo-bbimage-');
  const fromScript = join(base, 'script');
  const fromNode = join(base, 'node');
  const busybox = findHostBusybox();
  execFileSync(busybox, ['sh', '-c', busyboxRootfsScript("it's-me"), 'sh', fromScript, busybox]);
  await buildBusyboxRootfs(fromNode, "it's-me");

  const a = describeTree(fromScript);
  const b = describeTree(fromNode);
  assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
  for (const [path, entry] of a) assert.deepEqual(entry, b.get(path), path);

  // every applet is there and leads to busybox; a quote in the hostname survives
  const { applets } = await hostBusybox();
  for (const applet of applets.filter((x) => x !== 'bin/busybox'))
    assert.equal(a.get(applet)?.content, '/bin/busybox', applet);
  assert.equal(a.get('etc/hostname')?.content, "it's-me\n");
  assert.equal(a.get('tmp')?.mode, 0o1777);
  assert.equal(a.get('root')?.mode, 0o700);
  assert.equal(a.get('etc/shadow')?.mode, 0o600);
});
