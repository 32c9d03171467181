/**
 * `igloo copy SRC DST` (as lxc-copy and `incus copy` do), and the file copy
 * behind snapshots (lifecycle/snapshots.ts).
 *
 * The files of a container belong to its ids, and its tree is hostile
 * (links, FIFOs, hard links to anything it could name). So the copy never
 * runs as the host caller over the tree: it runs as root of a user
 * namespace that maps the source's slice and, for a copy, the new slice
 * right above it (core/image/clone.ts), where GNU `cp -a` (which never
 * follows a link in the tree, and keeps owners, modes, hard links,
 * FIFOs, xattrs and file capabilities) copies the tree, and
 * `igloo-helper shift` moves the copy's owners (and capabilities' rootids,
 * set-id bits) from the source's ids to the new ones. Nothing else of the
 * host is mapped, so the copy can do nothing the two containers' roots
 * could not.
 *   - A user's task maps the user's own ids too (as every user task does),
 *     to reach the user's 0700 directories by path.
 *   - Root's never maps host uid 0: root moves the source tree into a
 *     directory of the source root's (a rename within root's own 0700
 *     tree; the container is stopped and locked), the task works there as
 *     its working directory (the helper's `workdir` step), and root moves
 *     the tree back and takes the copy (a directory of the new root's, by
 *     rename) once the task's processes are gone.
 * On overlay containers (root's, over a shared image) only upper/ is
 * copied: the image stays shared.
 */
