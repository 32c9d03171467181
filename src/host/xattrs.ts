/**
 * Extended attributes and file capabilities, which Node can neither read nor
 * write: the helper's `xattrs` and `shift` modes do it (src/native/xattrs.c).
 * Used when image layers are applied (pax SCHILY.xattr.* records), when a
 * directory is copied into a container, and when a rootfs is shifted from
 * one slice to another.
 */
import { IglooError } from '../core/errors.ts';
import type { IdMaps } from '../core/idmap/index.ts';
import { formatShiftRange, shiftRanges } from '../core/image/shift.ts';
import { parseHelperLine, runHelperTool } from './helper.ts';

export interface XattrRecord {
  readonly path: string;
  readonly name: string;
  readonly value: Buffer;
}

/**
 * Runs an xattrs or shift mode; its stdout if it went well. These modes print
 * one stderr line per problem and go on: the first one says why, with a count
 * of the others.
 */
async function runFileMode(
  args: string[],
  input: string,
  op: string,
  path: string,
): Promise<string> {
  const { code, stdout, stderr } = await runHelperTool(args, `${op} ${path}`, input);
  if (code === 0) return stdout;
  const lines = stderr.trim().split('\n');
  throw new IglooError(
    'ESYS',
    `Cannot ${op} ${path}: ${lines[0] ?? `helper exited ${code}`}${lines.length > 1 ? ` (and ${lines.length - 1} more)` : ''}`,
    {
      op,
      path,
      hint: 'The file system must support extended attributes (user.*, security.capability)',
    },
  );
}

/** Sets the given xattrs (paths already resolved inside the rootfs). */
export async function setXattrs(records: readonly XattrRecord[], where: string): Promise<void> {
  if (records.length === 0) return;
  const input = records.map((r) => `${r.path}\0${r.name}\0${r.value.toString('hex')}\0`).join('');
  await runFileMode(['xattrs', 'set'], input, 'set extended attributes in', where);
}

/** Gives every file under DST the xattrs of its namesake under SRC. */
export async function copyXattrsTree(src: string, dst: string): Promise<void> {
  await runFileMode(['xattrs', 'copy-tree', src, dst], '', 'copy extended attributes to', dst);
}

/**
 * Moves the ownership of a tree from one container map to another, keeping
 * set-id bits and file capabilities (whose rootid moves too). Returns the
 * number of files changed.
 */
export async function shiftTree(dir: string, from: IdMaps, to: IdMaps): Promise<number> {
  const ranges = shiftRanges(from, to).map(formatShiftRange);
  if (ranges.length === 0) return 0;
  const stdout = await runFileMode(['shift', dir, ...ranges], '', 'shift the ids of', dir);
  for (const line of stdout.split('\n')) {
    const record = parseHelperLine(line);
    if (record.kind === 'SHIFTED') return record.count;
  }
  return 0;
}
