/**
 * Reading an image archive for the store (host/images.ts): an oci-archive
 * or docker-archive tarball, or an OCI layout directory, every file of it
 * treated as hostile (see below).
 */
import {
  closeSync,
  constants,
  createWriteStream,
  fstatSync,
  lstatSync,
  openSync,
  read,
  readSync,
  type Stats,
} from 'node:fs';
import { Readable } from 'node:stream';
import { join } from 'node:path';
import { IglooError } from '../core/errors.ts';
import { errnoOf, sysError } from './errno.ts';

// tar, node:crypto and the stream modules are loaded by an import only: they
// would add tens of milliseconds to every `igloo run` and `igloo exec`.
const crypto = () => import('node:crypto');

/*
 * Reading the archive. Root imports archives that users made, so every file
 * of one is hostile: a link (root would copy /etc/shadow or another user's
 * file into its store), a FIFO or a device (/dev/zero never ends, a FIFO
 * blocks), or a file that keeps growing. So:
 *   - the source itself is opened without following a final link
 *     (O_NOFOLLOW), and must be a regular file (a tarball) or a directory;
 *   - a tarball is unpacked into a private directory (mkdtemp, 0700) keeping
 *     only regular files and directories: no link or special file of the
 *     archive ever exists on disk, and at most UNPACK_MAX bytes;
 *   - every path in the layout is opened one component at a time beneath
 *     the directory's descriptor (openat through /proc/self/fd/N), each with
 *     O_NOFOLLOW, so a link anywhere on the path (index.json, blobs, sha256,
 *     the blob) is refused, not followed, and a swap during the walk cannot
 *     lead out; files open O_NONBLOCK and must be regular (fstat of the
 *     descriptor);
 *   - manifests and configs are capped (IMAGE_JSON_MAX) and checked against
 *     their digests; a layer is read up to the size fstat gave when it was
 *     opened, hashed while it is copied, and checked against its digest;
 *   - blob paths come from validated digests (sha256:<64 hex>, oci.ts), and
 *     docker-archive paths must be relative without "..".
 */

/** index.json, manifests and image configs: real ones are a few KiB. */
export const IMAGE_JSON_MAX = 4 << 20;
/** What an outer tarball may unpack to (a gzipped one could be a bomb). */
const UNPACK_MAX = 64 * 2 ** 30;

const O_FILE =
  constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY;
const O_DIR = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

function unsafe(path: string, why: string): IglooError {
  return new IglooError('EUNSAFE', `Refusing to import ${path}: ${why}`, {
    op: 'import image',
    path,
    hint: 'An image archive holds only regular files and directories; whoever made it planted a link or special file. Save the image again (podman save)',
  });
}

function kindOf(st: Stats): string {
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  if (st.isDirectory()) return 'a directory';
  return 'not a regular file';
}

/** The source as given: a regular file or a directory, not a link. */
export function openSource(source: string): { fd: number; dir: boolean; size: number } {
  let fd: number;
  try {
    fd = openSync(source, O_FILE);
  } catch (err) {
    if (errnoOf(err) === 'ELOOP')
      throw unsafe(source, 'it is a symbolic link (give the path of the archive itself)');
    if (errnoOf(err) === 'ENOENT')
      throw new IglooError('ENOENT', `Cannot import ${source}: no such file or directory`, {
        op: 'import image',
        path: source,
        hint: 'Give an oci-archive or docker-archive tarball (podman save), or an OCI layout directory',
      });
    throw sysError(err, 'import image', source);
  }
  const st = fstatSync(fd);
  if (st.isFile() || st.isDirectory()) return { fd, dir: st.isDirectory(), size: st.size };
  closeSync(fd);
  throw unsafe(source, `it is ${kindOf(st)}`);
}

export function openDir(path: string): number {
  try {
    return openSync(path, O_DIR);
  } catch (err) {
    throw sysError(err, 'open', path);
  }
}

/** An archive's directory (a layout directory, or a tarball unpacked privately). */
export class Archive {
  constructor(
    readonly fd: number,
    readonly name: string,
    /** Entries of a tarball that were not unpacked: name -> what they were. */
    readonly dropped: ReadonlyMap<string, string> = new Map(),
  ) {}

