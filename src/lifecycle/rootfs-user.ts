/**
 * A user named by the container's own accounts (an image's User, `exec
 * --user`), resolved through the rootfs's /etc/passwd and /etc/group.
 */
import type { ContainerConfig } from '../core/config/model.ts';
import { IglooError } from '../core/errors.ts';
import { parseGroup, parsePasswd, resolveUser } from '../core/passwd.ts';
import { readFileBeneath } from '../host/beneath.ts';
import { readRootfsInfo } from './idmapped.ts';
import type { ContainerPaths } from './paths.ts';

/**
 * USER (a name or uid[:gid]) as ids of the container, read from its
 * rootfs; WHERE names the passwd file in messages.
 */
export async function resolveRootfsUser(
  paths: ContainerPaths,
  config: ContainerConfig,
  user: string,
  where: string,
): Promise<{ uid: number; gid: number; groups: number[] }> {
  const [passwd, group] = await Promise.all([
    readRootfsFile(paths, config, '/etc/passwd'),
    readRootfsFile(paths, config, '/etc/group'),
  ]);
  const u = resolveUser(user, parsePasswd(passwd), parseGroup(group), where);
  return { uid: u.uid, gid: u.gid, groups: [] };
}

/**
 * Reads a small text file from the rootfs for names (passwd, group), as
 * the container left it: the rootfs is the container's (root runs this
 * for `exec --user` while the container runs and can swap the file for a
 * link or a FIFO at any moment), so the path is resolved beneath it with
 * links kept inside (host/beneath.ts), and only a regular file of at most
 * 4 MiB is read. A missing file reads as empty; anything else unsafe is
 * an EUNSAFE error naming it.
 */
async function readRootfsFile(
  paths: ContainerPaths,
  config: ContainerConfig,
  path: string,
): Promise<string> {
  const layered = await readRootfsInfo(paths);
  const overlay = layered?.kind === 'idmapped-overlay';
  const roots = overlay ? [layered.upper, layered.lower] : [config.rootfs];
  for (const root of roots) {
    try {
      return readFileBeneath(root, path, {
        op: `read ${path} of "${config.name}" from`,
        maxBytes: 4 << 20,
      }).toString('utf8');
    } catch (err) {
      if (err instanceof IglooError && err.code === 'ENOENT') continue;
      // An overlay's whiteout (a 0:0 character device in upper): the file was removed.
      if (
        overlay &&
        root === roots[0] &&
        err instanceof IglooError &&
        /character device/.test(err.message)
      )
        return '';
      throw err;
    }
  }
  return '';
}
