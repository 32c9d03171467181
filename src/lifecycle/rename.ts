/**
 * `igloo rename OLD NEW`: a stopped container gets another name. Under the
 * user-wide lock (names and slices, as create takes it) and OLD's lock:
 * NEW must be free and OLD not running; the config is rewritten with the
 * new name, the rootfs path below the new directory and, when the
 * hostname was the old name, the new one; root's overlay record
 * (rootfs.json) follows the directory; then the directory is renamed in
 * one rename(2) and OLD's run directory (an exit file, stale prepared exec
 * plans) is removed. A failure before the rename puts the files back.
 *
 * Refused while the container has a checkpoint: it is signed over the
 * container's directory and config, and would no longer be restorable.
 */
import { rename, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { formatConfig } from '../core/config/file.ts';
import type { ContainerConfig } from '../core/config/model.ts';
import { validateName } from '../core/config/name.ts';
import { validateConfig } from '../core/config/validate.ts';
import { IglooError } from '../core/errors.ts';
import { sysError } from '../host/errno.ts';
import { replaceFileAtomically, withFileLock } from '../host/files.ts';
import { readRootfsInfo, writeRootfsInfo } from './idmapped.ts';
import type { ContainerPaths } from './paths.ts';
import { Reverter } from './reverter.ts';
import { liveState, readConfig, removeRunDir, withContainerLock } from './store.ts';
import type { UserContainers } from './user-containers.ts';

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

/** PATH moved from below FROM to below TO (unchanged when it is not below FROM). */
function moved(path: string, from: string, to: string): string {
  return path === from || path.startsWith(`${from}/`) ? to + path.slice(from.length) : path;
}

/** OLD's config as NEW's (pure). */
export function renamedConfig(
  config: ContainerConfig,
  from: ContainerPaths,
  to: ContainerPaths,
  newName: string,
): ContainerConfig {
  return validateConfig({
    ...config,
    name: newName,
    rootfs: moved(config.rootfs, from.dir, to.dir),
    hostname: config.hostname === config.name ? newName : config.hostname,
  });
}

export async function renameContainer(
  user: UserContainers,
  oldName: string,
  newName: string,
): Promise<ContainerConfig> {
  validateName(oldName);
  validateName(newName);
  const from = user.paths(oldName);
  const to = user.paths(newName);
  if (oldName === newName) {
    throw new IglooError('EINVAL', `Cannot rename "${oldName}" to itself`, {
      op: 'rename',
      subject: newName,
      hint: 'Give a new name',
    });
  }
  await readConfig(from, oldName); // a clear error for a missing container
  return withFileLock(user.containersDir, () =>
    withContainerLock(from, async () => {
      const config = await readConfig(from, oldName);
      const state = await liveState(from);
      if (state.status === 'running') {
        throw new IglooError('ESTATE', `Cannot rename "${oldName}": it is running`, {
          op: 'rename',
          subject: oldName,
          hint: `Stop it first: igloo stop ${oldName}`,
        });
      }
      if (await exists(to.dir)) {
        throw new IglooError(
          'EEXIST',
          `Cannot rename "${oldName}" to "${newName}": "${newName}" exists already`,
          {
            op: 'rename',
            path: to.dir,
            subject: newName,
            hint: `Choose another name, or remove that one first: igloo destroy ${newName}`,
          },
        );
      }
      const checkpoint = join(from.dir, 'checkpoint');
      if (await exists(checkpoint)) {
        throw new IglooError(
          'ESTATE',
          `Cannot rename "${oldName}": it has a checkpoint, which is signed for this name`,
          {
            op: 'rename',
            path: checkpoint,
            subject: oldName,
            hint: `Restore it first (igloo restore ${oldName}), or remove ${checkpoint}`,
          },
        );
      }
      const next = renamedConfig(config, from, to, newName);
      const revert = new Reverter();
      try {
        const oldText = formatConfig(config);
        await replaceFileAtomically(from.config, formatConfig(next), { mode: 0o644 });
        revert.add(() => replaceFileAtomically(from.config, oldText, { mode: 0o644 }));
        const info = await readRootfsInfo(from);
        if (info?.kind === 'idmapped-overlay') {
          await writeRootfsInfo(from, {
            ...info,
            upper: moved(info.upper, from.dir, to.dir),
            work: moved(info.work, from.dir, to.dir),
          });
          revert.add(() => writeRootfsInfo(from, info));
        }
        try {
          await rename(from.dir, to.dir);
        } catch (err) {
          throw sysError(err, 'rename', from.dir);
        }
        revert.success();
      } catch (err) {
        await revert.revert();
        throw err;
      }
      // Our lock moved along with the directory: release it there.
      await unlink(`${to.state}.lock`).catch(() => undefined);
      await removeRunDir(from);
      await rm(to.rundir, { recursive: true, force: true });
      return next;
    }),
  );
}