  /** Opens REL (a validated relative path) beneath the archive: a regular file, no link. */
  open(rel: string, what: string): { fd: number; size: number } {
    const parts = rel.split('/').filter((p) => p !== '' && p !== '.');
    if (parts.length === 0 || parts.includes('..')) throw unsafe(`${this.name}/${rel}`, 'bad path');
    let dir = this.fd;
    const opened: number[] = [];
    try {
      for (const [i, part] of parts.entries()) {
        const last = i === parts.length - 1;
        const here = `${this.name}/${parts.slice(0, i + 1).join('/')}`;
        let fd: number;
        try {
          fd = openSync(`/proc/self/fd/${dir}/${part}`, last ? O_FILE : O_DIR);
        } catch (err) {
          const errno = errnoOf(err);
          if (errno === 'ELOOP') throw unsafe(here, `its ${what} path has a symbolic link`);
          if (errno === 'ENOTDIR') {
            // O_DIRECTORY|O_NOFOLLOW on a link fails ENOTDIR: say which it is.
            const link = lstatSync(`/proc/self/fd/${dir}/${part}`, { throwIfNoEntry: false });
            throw unsafe(
              here,
              link?.isSymbolicLink()
                ? `its ${what} path has a symbolic link`
                : 'it is not a directory',
            );
          }
          const skipped = this.dropped.get(parts.slice(0, i + 1).join('/'));
          if (errno === 'ENOENT' && skipped)
            throw unsafe(`${this.name}:${rel}`, `its ${what} is ${skipped} in the archive`);
          if (errno === 'ENOENT')
            throw new IglooError(
              'EPARSE',
              `Cannot import ${this.name}: its ${what} ${rel} is missing`,
              {
                op: 'import image',
                path: here,
                hint: 'The archive is truncated or incomplete; save it again',
              },
            );
          throw sysError(err, `open the ${what} of`, here);
        }
        if (last) {
          const st = fstatSync(fd);
          if (!st.isFile()) {
            closeSync(fd);
            throw unsafe(here, `its ${what} is ${kindOf(st)}`);
          }
          return { fd, size: st.size };
        }
        opened.push(fd);
        dir = fd;
      }
    } finally {
      for (const fd of opened) closeSync(fd);
    }
    throw unsafe(`${this.name}/${rel}`, 'bad path'); // not reached
  }

  /** A small file of the archive (index, manifest, config), at most MAX bytes. */
  read(rel: string, what: string, max: number): Buffer {
    const { fd, size } = this.open(rel, what);
    try {
      if (size > max)
        throw unsafe(`${this.name}/${rel}`, `its ${what} has ${size} bytes, more than ${max}`);
      const buf = Buffer.alloc(size);
      let got = 0;
      while (got < size) {
        const n = readSync(fd, buf, got, size - got, got);
        if (n === 0) break;
        got += n;
      }
      return buf.subarray(0, got);
    } finally {
      closeSync(fd);
    }
  }

  readIfExists(rel: string, what: string, max: number): Buffer | undefined {
    try {
      return this.read(rel, what, max);
    } catch (err) {
      if (err instanceof IglooError && err.code === 'EPARSE' && / is missing$/.test(err.message))
        return undefined;
      throw err;
    }
  }
}

/**
 * Unpacks an oci-archive or docker-archive tarball (read from FD) into DIR,
 * a private directory: regular files and directories only, UNPACK_MAX bytes
 * at most. Links, hard links, devices and FIFOs of the archive are dropped
 * (a layout needs none); node-tar refuses ".." and absolute names.
 */
