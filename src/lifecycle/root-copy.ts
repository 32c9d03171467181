/**
 * Root's `igloo create --image DIR`: the directory is copied on the host,
 * as root, into a private staging directory, and the copy's ids are then
 * shifted to the container's slice. A task in the container's user
 * namespace cannot do it without mapping host uid 0 (a rootfs's files are
 * mostly host root's, many readable by root only), and root of a namespace
 * that maps host 0 can become host root for every file (docs/security.md).
 */
import { cp, mkdtemp, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { IdMaps } from '../core/idmap/index.ts';
import { copyXattrsTree, shiftTree } from '../host/xattrs.ts';

/** The map of a tree as the host sees it: each inside id of MAP is its own host id. */
function hostIdentity(map: IdMaps): IdMaps {
  const same = (e: IdMaps['uid'][number]) => ({
    inside: e.inside,
    outside: e.inside,
    count: e.count,
  });
  return { uid: map.uid.map(same), gid: map.gid.map(same) };
}

/**
 * Copies FROM to ROOTFS for a container of root's with IDMAP. As the task
 * did, every file becomes the container root's (the copy is made by root,
 * then uid and gid 0 move to the slice); modes, set-id bits, xattrs and
 * file capabilities are kept, a capability stored with the container's root
 * as its rootid. Until the shift is done the copy lies in a 0700 directory of
 * root's, beside ROOTFS in the container's own 0700 directory, so no other
 * process reaches its set-uid-root files or host-wide capabilities, and
 * nothing of it is left after a failure.
 */
export async function copyRootfsAsRoot(from: string, rootfs: string, idmap: IdMaps): Promise<void> {
  const stage = await mkdtemp(join(dirname(rootfs), '.copy-'));
  try {
    const copy = join(stage, 'rootfs');
    await cp(from, copy, {
      recursive: true,
      verbatimSymlinks: true,
      errorOnExist: true,
      force: false,
    });
    await copyXattrsTree(from, copy);
    await shiftTree(copy, hostIdentity(idmap), idmap);
    await rename(copy, rootfs);
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}
