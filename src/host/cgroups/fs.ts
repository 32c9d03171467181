/**
 * Files of one cgroup hierarchy, reached by descriptor from its mount
 * point: every directory below it is opened O_DIRECTORY|O_NOFOLLOW one
 * component at a time (host/beneath.ts openDirsDown), every file
 * O_NOFOLLOW|O_NONBLOCK and checked to be a regular file. Below
 * igloo/user-NAME the directories are the user's: root (igloo limit) must
 * never be led out of the hierarchy by what the user made there.
 */
import {
  closeSync,
  constants,
  fchownSync,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readSync,
  rmdirSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { IglooError } from '../../core/errors.ts';
import { fdPath, openDirAt, openDirsDown, openRoot, readdirFd } from '../beneath.ts';
import { errnoOf, sysError } from '../errno.ts';

const FILE_FLAGS = constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY;

/** Runs fn on the directory REL of the hierarchy mounted at MOUNT, open by descriptor. */
export function withCgroupDir<T>(mount: string, rel: string, op: string, fn: (fd: number) => T): T {
  const fd = openDirsDown(openRoot(mount, op, false), mount, rel, op);
  try {
    return fn(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * The directories of one batch of reads and writes (stats of many
 * containers, the limits of a start), each opened once and kept until
 * close(): a level is opened O_DIRECTORY|O_NOFOLLOW by descriptor from the
 * one above it (the same walk as withCgroupDir, shared by everything
 * below), the top from the hierarchy's mount point.
 */
export class CgroupDirs {
  private readonly fds = new Map<string, number>();

  constructor(private readonly op: string) {}

  /** The directory REL of the hierarchy mounted at MOUNT (IglooError ENOENT when it is not there). */
  dir(mount: string, rel: string): number {
    const asGiven = `${mount}\0${rel}`;
    const known = this.fds.get(asGiven);
    if (known !== undefined) return known;
    const parts = rel.split('/').filter((p) => p !== '' && p !== '.');
    const key = `${mount}\0${parts.join('/')}`;
    let fd = this.fds.get(key);
    if (fd !== undefined) {
      this.fds.set(asGiven, fd);
      return fd;
    }
    fd =
      parts.length === 0
        ? openRoot(mount, this.op, false)
        : openDirAt(
            this.dir(mount, parts.slice(0, -1).join('/')),
            parts[parts.length - 1]!,
            join(mount, ...parts),
            this.op,
          );
    this.fds.set(key, fd);
    this.fds.set(asGiven, fd);
    return fd;
  }

  close(): void {
    for (const fd of new Set(this.fds.values())) closeSync(fd);
    this.fds.clear();
  }
}

/** Runs fn with a CgroupDirs (DIRS if given, else one of its own, closed after). */
export function withCgroupDirs<T>(op: string, fn: (dirs: CgroupDirs) => T, dirs?: CgroupDirs): T {
  if (dirs) return fn(dirs);
  const own = new CgroupDirs(op);
  try {
    return fn(own);
  } finally {
    own.close();
  }
}

/** NAME in the directory DIRSHOWN, opened as a cgroup file (the path is built only for errors). */
function openFile(
  dirFd: number,
  name: string,
  flags: number,
  dirShown: string,
  op: string,
): number {
  let fd: number;
  try {
    fd = openSync(fdPath(dirFd, name), flags | FILE_FLAGS);
  } catch (err) {
    const shown = join(dirShown, name);
    if (errnoOf(err) === 'ELOOP')
      throw new IglooError('EUNSAFE', `Cannot ${op} ${shown}: it is a symbolic link`, {
        op,
        path: shown,
        hint: 'A cgroup file system has no links: something is mounted where a cgroup should be',
      });
    throw sysError(err, op, shown);
  }
  if (!fstatSync(fd).isFile()) {
    closeSync(fd);
    const shown = join(dirShown, name);
    throw new IglooError('EUNSAFE', `Cannot ${op} ${shown}: it is not a cgroup file`, {
      op,
      path: shown,
    });
  }
  return fd;
}

/** Writes VALUE to the file NAME of the cgroup open as dirFd, in one write (as the kernel wants). */
export function writeCgroupFile(dirFd: number, name: string, value: string, shown: string): void {
  const op = 'write';
  const fd = openFile(dirFd, name, constants.O_WRONLY, shown, op);
  try {
    writeSync(fd, value);
  } catch (err) {
    throw sysError(err, `write "${value}" to`, join(shown, name));
  } finally {
    closeSync(fd);
  }
}

const READ_BUFFER = Buffer.alloc(65536);

/** Reads the file NAME of the cgroup open as dirFd (capped at 64 KiB); undefined if missing. */
export function readCgroupFile(dirFd: number, name: string, shown: string): string | undefined {
  let fd: number;
  try {
    fd = openFile(dirFd, name, constants.O_RDONLY, shown, 'read');
  } catch (err) {
    if (err instanceof IglooError && err.errno === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const buf = READ_BUFFER; // reads are synchronous: one buffer serves them all
    let n = 0;
    for (let r; n < buf.length && (r = readSync(fd, buf, n, buf.length - n, null)) > 0;) n += r;
    return buf.toString('utf8', 0, n);
  } finally {
    closeSync(fd);
  }
}

/** Whether the cgroup has the file NAME. */
export function hasCgroupFile(dirFd: number, name: string): boolean {
  try {
    return lstatSync(fdPath(dirFd, name)).isFile();
  } catch {
    return false;
  }
}

/** Makes the child cgroup NAME (fine if it exists). Returns whether it was made now. */
export function mkdirCgroup(dirFd: number, name: string, shown: string): boolean {
  // most starts find it made (root's stay until destroy): no exception for that
  if (lstatSync(fdPath(dirFd, name), { throwIfNoEntry: false })?.isDirectory()) return false;
  try {
    mkdirSync(fdPath(dirFd, name), 0o755);
    return true;
  } catch (err) {
    if (errnoOf(err) === 'EEXIST') return false;
    throw sysError(err, 'make cgroup', join(shown, name));
  }
}

/** chown of the cgroup open as dirFd and of its files NAMES (fchown: no link is followed). */
export function chownCgroup(
  dirFd: number,
  names: readonly string[],
  owner: { uid: number; gid: number },
  shown: string,
): void {
  try {
    fchownSync(dirFd, owner.uid, owner.gid);
  } catch (err) {
    throw sysError(err, 'chown', shown);
  }
  for (const name of names) {
    let fd: number;
    try {
      fd = openFile(dirFd, name, constants.O_RDONLY, shown, 'chown');
    } catch (err) {
      if (err instanceof IglooError && err.errno === 'ENOENT') continue;
      throw err;
    }
    try {
      fchownSync(fd, owner.uid, owner.gid);
    } finally {
      closeSync(fd);
    }
  }
}

/** The child cgroups of the cgroup open as dirFd. */
export function childCgroups(dirFd: number): string[] {
  return readdirFd(dirFd)
    .filter((e) => e.isDirectory())
    .map((e) => e.name);
}

/** The pids in the cgroup open as dirFd (cgroup.procs). */
export function cgroupPids(dirFd: number, shown: string): number[] {
  return (readCgroupFile(dirFd, 'cgroup.procs', shown) ?? '')
    .split('\n')
    .filter(Boolean)
    .map(Number);
}

/**
 * Removes the child cgroup NAME and everything below it, deepest first,
 * once no process is left in it (a cgroup with processes cannot be
 * removed: EBUSY). `depth` bounds a tree someone else made.
 */
export function rmdirCgroupTree(dirFd: number, name: string, shown: string, depth = 0): void {
  if (depth > 32)
    throw new IglooError('EUNSAFE', `Cannot remove ${shown}: cgroups nested over 32 deep`, {
      op: 'remove cgroup',
      path: shown,
    });
  let fd: number;
  try {
    fd = openDirsDown(
      openSync(fdPath(dirFd), constants.O_RDONLY | constants.O_DIRECTORY),
      shown,
      name,
      'remove cgroup',
    );
  } catch (err) {
    if (err instanceof IglooError && err.errno === 'ENOENT') return;
    throw err;
  }
  try {
    for (const child of childCgroups(fd)) rmdirCgroupTree(fd, child, join(shown, name), depth + 1);
  } finally {
    closeSync(fd);
  }
  try {
    rmdirSync(fdPath(dirFd, name));
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return;
    if (errnoOf(err) === 'EBUSY')
      throw new IglooError(
        'EBUSY',
        `Cannot remove cgroup ${join(shown, name)}: processes are still in it`,
        {
          op: 'remove cgroup',
          path: join(shown, name),
          errno: 'EBUSY',
          hint: 'Stop the containers that run in it first',
        },
      );
    throw sysError(err, 'remove cgroup', join(shown, name));
  }
}