export async function unpackOuter(
  fd: number,
  size: number,
  source: string,
  dir: string,
): Promise<Map<string, string>> {
  const { Unpack } = await import('tar');
  const dropped = new Map<string, string>();
  let total = 0;
  let tooBig = false;
  await new Promise<void>((resolve, reject) => {
    const fail = (err: unknown) =>
      reject(
        err instanceof IglooError
          ? err
          : new IglooError(
              'EPARSE',
              `Cannot import ${source}: the archive does not unpack (${err instanceof Error ? err.message : String(err)})`,
              {
                op: 'import image',
                path: source,
                hint: 'The file is truncated or not a tar archive',
              },
            ),
      );
    const unpack = new Unpack({
      cwd: dir,
      strict: true,
      preserveOwner: false,
      filter: (path, entry) => {
        const type = 'type' in entry ? entry.type : undefined;
        if (type !== 'File' && type !== 'OldFile' && type !== 'Directory') {
          const name = path.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
          const what: Record<string, string> = {
            SymbolicLink: 'a symbolic link',
            Link: 'a hard link',
            FIFO: 'a FIFO',
            CharacterDevice: 'a character device',
            BlockDevice: 'a block device',
          };
          dropped.set(name, what[type ?? ''] ?? `an entry of type ${type}`);
          return false;
        }
        total += 'size' in entry ? entry.size : 0;
        if (total > UNPACK_MAX) tooBig = true;
        return !tooBig;
      },
    });
    unpack.on('error', fail);
    unpack.on('close', () => resolve());
    const input = fdRange(fd, size);
    input.on('error', fail);
    input.pipe(unpack);
  });
  if (tooBig)
    throw new IglooError(
      'EPARSE',
      `Cannot import ${source}: it unpacks to more than ${UNPACK_MAX} bytes`,
      { op: 'import image', path: source, hint: 'Save the image uncompressed (podman save)' },
    );
  return dropped;
}

export async function checkDigest(
  text: string | Buffer,
  digest: string,
  where: string,
): Promise<void> {
  const { createHash } = await crypto();
  const actual = `sha256:${createHash('sha256').update(text).digest('hex')}`;
  if (actual !== digest) {
    throw new IglooError(
      'EPARSE',
      `Cannot import ${where}: its digest is ${actual}, not ${digest}`,
      { op: 'import image', path: where, hint: 'The archive is corrupt; save it again' },
    );
  }
}

/**
 * Copies an opened layer into the staging directory as N.tar or N.tar.gz,
 * hashing it on the way: exactly the SIZE bytes fstat gave when it was
 * opened (a file that grows meanwhile is cut there, and its digest fails).
 */
export async function copyHashing(
  from: { fd: number; size: number },
  where: string,
  staging: string,
  index: number,
  onBytes: (n: number) => void,
): Promise<{ digest: string; size: number; gz: boolean }> {
  const [{ createHash }, { Transform }, { pipeline }] = await Promise.all([
    crypto(),
    import('node:stream'),
    import('node:stream/promises'),
  ]);
  const head = Buffer.alloc(2);
  const gz = readSync(from.fd, head, 0, 2, 0) === 2 && head[0] === 0x1f && head[1] === 0x8b;
  const to = join(staging, 'layers', `${index}.tar${gz ? '.gz' : ''}`);
  const hash = createHash('sha256');
  let size = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      size += chunk.length;
      onBytes(size);
      done(null, chunk);
    },
  });
  await pipeline(
    fdRange(from.fd, from.size),
    tap,
    createWriteStream(to, { mode: 0o600, flags: 'wx' }),
  );
  if (size !== from.size)
    throw new IglooError(
      'EPARSE',
      `Cannot import ${where}: the layer shrank while it was read (${size} of ${from.size} bytes)`,
      { op: 'import image', path: where, hint: 'Import it again when nothing writes it' },
    );
  return { digest: `sha256:${hash.digest('hex')}`, size, gz };
}

/**
 * The first SIZE bytes of the caller's descriptor FD as a stream that never
 * closes it. A ReadStream given an fd closes it when it is destroyed
 * (`autoClose: false` only spares it at the end), and a pipeline destroys
 * every stream when one fails: a full disk on the write side closed the
 * layer's descriptor behind the caller's back, whose own close then failed
 * with EBADF (hiding the ENOSPC) or closed whatever file had taken the
 * number meanwhile. Reads are positional; destroy waits for a read in flight.
 */
function fdRange(fd: number, size: number): Readable {
  let at = 0;
  let inFlight = false;
  let afterRead: (() => void) | undefined;
  return new Readable({
    highWaterMark: 1 << 16,
    read(wanted) {
      if (at >= size) {
        this.push(null);
        return;
      }
      const buf = Buffer.allocUnsafe(Math.min(Math.max(wanted, 1 << 16), size - at));
      inFlight = true;
      read(fd, buf, 0, buf.length, at, (err, got) => {
        inFlight = false;
        if (afterRead) return afterRead();
        if (err) return this.destroy(err);
        if (got === 0) return this.push(null);
        at += got;
        this.push(got === buf.length ? buf : buf.subarray(0, got));
      });
    },
    destroy(err, done) {
      if (inFlight) afterRead = () => done(err);
      else done(err);
    },
  });
}
