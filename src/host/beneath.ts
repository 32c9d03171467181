/**
 * Paths beneath a root that someone else controls (a container's rootfs, a
 * user's data directory as root sees it), resolved without ever following
 * a link out of the root.
 *
 * Node has no openat2(RESOLVE_IN_ROOT), so this walks the path one
 * component at a time: each directory is opened with
 * O_DIRECTORY|O_NOFOLLOW relative to the descriptor of the directory
 * verified before it (through /proc/self/fd/N/NAME, which the kernel
 * resolves from that descriptor), and a symlink met on the way is read and
 * resolved by this code with the root as "/" (an absolute target restarts
 * at the root, ".." never climbs above it), at most 40 of them. The last
 * component is handed back as (directory descriptor, name), and every
 * open of it adds O_NOFOLLOW|O_NONBLOCK and checks the kind of what it
 * opened with fstat. Renaming a directory away or swapping a component for
 * a link while the walk runs changes nothing: what was verified is held
 * open, and ".." is this code's own stack, not the kernel's.
 *
 * `symlinks: 'refuse'` (RESOLVE_NO_SYMLINKS) is for trees that must have
 * none: a user's igloo directories read by root.
 */
import {
  closeSync,
  constants,
  fchownSync,
  fstatSync,
  ftruncateSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readlinkSync,
  unlinkSync,
  writeSync,
  type Dirent,
} from 'node:fs';
import { join } from 'node:path';
import { IglooError } from '../core/errors.ts';
import { errnoOf, sysError } from './errno.ts';
import { readUntrustedBytes, type UntrustedReadOptions } from './untrusted.ts';

/** (libuv opens every descriptor O_CLOEXEC.) As many links as the kernel follows in one lookup. */
const MAX_LINKS = 40;

const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

export interface BeneathOptions {
  /** 'in-root' (default): links resolve with the root as "/"; 'refuse': any link is an error. */
  symlinks?: 'in-root' | 'refuse';
  /** Missing directories on the way are made with this mode (mkdir -p). */
  createDirs?: number;
  /** Newly made directories (and files, for writes) get this owner (root making a container's files). */
  owner?: { uid: number; gid: number };
  /** For error messages ("read /etc/passwd of container x"). */
  op?: string;
}

/** The path of NAME in the directory open as FD, for calls that take a path. */
export const fdPath = (fd: number, name?: string) =>
  name === undefined ? `/proc/self/fd/${fd}` : `/proc/self/fd/${fd}/${name}`;

function unsafe(root: string, rel: string, op: string, why: string): IglooError {
  return new IglooError('EUNSAFE', `Refusing to ${op} ${join(root, rel)}: ${why}`, {
    op,
    path: join(root, rel),
    hint: 'Whoever controls that tree made it so; igloo does not follow links out of it',
  });
}

/** mkdir; a directory made here gets `owner` (through a descriptor: no link is followed). */
function makeDir(path: string, mode: number, owner: BeneathOptions['owner']): void {
  try {
    mkdirSync(path, mode);
  } catch (err) {
    if (errnoOf(err) === 'EEXIST') return;
    throw err;
  }
  if (!owner) return;
  const fd = openSync(path, DIR_FLAGS);
  try {
    fchownSync(fd, owner.uid, owner.gid);
  } finally {
    closeSync(fd);
  }
}

/** A walk's result: the directory that holds the last component, open, and its name. */
export interface Resolved {
  /** The directory holding `name` (or the target itself when name is undefined: the root). */
  readonly dirFd: number;
  readonly name: string | undefined;
  /** Closes every descriptor the walk holds. */
  close(): void;
}

/**
 * Opens a directory given by a trusted host path (the root of a walk). It
 * must be a directory; a final symlink is refused unless `follow`.
 */
export function openRoot(root: string, op = 'open', follow = true): number {
  try {
    return openSync(root, follow ? DIR_FLAGS & ~constants.O_NOFOLLOW : DIR_FLAGS);
  } catch (err) {
    if (errnoOf(err) === 'ELOOP' || errnoOf(err) === 'ENOTDIR')
      throw unsafe(root, '', op, 'it is not a directory (or is a symbolic link)');
    throw sysError(err, op, root);
  }
}

/**
 * Walks `rel` beneath the directory open as `rootFd` (named `root` in
 * messages) up to its last component, following links in the last
 * component too when `followLast` (with the same rules).
 */