import { chown, lstat, mkdir, mkdtemp, rename, rm, rmdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { formatConfig } from '../core/config/file.ts';
import type { ContainerConfig } from '../core/config/model.ts';
import { validateName } from '../core/config/name.ts';
import { validateConfig } from '../core/config/validate.ts';
import { IglooError } from '../core/errors.ts';
import { clonePlan, cloneRoot } from '../core/image/clone.ts';
import { formatShiftRange } from '../core/image/shift.ts';
import { toOutside, type IdMaps } from '../core/idmap/index.ts';
import { planUserns } from '../core/plan/plan.ts';
import { replaceFileAtomically, withFileLock } from '../host/files.ts';
import { helperPath } from '../host/install.ts';
import { runHelper } from '../native/spawn.ts';
import { prepareOverlay, readRootfsInfo, writeRootfsInfo } from './idmapped.ts';
import { ensurePrivateDir, type ContainerPaths } from './paths.ts';
import { Reverter } from './reverter.ts';
import { chooseIdmap } from './slices.ts';
import { liveState, readConfig, withContainerLock, writeState } from './store.ts';
import type { UserContainers } from './user-containers.ts';
import { runUsernsTask, setupMap, takeDir } from './userns-task.ts';

/** One side of a clone: a tree and the map its files belong to. */
export interface CloneEnd {
  readonly path: string;
  readonly idmap: IdMaps;
}

const ENV = ['PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/', 'LANG=C.UTF-8'];

/** cp -a FROM TO, then the shift of TO (no shift for the same map). */
function cloneArgv(from: string, to: string, ranges: readonly string[]): string[] {
  const script =
    'set -e; cp -a --no-target-directory -- "$1" "$2"; shift 2; if [ $# -gt 3 ]; then "$@" >/dev/null; fi';
  return ['/bin/sh', '-c', script, 'clone', from, to, helperPath(), 'shift', to, ...ranges];
}

async function runClone(map: IdMaps, argv: string[], what: string, workdir?: string) {
  const result = await runHelper(
    planUserns(
      map,
      argv,
      ENV,
      '/',
      ['user'],
      workdir === undefined ? undefined : { path: workdir },
    ),
    `${what} in a user namespace of the containers' ids`,
  );
  if (result.exitCode !== 0)
    throw new IglooError('ESYS', `Cannot ${what}: the copy ${result.status ?? 'failed'}`, {
      op: 'copy',
      hint: 'The message above says what went wrong (a device node or a full disk?); nothing was kept',
    });
}

/** A directory that must be a directory (not a link) before root moves it. */
async function requireDir(path: string, what: string): Promise<void> {
  const st = await lstat(path).catch(() => undefined);
  if (!st?.isDirectory())
    throw new IglooError('ENOENT', `Cannot ${what}: ${path} is not a directory`, {
      op: 'copy',
      path,
      hint: 'The container has no files to copy; recreate it',
    });
}

/**
 * Copies the tree FROM to TO (which must not exist), the owners moved
 * from FROM's map to TO's. See the head of this file for how.
 */
export async function cloneTree(
  owner: { uid: number; gid: number },
  from: CloneEnd,
  to: CloneEnd,
  what: string,
): Promise<void> {
  await requireDir(from.path, what);
  const plan = clonePlan(from.idmap, to.idmap, what);
  const ranges = plan.ranges.map(formatShiftRange);
  if (owner.uid !== 0 && owner.gid !== 0) {
    await runClone(setupMap(plan.map, owner), cloneArgv(from.path, to.path, ranges), what);
    return;
  }
  const srcRoot = {
    uid: toOutside(from.idmap.uid, 0, 'uid'),
    gid: toOutside(from.idmap.gid, 0, 'gid'),
  };
  const inside = cloneRoot(plan, from.idmap);
  const dstRoot = toOutside(plan.map.uid, inside.uid, 'uid');
  const work = await mkdtemp(join(dirname(to.path), '.clone-'));
  let moved = false;
  try {
    await chown(work, srcRoot.uid, srcRoot.gid);
    await rename(from.path, join(work, 'src'));
    moved = true;
    await runClone(plan.map, cloneArgv('src', 'dst', ranges), what, work);
    await rename(join(work, 'src'), from.path);
    moved = false;
    await takeDir(join(work, 'dst'), to.path, dstRoot);
  } finally {
    if (moved) {
      await rename(join(work, 'src'), from.path).catch((err: unknown) => {
        // Never remove the working directory while the source's files are in it.
        throw new IglooError('ESYS', `Cannot ${what}: the source's files are left in ${work}/src`, {
          op: 'copy',
          path: work,
          hint: `Move them back by hand: mv ${work}/src ${from.path} (${String(err)})`,
        });
      });
    }
    // What is left (a half copy) belongs to the two roots: removed in their namespace.
    await runUsernsTask(plan.map, { uid: 0, gid: 0 }, { kind: 'remove', path: work }).catch(() =>
      rm(work, { recursive: true, force: true }),
    );
  }
}

/** The tree of a container's files: its rootfs, or upper/ of an overlay over a shared image. */
export async function containerTree(
  paths: ContainerPaths,
): Promise<{ path: string; overlay: boolean }> {
  const info = await readRootfsInfo(paths);
  return info?.kind === 'idmapped-overlay'
    ? { path: info.upper, overlay: true }
    : { path: paths.rootfs, overlay: false };
}

/** Refuses a running container: a copy of files being written is not a copy. */
export async function requireStopped(
  paths: ContainerPaths,
  name: string,
  op: string,
): Promise<void> {
  const state = await liveState(paths);
  if (state.status === 'running')
    throw new IglooError('ESTATE', `Cannot ${op} "${name}": it is running`, {
      op,
      subject: name,
      hint: `Its files are changing while it runs, so a copy would not be consistent: stop it first (igloo stop ${name})`,
    });
}

export interface CopyOptions {
  /** An explicit map for the copy (the same inside ranges as the source's); default: a new slice. */
  idmap?: string;
}

export async function copyContainer(
  user: UserContainers,
  src: string,
  dst: string,
  opts: CopyOptions = {},
): Promise<ContainerConfig> {
  validateName(src);
  validateName(dst);
  const from = user.paths(src);
  const to = user.paths(dst);
  const config = await readConfig(from, src);
  const owner = await user.owner();
  await ensurePrivateDir(user.dirs.data);
  return withContainerLock(from, async () => {
    await requireStopped(from, src, 'copy');
    const tree = await containerTree(from);
    // The user-wide lock makes choosing the slice and claiming DST atomic (as create).
    return withFileLock(user.containersDir, async () => {
      if (
        await lstat(to.dir).then(
          () => true,
          () => false,
        )
      )
        throw new IglooError(
          'EEXIST',
          `Cannot copy "${src}" to "${dst}": "${dst}" exists already`,
          {
            op: 'copy',
            path: to.dir,
            subject: dst,
            hint: `Choose another name, or remove it first: igloo destroy ${dst}`,
          },
        );
      const size = config.idmap.uid.reduce((n, e) => Math.max(n, e.inside + e.count), 0);
      const idmap = await chooseIdmap(user, {
        ...(opts.idmap !== undefined ? { idmap: opts.idmap } : { sliceSize: size }),
      });
      const copied = validateConfig({
        ...config,
        name: dst,
        rootfs: to.rootfs,
        idmap,
        hostname: config.hostname === src ? dst : config.hostname,
      });
      const revert = new Reverter();
      try {
        await mkdir(to.dir, { mode: 0o700 });
        revert.add(() => rm(to.dir, { recursive: true, force: true }));
        await replaceFileAtomically(to.config, formatConfig(copied), { mode: 0o644 });
        if (tree.overlay) {
          const info = await readRootfsInfo(from);
          if (info?.kind !== 'idmapped-overlay') throw new Error('unreachable');
          const made = await prepareOverlay(to, info.image, info.lower, idmap);
          if (made.kind !== 'idmapped-overlay') throw new Error('unreachable');
          await rmdir(made.upper);
          await cloneTree(
            owner,
            { path: tree.path, idmap: config.idmap },
            { path: made.upper, idmap },
            `copy "${src}" to "${dst}"`,
          );
        } else {
          revert.add(() => runUsernsTask(idmap, owner, { kind: 'remove', path: to.rootfs }));
          await cloneTree(
            owner,
            { path: tree.path, idmap: config.idmap },
            { path: to.rootfs, idmap },
            `copy "${src}" to "${dst}"`,
          );
          const info = await readRootfsInfo(from);
          if (info) await writeRootfsInfo(to, info);
        }
        await writeState(to, { version: 1, status: 'created' });
        revert.success();
        return copied;
      } catch (err) {
        await revert.revert();
        throw err;
      }
    });
  });
}
