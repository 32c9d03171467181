/**
 * Unpacks a container archive (igloo export) for import-container. It runs
 * as root of the target container's user namespace (the `import-archive`
 * task of lifecycle/userns-task.ts), never as host root: whatever the
 * archive says, files land on the container's ids, device nodes cannot be
 * made (and are skipped, reported), set-id bits and file capabilities mean
 * nothing outside the container.
 *
 * The archive is untrusted input, so on top of that:
 * - only the members export writes (core/criu/archive.ts): a name that is
 *   absolute or has ".." stops the import;
 * - every rootfs path is resolved inside the rootfs (layers.ts'
 *   resolveInRoot: a symlink of an earlier member cannot lead out), and a
 *   hard link must point at another rootfs member, resolved the same way;
 * - owners are the archive's host ids translated through the map the
 *   exported manifest claims (FROM) into ids inside; an id outside FROM
 *   stops the import, and the result can only ever be an id of the target
 *   namespace (the kernel refuses the rest);
 * - `config` is a regular file of at most 1 MiB; checkpoint images are
 *   regular files in one flat directory (root checks their signature before
 *   any use, see lifecycle/checkpoint.ts);
 * - plain tar only (no compression: no member can be bigger than the
 *   archive), no GNU sparse members.
 *
 * What was skipped goes to DEST/import-report.json (one line each), read by
 * root afterwards.
 */
import {
  chmodSync,
  closeSync,
  createReadStream,
  fchmodSync,
  fchownSync,
  futimesSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { ReadEntry } from 'tar';
import { archiveMember } from '../core/criu/archive.ts';
import { UNSIGNED } from '../core/criu/signature.ts';
import { IglooError } from '../core/errors.ts';
import { tryToInside, type IdMapEntry, type IdMaps } from '../core/idmap/index.ts';
import { xattrAllowed } from '../core/image/pax.ts';
import { parseTarStream, resolveInRoot } from './layers.ts';
import { setXattrs, type XattrRecord } from './xattrs.ts';

export const IMPORT_REPORT = 'import-report.json';
const CONFIG_MAX = 1 << 20;

export interface ArchiveTask {
  readonly kind: 'import-archive';
  /** The archive (a private copy root made for this task). */
  readonly archive: string;
  /** The archive as the user named it, for messages. */
  readonly shown: string;
  /** Where config, rootfs/ and checkpoint/ are made. */
  readonly dest: string;
  /** The map the archive's manifest claims: host ids in the archive -> ids inside. */
  readonly from: IdMaps;
}

class Refused extends Error {}

/** Refuses compressed archives: export writes plain tar. */
function requirePlainTar(file: string): void {
  const head = Buffer.alloc(6);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, head, 0, 6, 0);
  } finally {
    closeSync(fd);
  }
  const compressed =
    (head[0] === 0x1f && head[1] === 0x8b) ||
    head.subarray(0, 4).equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd])) ||
    head.subarray(0, 3).toString('latin1') === 'BZh' ||
    head.equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]));
  if (compressed)
    throw new Refused('it is compressed (igloo export writes a plain tar; decompress it first)');
}

/**
 * A file capability as the archive holds it names its root by host id (v3,
 * the exporting container's root). Written from inside the new container's
 * user namespace, the rootid is read in that namespace: translate it through
 * the map the archive claims (0 for the container's root); a v2 value has no
 * rootid and means that root. A rootid outside the map is not applied.
 */
function capabilityInside(value: Buffer, from: readonly IdMapEntry[]): Buffer | undefined {
  if (value.length !== 24) return value;
  const inside = tryToInside(from, value.readUInt32LE(20));
  if (inside === undefined) return undefined;
  const out = Buffer.from(value);
  out.writeUInt32LE(inside, 20);
  return out;
}

export async function extractContainerArchive(task: ArchiveTask): Promise<void> {
  try {
    await extract(task);
  } catch (err) {
    // root reads why from the report (the task's own stderr is only shown)
    const error = err instanceof Error ? err.message : String(err);
    writeFileSync(join(task.dest, IMPORT_REPORT), JSON.stringify({ error }) + '\n', {
      mode: 0o600,
    });
    throw err;
  }
}

