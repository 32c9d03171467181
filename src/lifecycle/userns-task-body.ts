/**
 * The work of each task igloo runs in a container's user namespace
 * (lifecycle/userns-task.ts runs them): what the hidden `__userns` command
 * does inside. Loaded only there, with the tar code it pulls in.
 */
import { cp, mkdir, rm } from 'node:fs/promises';
import { IglooError } from '../core/errors.ts';
import type { ArchiveTask } from '../host/container-archive.ts';
import { applyLayer } from '../host/layers.ts';
import { copyXattrsTree } from '../host/xattrs.ts';
import { packDebian, type DebianTask } from './debian-pack.ts';
import { setupNesting } from './nesting-setup.ts';

export type UsernsTask =
  | { kind: 'busybox-rootfs'; rootfs: string; hostname: string }
  | { kind: 'copy-rootfs'; from: string; rootfs: string }
  | { kind: 'extract-layers'; layers: string[]; rootfs: string }
  | DebianTask
  | ArchiveTask
  | { kind: 'nesting-setup'; rootfs: string; size: number }
  | { kind: 'remove'; path: string };

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
