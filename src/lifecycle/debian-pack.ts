/**
 * The second half of `igloo image build debian`, run in the build's user
 * namespace (the pack-debian task): the debootstrapped tree made a
 * container system (sysvinit's inittab, no hardware scripts), packed into
 * one layer with ids as seen inside, and removed.
 */
import { execFile } from 'node:child_process';
import { chmod, chown, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { unlinkBeneath, writeFileBeneath } from '../host/beneath.ts';

const execFileP = promisify(execFile);

const INITTAB = `# igloo: sysvinit in a container
id:2:initdefault:
si::sysinit:/etc/init.d/rcS
l0:0:wait:/etc/init.d/rc 0
l1:1:wait:/etc/init.d/rc 1
l2:2:wait:/etc/init.d/rc 2
l3:3:wait:/etc/init.d/rc 3
l4:4:wait:/etc/init.d/rc 4
l5:5:wait:/etc/init.d/rc 5
l6:6:wait:/etc/init.d/rc 6
z6:6:respawn:/sbin/sulogin --force
# igloo stop sends SIGPWR: shut down through the rc scripts
pf::powerwait:/sbin/shutdown -h -t 0 now
ca:12345:ctrlaltdel:/sbin/shutdown -r -t 0 now
# the console: the pty igloo binds onto /dev/console (igloo console)
co:2345:respawn:/sbin/getty --noclear -L console 115200 vt100
`;

export type DebianTask = {
  kind: 'pack-debian';
  rootfs: string;
  layer: string;
  owner: number;
  suite: string;
};

/** Runs in the build namespace: make the tree a container system, pack it, remove it. */
export async function packDebian(task: DebianTask): Promise<void> {
  const r = task.rootfs;
  // The tree is what debootstrap and the packages' scripts made: its links
  // resolve beneath it (host/beneath.ts), never on the host (root's build
  // task maps the owner's id).
  writeFileBeneath(r, 'etc/inittab', INITTAB, { op: 'write the image' });
  writeFileBeneath(r, 'etc/hostname', 'debian\n', { op: 'write the image' });
  writeFileBeneath(r, 'etc/fstab', '# igloo mounts /proc, /sys and /dev\n', {
    op: 'write the image',
  });
  // No hardware to set up, and nothing may touch the host's clock.
  for (const script of [
    'hwclock.sh',
    'udev',
    'kmod',
    'procps',
    'mountkernfs.sh',
    'mountdevsubfs.sh',
    'checkroot.sh',
    'checkfs.sh',
  ]) {
    unlinkBeneath(r, `etc/rcS.d/S01${script}`, { op: 'write the image' });
  }
  await rm(join(r, 'debootstrap'), { recursive: true, force: true });
  // GNU tar, not node-tar: it keeps extended attributes as SCHILY.xattr
  // records, so the file capabilities packages set (ping's cap_net_raw,
  // read here as plain v2 caps of this namespace's root) reach every
  // container made from the image. Ids stay numeric, as seen inside.
  await execFileP('tar', [
    '--create',
    '--file',
    task.layer,
    '--directory',
    r,
    '--numeric-owner',
    '--xattrs',
    '--xattrs-include=*',
    '--format=pax',
    '.',
  ]).catch((err: unknown) => {
    const stderr = (err as { stderr?: string }).stderr ?? String(err);
    throw new Error(`tar --create ${task.layer}: ${stderr.trim()}`);
  });
  await chown(task.layer, task.owner, task.owner); // the owner's own id: readable from any slice's namespace
  await chmod(task.layer, 0o600);
  await rm(r, { recursive: true, force: true });
}
