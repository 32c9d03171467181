/**
 * Work on files that belong to a container's ids, done as root of a user
 * namespace with the container's map plus the owner's own id (so the
 * owner's directory is writable from inside). This is how an unprivileged
 * user makes a rootfs owned by 2000000.. and removes it again, with no
 * setuid code of igloo's own (LXC's unprivileged templates and `podman
 * unshare` work the same way). igloo re-runs itself inside that namespace
 * with the hidden `__userns` command.
 */
import { cp, mkdir, rm } from 'node:fs/promises';
import { IglooError } from '../core/errors.ts';
import { insideRanges, normalizeRanges, toOutside, type IdMaps } from '../core/idmap/index.ts';
import { planUserns } from '../core/plan/plan.ts';
import { busyboxRootfsScript, findHostBusybox } from '../host/busybox-rootfs.ts';
import { cliPath } from '../host/install.ts';
import { applyLayer } from '../host/layers.ts';
import { mkdirBeneath, readFileBeneath, unlinkBeneath, writeFileBeneath } from '../host/beneath.ts';
import { copyXattrsTree } from '../host/xattrs.ts';
import { packDebian, type DebianTask } from './debian.ts';
import type { ArchiveTask } from '../host/container-archive.ts';
import { runHelper } from '../native/spawn.ts';
import { NESTED_IGLOO_DIR } from './paths.ts';

export type UsernsTask =
  | { kind: 'busybox-rootfs'; rootfs: string; hostname: string }
  | { kind: 'copy-rootfs'; from: string; rootfs: string }
  | { kind: 'extract-layers'; layers: string[]; rootfs: string }
  | DebianTask
  | ArchiveTask
  | { kind: 'nesting-setup'; rootfs: string; size: number }
  | { kind: 'remove'; path: string };

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

/**
 * Makes a container a host for containers of its own: users made inside get
 * subordinate ids from the container's map (above its own 0..65535) exactly
 * as users on the host do, through useradd and /etc/login.defs, and
 * `igloo` is on PATH.
 *
 * The rootfs is the image's: etc/login.defs or etc/subuid may be links
 * (to /root/.ssh/authorized_keys, say) or FIFOs. Every access goes through
 * host/beneath.ts, which resolves links with the rootfs as "/" and writes
 * regular files only. `owner`: the ids new files and directories get when
 * root does this on the host (root's containers, see runUsernsTask).
 */
export function setupNesting(
  rootfs: string,
  size: number,
  owner?: { uid: number; gid: number },
): void {
  const o = { op: 'set up nesting in', ...(owner && { owner }) };
  for (const file of ['etc/subuid', 'etc/subgid']) {
    writeFileBeneath(rootfs, file, '', { ...o, append: true, mode: 0o644 });
  }
  let defs = '';
  try {
    defs = readFileBeneath(rootfs, 'etc/login.defs', o).toString('utf8');
  } catch (err) {
    if (!(err instanceof IglooError && err.code === 'ENOENT')) throw err;
  }
  const settings: Record<string, number> = {
    SUB_UID_MIN: 65536,
    SUB_UID_MAX: size - 1,
    SUB_UID_COUNT: 65536,
    SUB_GID_MIN: 65536,
    SUB_GID_MAX: size - 1,
    SUB_GID_COUNT: 65536,
  };
  const kept = defs
    .split('\n')
    .filter((l) => !Object.keys(settings).some((k) => new RegExp(`^\\s*${k}\\b`).test(l)));
  const added = Object.entries(settings).map(([k, v]) => `${k}\t${v}`);
  writeFileBeneath(
    rootfs,
    'etc/login.defs',
    [
      ...kept.filter((l, i) => l !== '' || i < kept.length - 1),
      "# igloo: subordinate ids come from this container's map",
      ...added,
      '',
    ].join('\n'),
    { ...o, mode: 0o644 },
  );
  mkdirBeneath(rootfs, 'usr/local/bin', { ...o, mode: 0o755 });
  unlinkBeneath(rootfs, 'usr/local/bin/igloo', o);
  // igloo's native front (bin/igloo: prepared exec and run plans, else
  // node igloo.mjs), with the bound node first in PATH: a script, so that
  // the image's own PATH need not include /usr/local/bin.
  writeFileBeneath(
    rootfs,
    'usr/local/bin/igloo',
    `#!/bin/sh\nPATH=/usr/local/bin:$PATH exec ${NESTED_IGLOO_DIR}/bin/igloo "$@"\n`,
    { ...o, mode: 0o755 },
  );
}

/** Runs inside the namespace (the `__userns` command); see taskArgv for the others. */
export async function performUsernsTask(
  task: Exclude<UsernsTask, { kind: 'busybox-rootfs' }>,
): Promise<void> {
  switch (task.kind) {
    case 'copy-rootfs':
      // No ownership is preserved: every file becomes the container root's.
      // Extended attributes and file capabilities are (Node's cp drops them);
      // a capability is stored with this namespace's root as its rootid.
      await cp(task.from, task.rootfs, {
        recursive: true,
        verbatimSymlinks: true,
        errorOnExist: true,
        force: false,
      });
      return copyXattrsTree(task.from, task.rootfs);
    case 'extract-layers': {
      await mkdir(task.rootfs, { mode: 0o755 });
      const report = { entries: 0, skipped: [] as string[] };
      for (const layer of task.layers) await applyLayer(task.rootfs, layer, report);
      for (const line of report.skipped) process.stderr.write(`igloo: warning: ${line}\n`);
      return;
    }
    case 'nesting-setup':
      return setupNesting(task.rootfs, task.size);
    case 'pack-debian':
      return packDebian(task);
    case 'import-archive': {
      const { extractContainerArchive } = await import('../host/container-archive.ts');
      return extractContainerArchive(task);
    }
    case 'remove':
      return rm(task.path, { recursive: true, force: true });
    default:
      throw new IglooError('EINVAL', `Cannot run task "${(task as { kind: string }).kind}" here`, {
        op: '__userns',
        hint: 'This is an internal command of igloo',
      });
  }
}
