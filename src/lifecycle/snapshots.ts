/**
 * Snapshots of a stopped container's files (lxc-snapshot, `incus snapshot`):
 *
 *   DATA/containers/NAME/snapshots/SNAP/{snapshot.json, config, rootfs/ | upper/}
 *
 * A snapshot is a copy of the container's tree (its rootfs, or upper/ of
 * an overlay over a shared image) made in the container's user namespace
 * (lifecycle/copy.ts cloneTree: never by the host caller over the tree),
 * and the config as it was. Restore copies it back the same way, replacing
 * the tree and the config; the snapshot stays. All of it happens under the
 * container's lock, on a stopped container.
 *
 * The snapshots directory and each SNAP directory belong to the
 * container's root for root's containers (the removal task of a root
 * container runs as that root: lifecycle/userns-task.ts rootTask), and are
 * reached by nothing in the container (its own directory is 0700).
 */
import { chown, lstat, mkdir, readdir, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseConfig } from '../core/config/file.ts';
import { NAME_PATTERN, validateName } from '../core/config/name.ts';
import { IglooError } from '../core/errors.ts';
import { nextSnapshotName } from '../core/image/clone.ts';
import { toOutside } from '../core/idmap/index.ts';
import { errnoOf, sysError } from '../host/errno.ts';
import { replaceFileAtomically } from '../host/files.ts';
import { readUntrustedText } from '../host/untrusted.ts';
import { cloneTree, containerTree, requireStopped } from './copy.ts';
import type { ContainerPaths } from './paths.ts';
import { readConfig, withContainerLock } from './store.ts';
import type { UserContainers } from './user-containers.ts';
import { runUsernsTask } from './userns-task.ts';

export interface ContainerSnapshot {
  readonly name: string;
  readonly created: string;
  /** What was copied: the rootfs, or upper/ of an overlay over a shared image. */
  readonly tree: 'rootfs' | 'upper';
}

const SNAPSHOTS = 'snapshots';
const META = 'snapshot.json';

const snapshotsDir = (paths: ContainerPaths) => join(paths.dir, SNAPSHOTS);
const snapDir = (paths: ContainerPaths, snap: string) => join(paths.dir, SNAPSHOTS, snap);

function unknownSnapshot(name: string, snap: string, paths: ContainerPaths): IglooError {
  return new IglooError('ENOENT', `Container "${name}" has no snapshot "${snap}"`, {
    op: 'snapshot',
    path: snapDir(paths, snap),
    subject: snap,
    hint: `See its snapshots with: igloo snapshot ls ${name}`,
  });
}

async function readSnapshot(
  paths: ContainerPaths,
  snap: string,
): Promise<ContainerSnapshot | undefined> {
  try {
    const meta = JSON.parse(
      readUntrustedText(join(snapDir(paths, snap), META), { op: 'read a snapshot' }),
    ) as ContainerSnapshot;
    return {
      name: snap,
      created: String(meta.created),
      tree: meta.tree === 'upper' ? 'upper' : 'rootfs',
    };
  } catch (err) {
    if (errnoOf(err) === 'ENOENT' || err instanceof SyntaxError) return undefined;
    throw sysError(err, 'read', join(snapDir(paths, snap), META));
  }
}

export async function listSnapshots(
  user: UserContainers,
  name: string,
): Promise<ContainerSnapshot[]> {
  const paths = user.paths(name);
  await readConfig(paths, name);
  let names: string[];
  try {
    names = await readdir(snapshotsDir(paths));
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return [];
    throw sysError(err, 'list', snapshotsDir(paths));
  }
  const out: ContainerSnapshot[] = [];
  for (const snap of names) {
    // A snapshot without its snapshot.json is one that was never finished.
    const s = snap.startsWith('.') ? undefined : await readSnapshot(paths, snap);
    if (s) out.push(s);
  }
  return out.sort((a, b) => (a.created < b.created ? -1 : a.created > b.created ? 1 : 0));
}

export async function createSnapshot(
  user: UserContainers,
  name: string,
  snap?: string,
): Promise<ContainerSnapshot> {
  validateName(name);
  if (snap !== undefined) validateName(snap, 'snapshot');
  const paths = user.paths(name);
  const config = await readConfig(paths, name);
  const owner = await user.owner();
  return withContainerLock(paths, async () => {
    await requireStopped(paths, name, 'snapshot');
    const taken = (await listSnapshots(user, name)).map((s) => s.name);
    const chosen = snap ?? nextSnapshotName(taken);
    const dir = snapDir(paths, chosen);
    if (
      await lstat(dir).then(
        () => true,
        () => false,
      )
    )
      throw new IglooError(
        'EEXIST',
        `Cannot snapshot "${name}" as "${chosen}": that snapshot exists`,
        {
          op: 'snapshot',
          path: dir,
          subject: chosen,
          hint: `Choose another name, or remove it first: igloo snapshot rm ${name} ${chosen}`,
        },
      );
    const tree = await containerTree(paths);
    const root = {
      uid: toOutside(config.idmap.uid, 0, 'uid'),
      gid: toOutside(config.idmap.gid, 0, 'gid'),
    };
    const asRoot = owner.uid === 0 || owner.gid === 0;
    await mkdir(snapshotsDir(paths), { mode: 0o700 }).catch((err: unknown) => {
      if (errnoOf(err) !== 'EEXIST') throw err;
    });
    if (asRoot) await chown(snapshotsDir(paths), root.uid, root.gid);
    await mkdir(dir, { mode: 0o700 });
    try {
      if (asRoot) await chown(dir, root.uid, root.gid);
      const kind = tree.overlay ? 'upper' : 'rootfs';
      await cloneTree(
        owner,
        { path: tree.path, idmap: config.idmap },
        { path: join(dir, kind), idmap: config.idmap },
        `snapshot "${name}"`,
      );
      await writeFile(
        join(dir, 'config'),
        readUntrustedText(paths.config, { op: 'read the config' }),
        {
          mode: 0o600,
          flag: 'wx',
        },
      );
      const made: ContainerSnapshot = {
        name: chosen,
        created: new Date().toISOString(),
        tree: kind,
      };
      // Written last: a snapshot without it is an unfinished one.
      await writeFile(join(dir, META), JSON.stringify(made, null, 2) + '\n', {
        mode: 0o600,
        flag: 'wx',
      });
      return made;
    } catch (err) {
      await removeSnapDir(user, paths, config.idmap, dir).catch(() => undefined);
      throw err;
    }
  });
}

