/**
 * Applies image layers (tar, optionally gzip) to a rootfs, in order, with
 * OCI whiteouts. It runs as root of the container's user namespace (see
 * lifecycle/userns-task.ts), so ownership from the archive lands on the
 * container's ids. Every path is resolved inside the rootfs, with symlinks
 * followed as if the rootfs were "/" (an absolute link restarts at the
 * rootfs, ".." stops at it): a layer cannot write outside the rootfs, even
 * through a symlink planted by an earlier layer. Device nodes cannot be made
 * in a user namespace and are skipped with a warning (/dev is a tmpfs).
 * Extended attributes (pax SCHILY.xattr.*: user.* and file capabilities) are
 * applied after each layer's files, so a chown cannot clear a capability; in
 * a user namespace the kernel stores a capability with the namespace's root.
 *
 * Root's shared images are unpacked by root on the host instead (see
 * lifecycle/idmapped.ts), with `shift`: every owner N of the layer is
 * written as BASE+N, a range no host user has, and a file capability gets
 * BASE+its rootid as its rootid (v3), so that no file of an untrusted image
 * is setuid host root or carries a capability host root's processes would
 * get; the idmapped mount maps BASE+N back to the container's N. Devices are
 * never made (as in a namespace), trusted.* and other xattrs are not applied
 * (xattrAllowed), nor user.overlay.* (overlayfs's own, with `userxattr`,
 * which an image must not set on its lower layer).
 */
import {
  createReadStream,
  closeSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeSync,
  chmodSync,
  readdirSync,
  readSync,
} from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createGunzip } from 'node:zlib';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { Parser, type ReadEntry } from 'tar';
import { IglooError } from '../core/errors.ts';
import { layerEntry } from '../core/image/oci.ts';
import { PaxXattrScanner, xattrAllowed, type EntryXattrs } from '../core/image/pax.ts';
import { setXattrs, type XattrRecord } from './xattrs.ts';

/**
 * Resolves a relative path inside `root` the way the kernel would with root
 * as "/", returning a host path. The last component is not followed unless
 * `followLast`. Throws ELOOP after 40 links.
 */
export function resolveInRoot(root: string, relative: string, followLast = false): string {
  let parts = relative.split('/').filter((p) => p !== '' && p !== '.');
  const done: string[] = [];
  let hops = 0;
  while (parts.length > 0) {
    const name = parts.shift()!;
    if (name === '..') {
      done.pop();
      continue;
    }
    const here = join(root, ...done, name);
    const isLast = parts.length === 0;
    let st;
    try {
      st = lstatSync(here);
    } catch {
      done.push(name);
      continue; // does not exist (yet): nothing to follow
    }
    if (st.isSymbolicLink() && (!isLast || followLast)) {
      if (++hops > 40)
        throw new IglooError('ESYS', `Cannot resolve ${relative} in the image: too many symlinks`, {
          op: 'apply layer',
          subject: relative,
          errno: 'ELOOP',
        });
      const target = readlinkSync(here);
      const targetParts = target.split('/').filter((p) => p !== '' && p !== '.');
      if (target.startsWith('/')) done.length = 0;
      parts = [...targetParts, ...parts];
      continue;
    }
    done.push(name);
  }
  return join(root, ...done);
}

export interface ApplyReport {
  entries: number;
  skipped: string[];
}

/** Owners N of the layer become BASE+N on disk; N must be below SPAN. */
export interface IdShift {
  readonly base: number;
  readonly span: number;
}

function shifted(id: number, shift: IdShift | undefined, what: string, entryPath: string): number {
  if (!shift) return id;
  if (!Number.isInteger(id) || id < 0 || id >= shift.span)
    throw new IglooError(
      'EINVAL',
      `Cannot apply layer entry ${entryPath}: its ${what} ${id} is outside the image's ids 0..${shift.span - 1}`,
      {
        op: 'apply layer',
        subject: entryPath,
        hint: 'Shared images keep the ids of one container (0..65535); rebuild the image with ids in that range',
      },
    );
  return shift.base + id;
}

const VFS_CAP_REVISION_MASK = 0xff000000;
const VFS_CAP_REVISION_2 = 0x02000000;
const VFS_CAP_REVISION_3 = 0x03000000;

/**
 * A security.capability value (v2: 20 bytes, v3: 24 with a rootid) as a v3
 * one whose rootid is the shifted rootid (v2 means the image's root, 0).
 * undefined for a value the kernel would not take.
 */