async function extract(task: ArchiveTask): Promise<void> {
  try {
    requirePlainTar(task.archive);
  } catch (err) {
    if (err instanceof Refused)
      throw new IglooError('EUNSAFE', `Cannot import ${task.shown}: ${err.message}`, {
        op: 'import-container',
        path: task.shown,
      });
    throw err;
  }
  const rootfs = join(task.dest, 'rootfs');
  const checkpoint = join(task.dest, 'checkpoint');
  const skipped: string[] = [];
  const xattrs: XattrRecord[] = [];
  const dirModes: Array<{ rel: string; mode: number; mtime: Date }> = [];
  mkdirSync(rootfs, { mode: 0o755 });
  // parseTarStream's stop, handed to each entry: the data events of a file
  // being written stop the parse through it
  let fail: (err: unknown) => void = (err) => {
    throw err;
  };

  const ids = (entry: ReadEntry): { uid: number; gid: number } => {
    const uid = tryToInside(task.from.uid, entry.uid ?? -1);
    const gid = tryToInside(task.from.gid, entry.gid ?? -1);
    if (uid === undefined || gid === undefined)
      throw new Refused(
        `${entry.path} is owned by host ids ${entry.uid}:${entry.gid}, outside the map its manifest claims`,
      );
    return { uid, gid };
  };

  // Owner, mode and times of a written file are set on its descriptor (the
  // file O_EXCL made), never again by name: a later member may have put a
  // symlink on the way meanwhile.
  const writeData = (entry: ReadEntry, path: string, done: (fd: number) => void, max?: number) => {
    const fd = openSync(path, 'wx', 0o600);
    let size = 0;
    entry.on('data', (chunk: Buffer) => {
      size += chunk.length;
      try {
        if (max !== undefined && size > max)
          throw new Refused(`${entry.path} is larger than ${max} bytes`);
        let off = 0;
        while (off < chunk.length) off += writeSync(fd, chunk, off);
      } catch (err) {
        fail(err);
      }
    });
    entry.on('end', () => {
      try {
        done(fd);
        closeSync(fd);
      } catch (err) {
        fail(err);
      }
    });
  };

  const rootfsEntry = (entry: ReadEntry, rel: string) => {
    if (entry.type === 'CharacterDevice' || entry.type === 'BlockDevice') {
      skipped.push(
        `${entry.path}: ${entry.type} ${entry.header.devmaj}:${entry.header.devmin} not created (no device nodes from an archive)`,
      );
      return entry.resume();
    }
    if (entry.type === 'SparseFile' || /(^|\/)GNUSparseFile\.\d+\//.test(entry.path))
      throw new Refused(`${entry.path} is a GNU sparse member (igloo export writes none)`);
    const { uid, gid } = ids(entry);
    const mode = (entry.mode ?? 0o644) & 0o7777;
    const mtime = entry.mtime ?? new Date(0);
    if (rel === '') {
      if (entry.type !== 'Directory') throw new Refused('rootfs is not a directory');
      lchownSync(rootfs, uid, gid);
      dirModes.push({ rel: '', mode, mtime });
      return entry.resume();
    }
    const path = resolveInRoot(rootfs, rel);
    mkdirSync(path.slice(0, path.lastIndexOf('/')), { recursive: true });
    const existing = lstatSync(path, { throwIfNoEntry: false });
    const keepDir = existing?.isDirectory() === true && entry.type === 'Directory';
    if (existing && !keepDir) rmSync(path, { recursive: true, force: true });
    const finish = (fd: number) => {
      fchownSync(fd, uid, gid);
      fchmodSync(fd, mode);
      futimesSync(fd, mtime, mtime);
    };
    switch (entry.type) {
      case 'Directory':
        if (!keepDir) mkdirSync(path, { mode: 0o700 });
        lchownSync(path, uid, gid);
        // modes and times last: a read-only directory still gets its files
        dirModes.push({ rel, mode, mtime });
        return entry.resume();
      case 'File':
      case 'OldFile':
      case 'ContiguousFile':
        return writeData(entry, path, finish);
      case 'SymbolicLink':
        symlinkSync(entry.linkpath ?? '', path);
        lchownSync(path, uid, gid);
        lutimesSync(path, mtime, mtime);
        return entry.resume();
      case 'Link': {
        const target = archiveMember(entry.linkpath ?? '');
        if (target.kind !== 'rootfs' || target.path === '')
          throw new Refused(
            `${entry.path} is a hard link to "${entry.linkpath}", outside the rootfs`,
          );
        linkSync(resolveInRoot(rootfs, target.path), path);
        return entry.resume();
      }
      case 'FIFO': {
        const made = spawnSync('mkfifo', ['-m', (mode & 0o777).toString(8), path], {
          encoding: 'utf8',
        });
        if (made.status !== 0) throw new Error(`mkfifo ${path}: ${made.stderr.trim()}`);
        lchownSync(path, uid, gid);
        lutimesSync(path, mtime, mtime);
        return entry.resume();
      }
      default:
        skipped.push(`${entry.path}: entry type ${entry.type} ignored`);
        return entry.resume();
    }
  };

  const onEntry = (entry: ReadEntry, stop: (err: unknown) => void) => {
    fail = stop;
    const member = archiveMember(entry.path);
    switch (member.kind) {
      case 'refuse':
        throw new Refused(`member "${entry.path}" has ${member.why}`);
      case 'manifest':
        // root read it before, from its own copy
        return entry.resume();
      case 'config':
        if (entry.type !== 'File') throw new Refused('config is not a regular file');
        return writeData(entry, join(task.dest, 'config'), () => undefined, CONFIG_MAX);
      case 'checkpoint-dir':
        if (entry.type !== 'Directory') throw new Refused('checkpoint is not a directory');
        mkdirSync(checkpoint, { recursive: true, mode: 0o700 });
        return entry.resume();
      case 'checkpoint':
        // restore's own files: never taken from an archive (the manifest is)
        if (UNSIGNED.has(member.name) && member.name !== 'igloo-checkpoint.json')
          return entry.resume();
        if (entry.type !== 'File')
          throw new Refused(`${entry.path} is not a regular file (a checkpoint holds files only)`);
        mkdirSync(checkpoint, { recursive: true, mode: 0o700 });
        return writeData(entry, join(checkpoint, member.name), (fd) =>
          fchmodSync(fd, (entry.mode ?? 0o600) & 0o644),
        );
      case 'rootfs':
        return rootfsEntry(entry, member.path);
    }
  };

  const input = createReadStream(task.archive);
  const found = await parseTarStream(input, input, onEntry, {
    scan: true,
    invalid: (message) => new Refused(message),
  }).catch((err: unknown) => {
    if (err instanceof Refused)
      throw new IglooError('EUNSAFE', `Cannot import ${task.shown}: ${err.message}`, {
        op: 'import-container',
        path: task.shown,
        hint: 'The archive was not made by igloo export, or was changed by hand; nothing was imported',
      });
    if (err instanceof IglooError) throw err;
    throw new IglooError(
      'ESYS',
      `Cannot import ${task.shown}: ${err instanceof Error ? err.message : String(err)}`,
      {
        op: 'import-container',
        path: task.shown,
        hint: 'The archive is damaged, or the file system is full; nothing was imported',
      },
    );
  });

  for (const f of found) {
    const member = archiveMember(f.path);
    if (member.kind !== 'rootfs') continue;
    const path = resolveInRoot(rootfs, member.path);
    for (const [name, raw] of f.xattrs) {
      const value = name === 'security.capability' ? capabilityInside(raw, task.from.uid) : raw;
      if (xattrAllowed(name) && value) xattrs.push({ path, name, value });
      else skipped.push(`${f.path}: extended attribute ${name} not applied`);
    }
  }
  await setXattrs(xattrs, rootfs);
  // Directory modes last (a read-only directory still got its files),
  // resolved again inside the rootfs: a later member may have replaced a
  // directory, or one on its path, by a symlink, and chmod follows links.
  for (const d of dirModes.reverse()) {
    const path = d.rel === '' ? rootfs : resolveInRoot(rootfs, d.rel);
    if (!lstatSync(path, { throwIfNoEntry: false })?.isDirectory()) continue;
    chmodSync(path, d.mode);
    lutimesSync(path, d.mtime, d.mtime);
  }
  writeFileSync(join(task.dest, IMPORT_REPORT), JSON.stringify({ skipped }) + '\n', {
    mode: 0o600,
    flag: 'wx',
  });
}
