/**
 * Work on files that belong to a container's ids, done as root of a user
 * namespace with the container's map plus, for a user, the user's own id
 * (so the owner's directory is writable from inside; root's tasks never map
 * host id 0 and reach their directory as a working directory instead, see
 * rootTask). This is how an unprivileged
 * user makes a rootfs owned by 2000000.. and removes it again, with no
 * setuid code of igloo's own (LXC's unprivileged templates and `podman
 * unshare` work the same way). igloo re-runs itself inside that namespace
 * with the hidden `__userns` command.
 */
import { constants } from 'node:fs';
import {
  chown,
  copyFile,
  lstat,
  mkdir,
  mkdtemp,
  open,
  readdir,
  rename,
  rm,
  rmdir,
} from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { IglooError } from '../core/errors.ts';
import { insideRanges, normalizeRanges, toOutside, type IdMaps } from '../core/idmap/index.ts';
import { planUserns, type LaunchPlan } from '../core/plan/plan.ts';
import { busyboxRootfsScript, findHostBusybox } from '../host/busybox-rootfs.ts';
import { fileSystemFull } from '../host/disk.ts';
import { cliPath } from '../host/install.ts';
import { runHelper } from '../native/spawn.ts';
import { setupNesting } from './nesting-setup.ts';
import { copyRootfsAsRoot } from './root-copy.ts';
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

/**
 * The map of a task's namespace. A user's adds the user's own ids (setupMap),
 * so the task reaches the user's 0700 directory by path. Root's never maps
 * host uid or gid 0: root of that namespace could become host root there
 * and, by plain DAC, open any of the host's root files (/etc/shadow). Root's
 * tasks reach their directory through a working directory the helper opens
 * before the process takes its ids (`workdir`, see rootTask).
 */
export function taskMap(idmap: IdMaps, owner: { uid: number; gid: number }): IdMaps {
  return owner.uid === 0 || owner.gid === 0 ? idmap : setupMap(idmap, owner);
}

/** The command that performs a task inside the namespace. */
function taskArgv(task: UsernsTask): string[] {
  // Removing needs no igloo code: the host's rm (which never follows a
  // symlink, and stays on the rootfs's file system) starts far faster than
  // Node does.
  if (task.kind === 'remove') {
    // Root's empties its working directory ("." itself stays: rootTask).
    if (task.path === '.') return ['find', '.', '-xdev', '-mindepth', '1', '-delete'];
    return ['rm', '-rf', '--one-file-system', '--', task.path];
  }
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
  let workdir: string | undefined;
  const map = taskMap(idmap, owner);
  let after: ((ok: boolean) => Promise<void>) | undefined;
  if (owner.uid === 0 || owner.gid === 0) {
    const root = await rootTask(idmap, task);
    if (root === 'done') return;
    ({ task, workdir, after } = root);
  }
  const what = task.kind.replace('-', ' ');
  let result;
  try {
    result = await runHelper(
      usernsTaskPlan(map, task, workdir),
      `${what} in the container's user namespace`,
    );
  } catch (err) {
    await after?.(false).catch(() => undefined);
    throw err;
  }
  if (result.exitCode !== 0) {
    await after?.(false).catch(() => undefined);
    // (a task that writes a rootfs; `remove` needs no space)
    const target = 'rootfs' in task ? task.rootfs : undefined;
    if (target !== undefined && fileSystemFull(target))
      throw new IglooError(
        'ESYS',
        `Cannot ${what} ${target}: no space left on device (ENOSPC): its file system is full`,
        {
          op: task.kind,
          path: target,
          errno: 'ENOSPC',
          hint: `Free some space on the file system of ${dirname(target)} (df -h ${dirname(target)}), then try again; nothing was kept`,
        },
      );
    throw new IglooError(
      'ESYS',
      `Cannot ${what}: the task in the container's user namespace ${result.status ?? 'failed'}`,
      {
        op: task.kind,
        hint: 'The message above says what went wrong',
      },
    );
  }
  await after?.(true);
}

/** The plan that runs TASK with MAP (taskMap), in WORKDIR for root's (rootTask). */
export function usernsTaskPlan(map: IdMaps, task: UsernsTask, workdir?: string): LaunchPlan {
  return planUserns(
    map,
    taskArgv(task),
    ['PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/', 'LANG=C.UTF-8'],
    '/',
    ['user'],
    workdir === undefined ? undefined : { path: workdir },
  );
}

/**
 * Root's version of a task: the same work, in a namespace without host id 0,
 * on a directory that belongs to the container's root and is reached as the
 * working directory (paths in the task become relative to it). 'done':
 * root did the work itself, with no task.
 */