export function shiftCapability(value: Buffer, shift: IdShift): Buffer | undefined {
  if (value.length !== 20 && value.length !== 24) return undefined;
  const magic = value.readUInt32LE(0);
  const revision = (magic & VFS_CAP_REVISION_MASK) >>> 0;
  if (revision === VFS_CAP_REVISION_2 && value.length !== 20) return undefined;
  if (revision === VFS_CAP_REVISION_3 && value.length !== 24) return undefined;
  if (revision !== VFS_CAP_REVISION_2 && revision !== VFS_CAP_REVISION_3) return undefined;
  const rootid = value.length === 24 ? value.readUInt32LE(20) : 0;
  if (rootid >= shift.span) return undefined;
  const out = Buffer.alloc(24);
  value.copy(out, 0, 0, 20);
  out.writeUInt32LE(((magic & ~VFS_CAP_REVISION_MASK) | VFS_CAP_REVISION_3) >>> 0, 0);
  out.writeUInt32LE(shift.base + rootid, 20);
  return out;
}

function removeExisting(path: string, keepDir: boolean): void {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return;
  }
  if (keepDir && st.isDirectory()) return;
  rmSync(path, { recursive: true, force: true });
}

function applyEntry(
  root: string,
  entry: ReadEntry,
  report: ApplyReport,
  layerName: string,
  shift: IdShift | undefined,
): void {
  const action = layerEntry(entry.path);
  if (action.kind === 'skip') {
    report.skipped.push(`${layerName}: ${entry.path}: ${action.why}`);
    entry.resume();
    return;
  }
  if (action.kind === 'whiteout') {
    removeExisting(resolveInRoot(root, action.path), false);
    entry.resume();
    return;
  }
  if (action.kind === 'opaque') {
    const dir = resolveInRoot(root, action.dir, true);
    try {
      for (const name of readdirSync(dir))
        rmSync(join(dir, name), { recursive: true, force: true });
    } catch {
      // the directory does not exist yet: nothing to hide
    }
    entry.resume();
    return;
  }
  const path = resolveInRoot(root, action.path);
  if (path === root) {
    entry.resume(); // the rootfs directory itself: made by the caller, mode kept
    return;
  }
  const parent = path.slice(0, path.lastIndexOf('/'));
  mkdirSync(parent, { recursive: true });
  const uid = shifted(entry.uid ?? 0, shift, 'owner', entry.path);
  const gid = shifted(entry.gid ?? 0, shift, 'group', entry.path);
  const mode = (entry.mode ?? 0o644) & 0o7777;
  const mtime = entry.mtime ?? new Date(0);
  report.entries++;
  switch (entry.type) {
    case 'Directory':
      removeExisting(path, true);
      mkdirSync(path, { recursive: true });
      break;
    case 'File':
    case 'OldFile':
    case 'ContiguousFile': {
      removeExisting(path, false);
      const fd = openSync(path, 'wx', 0o600);
      entry.on('data', (chunk: Buffer) => {
        let off = 0;
        while (off < chunk.length) off += writeSync(fd, chunk, off);
      });
      entry.on('end', () => {
        closeSync(fd);
        lchownSync(path, uid, gid);
        chmodSync(path, mode);
        lutimesSync(path, mtime, mtime);
      });
      return;
    }
    case 'SymbolicLink':
      removeExisting(path, false);
      symlinkSync(entry.linkpath ?? '', path);
      lchownSync(path, uid, gid);
      lutimesSync(path, mtime, mtime);
      entry.resume();
      return;
    case 'Link': {
      const target = layerEntry(entry.linkpath ?? '');
      if (target.kind !== 'entry') {
        report.skipped.push(
          `${layerName}: ${entry.path}: hard link to "${entry.linkpath}" refused`,
        );
        entry.resume();
        return;
      }
      removeExisting(path, false);
      linkSync(resolveInRoot(root, target.path), path);
      entry.resume();
      return;
    }
    case 'FIFO': {
      // Named pipes may be made in a user namespace; Node has no mkfifo(3).
      removeExisting(path, false);
      const made = spawnSync('mkfifo', ['-m', (mode & 0o777).toString(8), path], {
        encoding: 'utf8',
      });
      if (made.status !== 0) throw new Error(`mkfifo ${path}: ${made.stderr.trim()}`);
      break;
    }
    case 'CharacterDevice':
    case 'BlockDevice':
      report.entries--;
      report.skipped.push(
        `${layerName}: ${entry.path}: ${entry.type} not created (no device nodes in a user namespace)`,
      );
      entry.resume();
      return;
    default:
      report.entries--;
      report.skipped.push(`${layerName}: ${entry.path}: entry type ${entry.type} ignored`);
      entry.resume();
      return;
  }
  lchownSync(path, uid, gid);
  chmodSync(path, mode);
  lutimesSync(path, mtime, mtime);
  entry.resume();
}