export function walkBeneath(
  rootFd: number,
  root: string,
  rel: string,
  followLast: boolean,
  opts: BeneathOptions = {},
): Resolved {
  const op = opts.op ?? 'resolve';
  const refuseLinks = opts.symlinks === 'refuse';
  const stack: number[] = [rootFd];
  const close = () => {
    while (stack.length > 1) closeSync(stack.pop()!);
  };
  let parts = rel.split('/').filter((p) => p !== '' && p !== '.');
  let links = 0;
  const followLink = (here: string, name: string) => {
    if (refuseLinks) throw unsafe(root, rel, op, `${name} is a symbolic link`);
    if (++links > MAX_LINKS) throw unsafe(root, rel, op, 'too many symbolic links');
    const target = readlinkSync(here);
    if (target.startsWith('/')) close();
    parts = [...target.split('/').filter((p) => p !== '' && p !== '.'), ...parts];
  };
  try {
    for (;;) {
      // ".." is resolved here, against the directories walked: never above the root.
      while (parts[0] === '..') {
        parts.shift();
        if (stack.length > 1) closeSync(stack.pop()!);
      }
      if (parts.length === 0) return { dirFd: stack[stack.length - 1]!, name: undefined, close };
      const name = parts.shift()!;
      const top = stack[stack.length - 1]!;
      const here = fdPath(top, name);
      const isLast = parts.length === 0;
      if (isLast && !followLast) return { dirFd: top, name, close };
      let st;
      try {
        st = lstatSync(here);
      } catch (err) {
        if (errnoOf(err) !== 'ENOENT') throw err;
        if (isLast) return { dirFd: top, name, close };
        if (opts.createDirs === undefined) throw err;
        makeDir(here, opts.createDirs, opts.owner);
        parts.unshift(name); // look again: whatever is there now is checked like the rest
        continue;
      }
      if (st.isSymbolicLink()) {
        followLink(here, name);
        continue;
      }
      if (isLast) {
        // Not a link (now): the caller opens it with O_NOFOLLOW, which catches a swap.
        return { dirFd: top, name, close };
      }
      let fd: number;
      try {
        fd = openSync(here, DIR_FLAGS);
      } catch (err) {
        // Swapped for a link since the lstat: resolve it as one.
        if (errnoOf(err) === 'ELOOP') {
          parts.unshift(name);
          if (++links > MAX_LINKS) throw unsafe(root, rel, op, 'too many symbolic links');
          continue;
        }
        if (errnoOf(err) === 'ENOTDIR') throw unsafe(root, rel, op, `${name} is not a directory`);
        throw err;
      }
      stack.push(fd);
    }
  } catch (err) {
    close();
    throw err instanceof IglooError ? err : sysError(err, op, join(root, rel));
  }
}

/** Runs fn with `rel` resolved beneath `root`; every descriptor is closed afterwards. */
export function withBeneath<T>(
  root: string,
  rel: string,
  followLast: boolean,
  opts: BeneathOptions,
  fn: (r: Resolved) => T,
): T {
  const rootFd = openRoot(root, opts.op);
  try {
    const r = walkBeneath(rootFd, root, rel, followLast, opts);
    try {
      return fn(r);
    } finally {
      r.close();
    }
  } finally {
    closeSync(rootFd);
  }
}

/** Puts the real path back into a message about a /proc/self/fd path. */
function renamed(err: unknown, proc: string, path: string): unknown {
  if (err instanceof IglooError && err.message.includes(proc)) {
    return new IglooError(err.code, err.message.replace(proc, path), {
      ...(err.op !== undefined && { op: err.op }),
      path,
      ...(err.hint !== undefined && { hint: err.hint }),
      ...(err.errno !== undefined && { errno: err.errno }),
      cause: err,
    });
  }
  return err;
}

/**
 * Reads a regular file beneath `root` (links followed inside the root
 * only), without blocking on a FIFO and up to a cap (readUntrustedBytes).
 * A missing file is an ENOENT IglooError.
 */
export function readFileBeneath(
  root: string,
  rel: string,
  opts: BeneathOptions & UntrustedReadOptions = {},
): Buffer {
  const op = opts.op ?? 'read';
  return withBeneath(root, rel, true, { ...opts, op }, (r) => {
    if (r.name === undefined) throw unsafe(root, rel, op, 'it is a directory');
    const proc = fdPath(r.dirFd, r.name);
    try {
      return readUntrustedBytes(proc, {
        op,
        ...(opts.maxBytes !== undefined && { maxBytes: opts.maxBytes }),
      });
    } catch (err) {
      throw renamed(err, proc, join(root, rel));
    }
  });
}

/**
 * Writes a regular file beneath `root`: replaces its contents (or appends
 * with `append`), creating it with `mode` (and opts.owner) if missing.
 * Refuses anything but a regular file with one link (a hard link could
 * reach a file outside). Links in the path resolve inside the root.
 */