export async function rootTask(
  idmap: IdMaps,
  task: UsernsTask,
): Promise<{ task: UsernsTask; workdir: string; after?: (ok: boolean) => Promise<void> } | 'done'> {
  const uid = toOutside(idmap.uid, 0, 'uid');
  const gid = toOutside(idmap.gid, 0, 'gid');
  switch (task.kind) {
    case 'remove': {
      // The task empties the directory; root removes it (its parents are
      // root's own, out of the container's reach) once it is empty.
      const st = await lstat(task.path).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return undefined;
        throw err;
      });
      if (!st) return 'done';
      if (!st.isDirectory()) {
        await rm(task.path, { force: true });
        return 'done';
      }
      const path = task.path;
      return {
        task: { kind: 'remove', path: '.' },
        workdir: path,
        after: async (ok) => {
          if (ok) await rmdir(path);
        },
      };
    }
    case 'busybox-rootfs': {
      await mkdir(task.rootfs, { mode: 0o755 });
      await chown(task.rootfs, uid, gid);
      return { task: { ...task, rootfs: '.' }, workdir: task.rootfs };
    }
    case 'extract-layers': {
      // The image's layers are root's private files: the task gets copies
      // of its own, in a directory of the container root's next to the
      // rootfs, makes the rootfs there, and root moves it into place.
      const dir = await mkdtemp(join(dirname(task.rootfs), '.extract-'));
      const layers: string[] = [];
      try {
        await chown(dir, uid, gid);
        for (const [i, layer] of task.layers.entries()) {
          const copy = `layer-${i}`;
          await copyFile(layer, join(dir, copy), constants.COPYFILE_EXCL);
          await chown(join(dir, copy), uid, gid);
          layers.push(copy);
        }
      } catch (err) {
        await rm(dir, { recursive: true, force: true });
        throw err;
      }
      const rootfs = task.rootfs;
      return {
        task: { kind: 'extract-layers', layers, rootfs: 'rootfs' },
        workdir: dir,
        after: async (ok) => {
          try {
            if (ok) await takeDir(join(dir, 'rootfs'), rootfs, uid);
          } finally {
            await runUsernsTask(idmap, { uid: 0, gid: 0 }, { kind: 'remove', path: dir });
          }
        },
      };
    }
    case 'pack-debian': {
      // debian.ts gives root's build a directory of the container root's.
      const workdir = dirname(task.rootfs);
      return {
        task: {
          ...task,
          rootfs: relative(workdir, task.rootfs),
          layer: relative(workdir, task.layer),
        },
        workdir,
      };
    }
    case 'import-archive': {
      // The archive's private copy (already the container root's) and the
      // new container's directory go into a directory of the container
      // root's. Afterwards root moves what the task made into DEST, its own
      // 0700 directory, entry by entry (rename never follows a link; the
      // task's processes are gone), also after a failure, for the report
      // that says why.
      const dir = await mkdtemp(join(dirname(task.dest), '.unpack-'));
      const made = join(dir, 'container');
      try {
        await chown(dir, uid, gid);
        await mkdir(made, { mode: 0o700 });
        await chown(made, uid, gid);
        await rename(task.archive, join(dir, 'archive.tar'));
      } catch (err) {
        await rm(dir, { recursive: true, force: true });
        throw err;
      }
      const dest = task.dest;
      return {
        task: { ...task, archive: 'archive.tar', dest: 'container' },
        workdir: dir,
        after: async () => {
          try {
            for (const entry of await readdir(made))
              await rename(join(made, entry), join(dest, entry));
          } finally {
            await runUsernsTask(idmap, { uid: 0, gid: 0 }, { kind: 'remove', path: dir });
          }
        },
      };
    }
    case 'copy-rootfs':
      // The source is mostly host root's files: root copies it on the
      // host and shifts the copy (root-copy.ts).
      await copyRootfsAsRoot(task.from, task.rootfs, idmap);
      return 'done';
    case 'nesting-setup':
      // Only the rootfs is touched: root does it beneath the rootfs and
      // gives what it makes to the container's root.
      await setupNesting(task.rootfs, task.size, { uid, gid });
      return 'done';
  }
}

/**
 * Moves the directory FROM, which a task made, to TO: only a directory of
 * the container root's (OWNER) is taken, never a link, and TO must then be
 * that very directory.
 */
export async function takeDir(from: string, to: string, owner: number): Promise<void> {
  const refused = (why: string) =>
    new IglooError('EUNSAFE', `Cannot take the extracted rootfs ${from} as ${to}: ${why}`, {
      op: 'extract layers',
      path: from,
      hint: "Something in the container root's ids changed the directory during the extraction; create the container again",
    });
  const dir = await open(
    from,
    constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW,
  ).catch((err: NodeJS.ErrnoException) => {
    throw refused(`it is not a directory (${err.code ?? err.message})`);
  });
  try {
    const st = await dir.stat();
    if (st.uid !== owner) throw refused(`it belongs to uid ${st.uid}, not the container's root`);
    await rename(from, to);
    const moved = await lstat(to);
    if (!moved.isDirectory() || moved.ino !== st.ino || moved.dev !== st.dev)
      throw refused('it changed while it was moved');
  } finally {
    await dir.close();
  }
}
