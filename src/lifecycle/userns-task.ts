/**
 * Work on files that belong to a container's ids, done as root of a user
 * namespace with the container's map plus the owner's own id (so the
 * owner's directory is writable from inside). This is how an unprivileged
 * user makes a rootfs owned by 2000000.. and removes it again, with no
 * setuid code of igloo's own (LXC's unprivileged templates and `podman
 * unshare` work the same way). igloo re-runs itself inside that namespace
 * with the hidden `__userns` command.
 */
import { IglooError } from '../core/errors.ts';
import { insideRanges, normalizeRanges, toOutside, type IdMaps } from '../core/idmap/index.ts';
import { planUserns } from '../core/plan/plan.ts';
import { busyboxRootfsScript, findHostBusybox } from '../host/busybox-rootfs.ts';
import { cliPath } from '../host/install.ts';
import { runHelper } from '../native/spawn.ts';
import { setupNesting } from './nesting-setup.ts';
import type { UsernsTask } from './userns-task-body.ts';

/** The container's map plus the owner's uid and gid as the next inside id. */
export function setupMap(idmap: IdMaps, owner: { uid: number; gid: number }): IdMaps {
  const next = (map: IdMaps['uid']) => {
    const ranges = normalizeRanges(insideRanges(map));
    const last = ranges[ranges.length - 1]!;
    return last.start + last.count;
  };
  return {
    uid: [...idmap.uid, { inside: next(idmap.uid), outside: owner.uid, count: 1 }],
    gid: [...idmap.gid, { inside: next(idmap.gid), outside: owner.gid, count: 1 }],
  };
}

/** The command that performs a task inside the namespace. */
function taskArgv(task: UsernsTask): string[] {
  // Removing needs no igloo code: the host's rm (which never follows a
  // symlink, and stays on the rootfs's file system) starts far faster than
  // Node does.
  if (task.kind === 'remove') return ['rm', '-rf', '--one-file-system', '--', task.path];
  // The default image is made by the host's busybox itself (one process).
  if (task.kind === 'busybox-rootfs') {
    const busybox = findHostBusybox();
    return [busybox, 'sh', '-c', busyboxRootfsScript(task.hostname), 'sh', task.rootfs, busybox];
  }
  return [process.execPath, cliPath(), '__userns', JSON.stringify(task)];
}

export async function runUsernsTask(
  idmap: IdMaps,
  owner: { uid: number; gid: number },
  task: UsernsTask,
): Promise<void> {
  if (task.kind === 'nesting-setup' && owner.uid === 0) {
    // Root's setup task would map host uid 0 (setupMap): as root of that
    // namespace it could write any of the host's root files. This one only
    // touches the rootfs, so root does it here, beneath the rootfs, and
    // gives what it makes to the container's root.
    const uid = toOutside(idmap.uid, 0, 'uid');
    const gid = toOutside(idmap.gid, 0, 'gid');
    return setupNesting(task.rootfs, task.size, { uid, gid });
  }
  const plan = planUserns(
    setupMap(idmap, owner),
    taskArgv(task),
    ['PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/', 'LANG=C.UTF-8'],
    '/',
  );
  const result = await runHelper(
    plan,
    `${task.kind.replace('-', ' ')} in the container's user namespace`,
  );
  if (result.exitCode !== 0) {
    throw new IglooError(
      'ESYS',
      `Cannot ${task.kind.replace('-', ' ')}: the task in the container's user namespace ${result.status ?? 'failed'}`,
      {
        op: task.kind,
        hint: 'The message above says what went wrong',
      },
    );
  }
}