/** Removes a snapshot's directory: its tree in the container's namespace, the rest after. */
async function removeSnapDir(
  user: UserContainers,
  paths: ContainerPaths,
  idmap: Parameters<typeof runUsernsTask>[0],
  dir: string,
): Promise<void> {
  const owner = await user.owner();
  for (const tree of ['rootfs', 'upper'])
    await runUsernsTask(idmap, owner, { kind: 'remove', path: join(dir, tree) });
  await rm(dir, { recursive: true, force: true });
  // The last snapshot gone: so is the directory (rmdir refuses one that is not empty).
  await rmdir(snapshotsDir(paths)).catch(() => undefined);
}

async function requireSnapshot(
  user: UserContainers,
  name: string,
  snap: string,
): Promise<{ paths: ContainerPaths; snapshot: ContainerSnapshot }> {
  validateName(name);
  const paths = user.paths(name);
  await readConfig(paths, name);
  // A name that is not a valid one names no snapshot (and no path is made from it).
  const valid = NAME_PATTERN.test(snap);
  const snapshot = valid ? await readSnapshot(paths, snap) : undefined;
  if (!snapshot) throw unknownSnapshot(name, snap, paths);
  return { paths, snapshot };
}

export async function removeSnapshot(
  user: UserContainers,
  name: string,
  snap: string,
): Promise<void> {
  const { paths } = await requireSnapshot(user, name, snap);
  const config = await readConfig(paths, name);
  await withContainerLock(paths, () =>
    removeSnapDir(user, paths, config.idmap, snapDir(paths, snap)),
  );
}

/**
 * Puts the snapshot's files and config back. The copy is made beside the
 * tree first; only when it is whole is the old tree removed and the copy
 * renamed into its place, so a failed restore leaves the container as it was.
 */
export async function restoreSnapshot(
  user: UserContainers,
  name: string,
  snap: string,
): Promise<ContainerSnapshot> {
  const { paths, snapshot } = await requireSnapshot(user, name, snap);
  const owner = await user.owner();
  return withContainerLock(paths, async () => {
    await requireStopped(paths, name, 'restore a snapshot of');
    const config = await readConfig(paths, name);
    const tree = await containerTree(paths);
    if ((tree.overlay ? 'upper' : 'rootfs') !== snapshot.tree)
      throw new IglooError(
        'EINVAL',
        `Cannot restore "${snap}" of "${name}": it holds a ${snapshot.tree}, the container has a ${tree.overlay ? 'overlay' : 'rootfs'}`,
        {
          op: 'snapshot restore',
          subject: snap,
          hint: 'The container was made again since; make a new snapshot',
        },
      );
    // The config as it was, checked before anything changes (its map must be the container's).
    const saved = readUntrustedText(join(snapDir(paths, snap), 'config'), {
      op: 'read a snapshot',
    });
    const savedConfig = parseConfig(saved, { path: join(snapDir(paths, snap), 'config') });
    if (
      JSON.stringify(savedConfig.idmap) !== JSON.stringify(config.idmap) ||
      savedConfig.name !== config.name
    )
      throw new IglooError(
        'EINVAL',
        `Cannot restore "${snap}" of "${name}": its config has another name or id map`,
        {
          op: 'snapshot restore',
          subject: snap,
          hint: 'Make a new snapshot',
        },
      );
    const fresh = `${tree.path}.restore`;
    await runUsernsTask(config.idmap, owner, { kind: 'remove', path: fresh });
    try {
      await cloneTree(
        owner,
        { path: join(snapDir(paths, snap), snapshot.tree), idmap: config.idmap },
        { path: fresh, idmap: config.idmap },
        `restore "${snap}" of "${name}"`,
      );
    } catch (err) {
      await runUsernsTask(config.idmap, owner, { kind: 'remove', path: fresh }).catch(
        () => undefined,
      );
      throw err;
    }
    await runUsernsTask(config.idmap, owner, { kind: 'remove', path: tree.path });
    await rename(fresh, tree.path);
    if (tree.overlay) {
      // The overlay's work directory belongs with the old upper: an empty one.
      const work = join(paths.dir, 'work');
      await runUsernsTask(config.idmap, owner, { kind: 'remove', path: work });
      await mkdir(work, { mode: 0o755 });
      await chown(
        work,
        toOutside(config.idmap.uid, 0, 'uid'),
        toOutside(config.idmap.gid, 0, 'gid'),
      );
    }
    await replaceFileAtomically(paths.config, saved, { mode: 0o644 });
    return snapshot;
  });
}

/** Removes every snapshot of a container (destroy does, before its directory goes). */
export async function removeAllSnapshots(
  user: UserContainers,
  paths: ContainerPaths,
  idmap: Parameters<typeof runUsernsTask>[0],
): Promise<void> {
  let names: string[];
  try {
    names = await readdir(snapshotsDir(paths));
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return;
    throw sysError(err, 'list', snapshotsDir(paths));
  }
  for (const snap of names)
    await removeSnapDir(user, paths, idmap, join(snapshotsDir(paths), snap));
}
