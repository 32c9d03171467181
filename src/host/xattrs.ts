/**
 * Extended attributes and file capabilities, which Node can neither read nor
 * write: the helper's `xattrs` and `shift` modes do it (src/native/xattrs.c).
 * Used when image layers are applied (pax SCHILY.xattr.* records), when a
 * directory is copied into a container, and when a rootfs is shifted from
 * one slice to another.
 */
import { spawn } from 'node:child_process';
import { IglooError } from '../core/errors.ts';
import type { IdMaps } from '../core/idmap/index.ts';
import { formatShiftRange, shiftRanges } from '../core/image/shift.ts';
import { helperPath } from './install.ts';

export interface XattrRecord {
  readonly path: string;
  readonly name: string;
  readonly value: Buffer;
}

function runHelperMode(
  args: string[],
  input: string,
  op: string,
  path: string,
): Promise<{ stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(helperPath(), args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (err) =>
      reject(new IglooError('ESYS', `Cannot ${op} ${path}: ${err.message}`, { op, path })),
    );
    child.on('close', (code) => {
      if (code === 0) return resolve({ stdout });
      const lines = stderr.trim().split('\n');
      reject(
        new IglooError(
          'ESYS',
          `Cannot ${op} ${path}: ${lines[0] ?? `helper exited ${code}`}${lines.length > 1 ? ` (and ${lines.length - 1} more)` : ''}`,
          {
            op,
            path,
            hint: 'The file system must support extended attributes (user.*, security.capability)',
          },
        ),
      );
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

/** Sets the given xattrs (paths already resolved inside the rootfs). */
export async function setXattrs(records: readonly XattrRecord[], where: string): Promise<void> {
  if (records.length === 0) return;
  const input = records.map((r) => `${r.path}\0${r.name}\0${r.value.toString('hex')}\0`).join('');
  await runHelperMode(['xattrs', 'set'], input, 'set extended attributes in', where);
}

/** Gives every file under DST the xattrs of its namesake under SRC. */
export async function copyXattrsTree(src: string, dst: string): Promise<void> {
  await runHelperMode(['xattrs', 'copy-tree', src, dst], '', 'copy extended attributes to', dst);
}

/**
 * Moves the ownership of a tree from one container map to another, keeping
 * set-id bits and file capabilities (whose rootid moves too). Returns the
 * number of files changed.
 */
export async function shiftTree(dir: string, from: IdMaps, to: IdMaps): Promise<number> {
  const ranges = shiftRanges(from, to).map(formatShiftRange);
  if (ranges.length === 0) return 0;
  const { stdout } = await runHelperMode(['shift', dir, ...ranges], '', 'shift the ids of', dir);
  return Number(/SHIFTED (\d+)/.exec(stdout)?.[1] ?? 0);
}
