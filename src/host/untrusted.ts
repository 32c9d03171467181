/**
 * Reading files that a user or a container controls, and writing beside
 * paths in directories that others can write to.
 *
 * Root reads users' state files (`igloo ps --all`, `igloo audit --user`), and
 * any caller reads files in a container's rootfs or in an archive it was
 * handed. Whoever controls such a file can make it a FIFO (an open blocks
 * forever), a link (root reads or writes somewhere else), a device
 * (/dev/zero never ends) or simply huge. So such reads open the last
 * component with O_NOFOLLOW|O_NONBLOCK, insist on a regular file (fstat of
 * the open descriptor, not of the name), and read at most a cap.
 *
 * Temporaries beside a target in a shared directory (/tmp) go in a private
 * directory made by mkdtemp (mkdir(2) never follows a link and fails on
 * anything that exists), and rename(2) into place replaces a planted link
 * rather than following it.
 */
import { closeSync, constants, fstatSync, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { IglooError } from '../core/errors.ts';
import { errnoOf, sysError } from './errno.ts';

/** Large enough for any state, config or manifest igloo writes; small enough to never hurt. */
export const UNTRUSTED_READ_MAX = 1 << 20;

export interface UntrustedReadOptions {
  /** Refuse files larger than this many bytes (default 1 MiB). */
  maxBytes?: number;
  /** The operation, for error messages ("read the state of anna's container x"). */
  op?: string;
}

function kindOf(mode: number): string {
  switch (mode & constants.S_IFMT) {
    case constants.S_IFIFO:
      return 'a FIFO';
    case constants.S_IFCHR:
      return 'a character device';
    case constants.S_IFBLK:
      return 'a block device';
    case constants.S_IFSOCK:
      return 'a socket';
    case constants.S_IFDIR:
      return 'a directory';
    default:
      return 'not a regular file';
  }
}

function refuse(path: string, op: string, why: string): IglooError {
  return new IglooError('EUNSAFE', `Refusing to ${op} ${path}: ${why}`, {
    op,
    path,
    hint: 'Someone who can write there replaced the file; igloo skips it. Remove it, or recreate what should be there',
  });
}

/**
 * Why a path was refused: an EUNSAFE message (here or host/beneath.ts)
 * without its "Refusing to OP PATH: " head; any other error's message.
 */
export function refusalReason(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.replace(/^Refusing to [^:]*: /, '');
}

/**
 * Reads a regular file that someone else may control, as bytes, without
 * following a final symlink, without blocking on a FIFO and without reading
 * more than `maxBytes`. A missing file is an ENOENT IglooError.
 */
export function readUntrustedBytes(path: string, opts: UntrustedReadOptions = {}): Buffer {
  const op = opts.op ?? 'read';
  const max = opts.maxBytes ?? UNTRUSTED_READ_MAX;
  let fd: number;
  try {
    fd = openSync(
      path,
      constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY,
    );
  } catch (err) {
    if (errnoOf(err) === 'ELOOP') throw refuse(path, op, 'it is a symbolic link');
    throw sysError(err, op, path);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw refuse(path, op, `it is ${kindOf(st.mode)}`);
    if (st.size > max) throw refuse(path, op, `it has ${st.size} bytes, more than ${max}`);
    // Read to the cap plus one byte: a file that grows meanwhile is caught too.
    const buf = Buffer.allocUnsafe(Math.min(st.size, max) + 1);
    let got = 0;
    for (;;) {
      const n = readSync(fd, buf, got, buf.length - got, null);
      if (n === 0) break;
      got += n;
      if (got === buf.length) {
        if (got > max) throw refuse(path, op, `it has more than ${max} bytes`);
        break;
      }
    }
    return buf.subarray(0, got);
  } catch (err) {
    throw sysError(err, op, path);
  } finally {
    closeSync(fd);
  }
}

/** readUntrustedBytes as UTF-8 text. */
export function readUntrustedText(path: string, opts: UntrustedReadOptions = {}): string {
  return readUntrustedBytes(path, opts).toString('utf8');
}

/**
 * Runs fn with a fresh private directory (mode 0700, a name nobody could
 * guess or pre-create) in the directory of `target`, and removes it
 * afterwards. Write temporaries in it with flag 'wx', then rename them onto
 * the target.
 */
export async function withPrivateTempDir<T>(
  target: string,
  fn: (dir: string) => Promise<T>,
): Promise<T> {
  let dir: string;
  try {
    dir = mkdtempSync(join(dirname(target), `.${basename(target)}.igloo-`));
  } catch (err) {
    throw sysError(err, 'make a private temporary directory beside', target);
  }
  try {
    return await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