/** The xattrs a layer's entries carry, onto the files just applied. */
async function applyXattrs(
  root: string,
  found: readonly EntryXattrs[],
  report: ApplyReport,
  layerName: string,
  shift: IdShift | undefined,
): Promise<void> {
  const records: XattrRecord[] = [];
  for (const f of found) {
    const action = layerEntry(f.path);
    if (action.kind !== 'entry') continue;
    const path = resolveInRoot(root, action.path);
    for (const [name, raw] of f.xattrs) {
      let value: Buffer | undefined = raw;
      if (name === 'security.capability' && shift) value = shiftCapability(raw, shift);
      if (xattrAllowed(name) && !name.startsWith('user.overlay.') && value)
        records.push({ path, name, value });
      else report.skipped.push(`${layerName}: ${f.path}: extended attribute ${name} not applied`);
    }
  }
  await setXattrs(records, root);
}

/** gzip (node-tar and we unpack it), zstd (node-tar only: no xattrs then), or plain tar. */
function compression(file: string): 'gzip' | 'zstd' | 'none' {
  const head = Buffer.alloc(4);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, head, 0, 4, 0);
  } finally {
    closeSync(fd);
  }
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))) return 'zstd';
  return 'none';
}

export interface TarStreamOptions {
  /** Also scan the bytes for pax xattrs (PLAIN is uncompressed tar). */
  scan: boolean;
  /** The error for an archive node-tar will not read (a bad header, a bad checksum). */
  invalid: (message: string) => Error;
}

/**
 * Reads a tar stream entry by entry and stops at the first problem: ONENTRY
 * throwing (or calling its `fail`, for errors of the entry's data events), a
 * header node-tar will not trust, or a read error. PLAIN is INPUT itself or
 * INPUT decompressed; node-tar reads zstd itself. Resolves with the pax
 * xattrs the archive carries (node-tar drops SCHILY.xattr.*).
 */
export function parseTarStream(
  input: Readable,
  plain: Readable,
  onEntry: (entry: ReadEntry, fail: (err: unknown) => void) => void,
  opts: TarStreamOptions,
): Promise<EntryXattrs[]> {
  return new Promise((resolve, reject) => {
    let failed = false;
    const parser = new Parser({ strict: true });
    const scanner = new PaxXattrScanner();
    const fail = (err: unknown) => {
      if (failed) return;
      failed = true;
      input.destroy();
      reject(err);
    };
    parser.on('entry', (entry: ReadEntry) => {
      if (failed) return entry.resume();
      try {
        onEntry(entry, fail);
      } catch (err) {
        entry.resume();
        fail(err);
      }
    });
    parser.on('warn', (code: string, message: string) => {
      if (code === 'TAR_ENTRY_INVALID' || code === 'TAR_BAD_ARCHIVE' || code === 'TAR_ABORT')
        fail(opts.invalid(message));
    });
    parser.on('error', fail);
    parser.on('end', () => (failed ? undefined : resolve(scanner.found)));
    input.on('error', fail);
    if (plain !== input) plain.on('error', fail);
    if (opts.scan) plain.on('data', (chunk: Buffer) => scanner.push(chunk));
    plain.pipe(parser);
  });
}

/** Applies one layer file to the rootfs (with `shift`: as root on the host, ids shifted). */
export async function applyLayer(
  root: string,
  layerFile: string,
  report: ApplyReport = { entries: 0, skipped: [] },
  shift?: IdShift,
): Promise<ApplyReport> {
  const input = createReadStream(layerFile);
  const kind = compression(layerFile);
  const plain = kind === 'gzip' ? input.pipe(createGunzip()) : input;
  try {
    const found = await parseTarStream(
      input,
      plain,
      (entry) => applyEntry(root, entry, report, layerFile, shift),
      { scan: kind !== 'zstd', invalid: (message) => new Error(message) },
    );
    await applyXattrs(root, found, report, layerFile, shift);
  } catch (err) {
    if (err instanceof IglooError) throw err;
    const reason = err instanceof Error ? err.message : String(err);
    throw new IglooError('ESYS', `Cannot apply layer ${layerFile}: ${reason}`, {
      op: 'apply layer',
      path: layerFile,
      cause: err,
      hint: "The layer is corrupt, or uses ids outside the container's map",
    });
  }
  return report;
}