export function writeFileBeneath(
  root: string,
  rel: string,
  data: string | Buffer,
  opts: BeneathOptions & { mode?: number; append?: boolean } = {},
): void {
  const op = opts.op ?? 'write';
  withBeneath(root, rel, true, { ...opts, op }, (r) => {
    if (r.name === undefined) throw unsafe(root, rel, op, 'it is a directory');
    const proc = fdPath(r.dirFd, r.name);
    let fd: number;
    try {
      fd = openSync(
        proc,
        constants.O_WRONLY |
          constants.O_CREAT |
          constants.O_NOFOLLOW |
          constants.O_NONBLOCK |
          constants.O_NOCTTY |
          (opts.append ? constants.O_APPEND : 0),
        opts.mode ?? 0o644,
      );
    } catch (err) {
      if (errnoOf(err) === 'ELOOP') throw unsafe(root, rel, op, 'it became a symbolic link');
      if (errnoOf(err) === 'ENXIO') throw unsafe(root, rel, op, 'it is a FIFO');
      throw sysError(err, op, join(root, rel));
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw unsafe(root, rel, op, 'it is not a regular file');
      if (st.nlink > 1) throw unsafe(root, rel, op, `it has ${st.nlink} hard links`);
      if (opts.owner && st.size === 0 && st.uid !== opts.owner.uid)
        fchownSync(fd, opts.owner.uid, opts.owner.gid);
      if (!opts.append) ftruncateSync(fd, 0);
      const buf = typeof data === 'string' ? Buffer.from(data) : data;
      for (let off = 0; off < buf.length;) off += writeSync(fd, buf, off, buf.length - off);
    } catch (err) {
      throw sysError(err, op, join(root, rel));
    } finally {
      closeSync(fd);
    }
  });
}

/** mkdir -p beneath `root` (links on the way resolve inside it). */
export function mkdirBeneath(
  root: string,
  rel: string,
  opts: BeneathOptions & { mode?: number } = {},
): void {
  const mode = opts.mode ?? 0o755;
  const op = opts.op ?? 'make directory';
  withBeneath(root, rel, true, { ...opts, op, createDirs: mode }, (r) => {
    if (r.name === undefined) return;
    try {
      makeDir(fdPath(r.dirFd, r.name), mode, opts.owner);
      if (!lstatSync(fdPath(r.dirFd, r.name)).isDirectory())
        throw unsafe(root, rel, op, 'it exists and is not a directory');
    } catch (err) {
      throw sysError(err, op, join(root, rel));
    }
  });
}

/** Removes a file beneath `root` (never a directory, never what a link points at); missing is fine. */
export function unlinkBeneath(root: string, rel: string, opts: BeneathOptions = {}): void {
  const op = opts.op ?? 'remove';
  withBeneath(root, rel, false, { ...opts, op }, (r) => {
    if (r.name === undefined) throw unsafe(root, rel, op, 'it is the root');
    try {
      unlinkSync(fdPath(r.dirFd, r.name));
    } catch (err) {
      if (errnoOf(err) !== 'ENOENT') throw sysError(err, op, join(root, rel));
    }
  });
}

/**
 * Opens the directory NAME inside the directory open as `dirFd`, refusing
 * a link or anything but a directory (EUNSAFE), for walks done by hand.
 */
export function openDirAt(dirFd: number, name: string, shown: string, op = 'open'): number {
  try {
    return openSync(fdPath(dirFd, name), DIR_FLAGS);
  } catch (err) {
    const code = errnoOf(err);
    // O_DIRECTORY|O_NOFOLLOW on a link fails ENOTDIR (or ELOOP): say which it is.
    const link = (() => {
      try {
        return lstatSync(fdPath(dirFd, name)).isSymbolicLink();
      } catch {
        return false;
      }
    })();
    if (code === 'ELOOP' || (code === 'ENOTDIR' && link))
      throw unsafe(shown, '', op, 'it is a symbolic link');
    if (code === 'ENOTDIR') throw unsafe(shown, '', op, 'it is not a directory');
    throw sysError(err, op, shown);
  }
}

/**
 * Walks REL down from the directory open as `fd` (the path `top`), one
 * openDirAt() a component: no link, nothing but a directory. Takes `fd`
 * over: it is closed (or, for an empty REL, returned); the result is the
 * descriptor of TOP/REL.
 */
export function openDirsDown(fd: number, top: string, rel: string, op = 'open'): number {
  let path = top;
  try {
    for (const part of rel.split('/').filter((p) => p !== '')) {
      path = join(path, part);
      const next = openDirAt(fd, part, path, op);
      closeSync(fd);
      fd = next;
    }
    return fd;
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/** The entries of the directory open as `dirFd`. */
export function readdirFd(dirFd: number): Dirent[] {
  return readdirSync(fdPath(dirFd), { withFileTypes: true });
}
