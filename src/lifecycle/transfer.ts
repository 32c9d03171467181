/**
 * Moving a container through an archive: export writes one tar (config,
 * rootfs with numeric host ids, and its checkpoint if it has one), import
 * unpacks it into a new container. Root only, as checkpoint and restore.
 *
 * Trust (docs/criu.md, "Trust"): an archive is unpacked in the target
 * container's user namespace (host/container-archive.ts), its config
 * reduced to what create writes (core/config/import.ts), and its checkpoint
 * kept only when signed here. Exports are 0600 (they hold process memory)
 * and written through a private temporary directory.
 */
import { spawn } from 'node:child_process';
import { constants as fsConstants, createReadStream } from 'node:fs';
import {
  chmod,
  lchown,
  lstat,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  writeFile,
} from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Parser, type ReadEntry } from 'tar';
import { formatConfig } from '../core/config/file.ts';
import { reduceImportedConfig, type RefusedKey } from '../core/config/import.ts';
import { validateName } from '../core/config/name.ts';
import { archiveMember, EXPORT_MANIFEST } from '../core/criu/archive.ts';
import { remapUsernsImage } from '../core/criu/userns-image.ts';
import { IglooError } from '../core/errors.ts';
import {
  chooseSlice,
  intersectRanges,
  outsideRanges,
  toOutside,
  validateMap,
  type IdMaps,
  type IdRange,
} from '../core/idmap/index.ts';
import { IMPORT_REPORT } from '../host/container-archive.ts';
import { fileSystemFull } from '../host/disk.ts';
import { sysError } from '../host/errno.ts';
import { withFileLock } from '../host/files.ts';
import { readDelegation } from '../host/subid.ts';
import { readUntrustedText, withPrivateTempDir } from '../host/untrusted.ts';
import {
  defaultCheckpointDir,
  exists,
  MANIFEST,
  readManifest,
  requireRoot,
  sameMap,
  signAndWrite,
  untrusted,
  type CheckpointManifest,
} from './checkpoint-manifest.ts';
import { refuseOverlay } from './idmapped.ts';
import type { Igloo } from './igloo.ts';
import { nestingMounts } from './new-config.ts';
import { ensurePrivateDir } from './paths.ts';
import { containerRanges, sliceIdmap } from './slices.ts';
import { liveState, readConfig, writeState } from './store.ts';

export interface ExportManifest {
  readonly version: 1;
  readonly name: string;
  readonly idmap: IdMaps;
  readonly exportedAt: string;
  readonly checkpoint: boolean;
}

/** Runs tar with its output on FD; rejects with its first error line. */
function tarTo(fd: number, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('tar', args, { stdio: ['ignore', fd, 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => void (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(stderr.trim().split('\n')[0] || `exit ${code}`)),
    );
  });
}

/**
 * Writes one tar archive: igloo-export.json, config, rootfs/ (numeric host
 * ids, shifted on import) and checkpoint/ (if the container has one). The
 * archive holds process memory: it is made 0600 in a private temporary
 * directory beside FILE (nothing is ever opened by a guessable name there)
 * and renamed onto FILE, which replaces a link planted there rather than
 * following it.
 */
export async function exportContainer(
  igloo: Igloo,
  name: string,
  file: string,
): Promise<{ file: string; checkpoint: boolean }> {
  validateName(name);
  requireRoot('export', name);
  const paths = igloo.paths(name);
  const config = await readConfig(paths, name);
  await refuseOverlay(paths, name, 'export');
  const state = await liveState(paths);
  if (state.status === 'running') {
    throw new IglooError('ESTATE', `Cannot export "${name}": it is running`, {
      op: 'export',
      subject: name,
      hint: `Checkpoint it first (igloo checkpoint ${name}): that stops it and keeps its processes in the archive`,
    });
  }
  const hasCheckpoint = await exists(join(defaultCheckpointDir(igloo, name), MANIFEST));
  const manifest: ExportManifest = {
    version: 1,
    name,
    idmap: config.idmap,
    exportedAt: new Date().toISOString(),
    checkpoint: hasCheckpoint,
  };
  await withPrivateTempDir(file, async (priv) => {
    await writeFile(join(priv, EXPORT_MANIFEST), JSON.stringify(manifest, null, 2) + '\n', {
      mode: 0o600,
      flag: 'wx',
    });
    const tmp = join(priv, 'archive.tar');
    const out = await open(
      tmp,
      fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW,
      0o600,
    );
    try {
      await tarTo(out.fd, [
        '--create',
        '--file',
        '-',
        '--numeric-owner',
        '--xattrs',
        '--acls',
        '-C',
        priv,
        EXPORT_MANIFEST,
        '-C',
        paths.dir,
        'config',
        'rootfs',
        ...(hasCheckpoint ? ['checkpoint'] : []),
      ]);
      await out.chmod(0o600);
      await out.sync();
    } catch (err) {
      // tar says only "Wrote only 4096 of 10240 bytes" on a full disk
      const full = fileSystemFull(tmp);
      throw new IglooError(
        'ESYS',
        full
          ? `Cannot export "${name}" to ${file}: no space left on device (ENOSPC) on its file system`
          : `Cannot export "${name}" to ${file}: tar failed: ${(err as Error).message.split('\n')[0]}`,
        {
          op: 'export',
          path: file,
          subject: name,
          ...(full && { errno: 'ENOSPC' }),
          hint: full
            ? `Free some space on the file system of ${dirname(file)} (df -h ${dirname(file)}), or export elsewhere; nothing was kept`
            : 'Check that the directory of FILE is writable and has space',
        },
      );
    } finally {
      await out.close();
    }
    try {
      await rename(tmp, file);
    } catch (err) {
      throw sysError(err, 'move the archive onto', file);
    }
  });
  return { file, checkpoint: hasCheckpoint };
}

function overlaps(a: readonly IdRange[], b: readonly IdRange[]): boolean {
  return a.some((x) => b.some((y) => x.start < y.start + y.count && y.start < x.start + x.count));
}

function within(a: readonly IdRange[], b: readonly IdRange[]): boolean {
  return a.every((x) =>
    b.some((y) => x.start >= y.start && x.start + x.count <= y.start + y.count),
  );
}

/**
 * Moves the checkpoint in DIR from map FROM to TO: CRIU recreates the user
 * namespace from its userns images (host ids); every other id in the images
 * is inside the namespace and stays (see core/criu/userns-image.ts).
 */
async function remapCheckpoint(dir: string, from: IdMaps, to: IdMaps): Promise<void> {
  const images = (await readdir(dir)).filter((f) => /^userns-\d+\.img$/.test(f));
  if (images.length === 0) {
    throw new IglooError('EINVAL', `Cannot move the checkpoint in ${dir}: it has no userns image`, {
      op: 'import-container',
      path: dir,
      hint: 'The checkpoint is damaged; start the container afresh',
    });
  }
  for (const f of images) {
    const img = await readFile(join(dir, f));
    const { mode } = await lstat(join(dir, f));
    await rm(join(dir, f));
    await writeFile(join(dir, f), remapUsernsImage(img, from, to), {
      mode: mode & 0o644,
      flag: 'wx',
    });
  }
}

function notAnArchive(file: string, why: string): IglooError {
  return new IglooError(
    'EINVAL',
    `Cannot import ${file}: it is not an archive made by igloo export (${why})`,
    {
      op: 'import-container',
      path: file,
      hint: 'Make one with: igloo export NAME FILE',
    },
  );
}

/**
 * Copies the archive FILE (a regular file: never a FIFO or a device that
 * never ends) into TO, a file of root's private directory: everything after
 * reads that copy, which nobody else can change meanwhile.
 */
async function copyArchive(file: string, to: string): Promise<void> {
  let src;
  try {
    src = await open(file, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK | fsConstants.O_NOCTTY);
  } catch (err) {
    throw sysError(err, 'read the archive', file);
  }
  try {
    const st = await src.stat();
    if (!st.isFile()) throw notAnArchive(file, 'it is not a regular file');
    const dst = await open(
      to,
      fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW,
      0o600,
    );
    try {
      const buf = Buffer.allocUnsafe(1 << 20);
      for (;;) {
        const { bytesRead } = await src.read(buf, 0, buf.length, null);
        if (bytesRead === 0) break;
        let off = 0;
        while (off < bytesRead) off += (await dst.write(buf, off, bytesRead - off)).bytesWritten;
      }
    } finally {
      await dst.close();
    }
  } finally {
    await src.close();
  }
}

/** igloo-export.json of the archive at FILE (capped, checked). */
async function readExportManifest(file: string, shown: string): Promise<ExportManifest> {
  const text = await new Promise<string>((resolve, reject) => {
    const parser = new Parser({ strict: true });
    const input = createReadStream(file);
    let found = false;
    const done = (err: Error | undefined, value = '') => {
      if (found) return;
      found = true;
      input.destroy();
      if (err) reject(err);
      else resolve(value);
    };
    parser.on('entry', (entry: ReadEntry) => {
      if (found || archiveMember(entry.path).kind !== 'manifest') return entry.resume();
      if (entry.type !== 'File' || (entry.size ?? 0) > 1 << 20) {
        entry.resume();
        return done(notAnArchive(shown, `${EXPORT_MANIFEST} is not a small regular file`));
      }
      const chunks: Buffer[] = [];
      entry.on('data', (c: Buffer) => chunks.push(c));
      entry.on('end', () => done(undefined, Buffer.concat(chunks).toString('utf8')));
    });
    parser.on('warn', (code: string, message: string) => {
      if (code === 'TAR_BAD_ARCHIVE' || code === 'TAR_ABORT') done(notAnArchive(shown, message));
    });
    parser.on('error', (err: Error) => done(notAnArchive(shown, err.message)));
    parser.on('end', () => done(notAnArchive(shown, `no ${EXPORT_MANIFEST}`)));
    input.on('error', (err) => done(err));
    input.pipe(parser);
  });
  return parseExportManifest(text, shown);
}

/** The text of igloo-export.json, checked (SHOWN names the archive in errors). */
export function parseExportManifest(text: string, shown: string): ExportManifest {
  let m: ExportManifest;
  try {
    m = JSON.parse(text) as ExportManifest;
  } catch {
    throw notAnArchive(shown, `${EXPORT_MANIFEST} is not JSON`);
  }
  if (typeof m !== 'object' || m === null || m.version !== 1)
    throw notAnArchive(shown, `${EXPORT_MANIFEST} is not version 1`);
  if (typeof m.name !== 'string') throw notAnArchive(shown, 'its manifest has no name');
  try {
    validateMap(m.idmap.uid, 'uid');
    validateMap(m.idmap.gid, 'gid');
  } catch (err) {
    throw notAnArchive(shown, `its id map: ${(err as Error).message}`);
  }
  return m;
}

export interface ImportResult {
  name: string;
  idmap: IdMaps;
  remapped: boolean;
  /** A checkpoint this host signed came with it: igloo restore NAME. */
  checkpoint: boolean;
  /** Why the archive's checkpoint was not accepted (restore refuses it). */
  checkpointRefused?: string;
  /** Lines of the archive's config that were not applied (core/config/import.ts). */
  refused: RefusedKey[];
  /** Archive members not unpacked (device nodes, unknown entry types, xattrs). */
  skipped: string[];
}

/**
 * Unpacks an archive made by export into a new container NAME (default:
 * the exported name). Keeps the exported id slice when it is free and
 * delegated here; otherwise allocates a new slice. The archive is untrusted:
 * unpacked by the new container's root in its user namespace (files land on
 * its ids, no device nodes), its config reduced to what create writes, its
 * checkpoint kept only if this host signed it (then moved to the new slice
 * and signed again for the new container).
 */
export async function importContainer(
  igloo: Igloo,
  file: string,
  opts: { name?: string } = {},
): Promise<ImportResult> {
  requireRoot('import', opts.name ?? file);
  const containersDir = join(igloo.dirs.data, 'containers');
  await ensurePrivateDir(igloo.dirs.data);
  await mkdir(containersDir, { recursive: true, mode: 0o700 });
  const owner = await igloo.owner();
  return withFileLock(containersDir, async () => {
    const stage = join(igloo.dirs.data, `.import-${process.pid}-${Date.now().toString(36)}`);
    await mkdir(stage, { mode: 0o700 });
    try {
      const copy = join(stage, 'archive.tar');
      await copyArchive(file, copy);
      const manifest = await readExportManifest(copy, file);
      const name = opts.name ?? manifest.name;
      validateName(name);
      const paths = igloo.paths(name);
      if (await exists(paths.dir)) {
        throw new IglooError(
          'EEXIST',
          `Cannot import ${file} as "${name}": a container of that name exists`,
          {
            op: 'import-container',
            path: paths.dir,
            subject: name,
            hint: 'Give another name: igloo import-container FILE --name NEW',
          },
        );
      }
      const taken = await containerRanges(igloo);
      // The claimed map is used only when it is the importer's own: delegated
      // to them, used by none of their containers, and never host id 0.
      const delegation = await readDelegation(owner);
      const want = [...outsideRanges(manifest.idmap.uid), ...outsideRanges(manifest.idmap.gid)];
      const keep =
        !overlaps(want, taken) &&
        !want.some((r) => r.start === 0) &&
        manifest.idmap.uid.some((e) => e.inside === 0) &&
        manifest.idmap.gid.some((e) => e.inside === 0) &&
        within(outsideRanges(manifest.idmap.uid), delegation.uid) &&
        within(outsideRanges(manifest.idmap.gid), delegation.gid);
      let idmap = manifest.idmap;
      if (!keep) {
        // the size the archive asks for, within what create would give
        const size = Math.min(
          Math.max(65536, ...manifest.idmap.uid.map((e) => e.inside + e.count)),
          8 * 65536,
        );
        idmap = sliceIdmap(
          chooseSlice(intersectRanges(delegation.uid, delegation.gid), taken, { size }),
        );
      }

      // Unpacked by the new container's root, in its user namespace.
      const dest = join(stage, 'container');
      await mkdir(dest, { mode: 0o700 });
      await lchown(copy, toOutside(idmap.uid, 0, 'uid'), toOutside(idmap.gid, 0, 'gid'));
      const tasks = await import('./userns-task.ts');
      try {
        await tasks.runUsernsTask(idmap, owner, {
          kind: 'import-archive',
          archive: copy,
          shown: file,
          dest,
          from: manifest.idmap,
        });
      } catch (err) {
        // the task says why in its report, when it got that far
        const inner = await readReport(dest);
        if (inner?.error) {
          throw new IglooError('EUNSAFE', inner.error, {
            op: 'import-container',
            path: file,
            hint: 'The archive was not made by igloo export, or was changed by hand; nothing was imported',
          });
        }
        throw err;
      }
      await rm(copy, { force: true });
      const report = await readReport(dest);
      const skipped = report?.skipped ?? [];

      // The config: only what create would write.
      const configText = readUntrustedText(join(dest, 'config'), {
        op: 'read the config of the archive',
      });
      const reduced = reduceImportedConfig(configText, {
        name,
        rootfs: paths.rootfs,
        idmap,
        nestingMounts: nestingMounts(),
      });
      const newConfig = formatConfig(reduced.config);
      await rm(join(dest, 'config'), { force: true });
      await writeFile(join(dest, 'config'), newConfig, { mode: 0o644, flag: 'wx' });
      await rm(join(dest, IMPORT_REPORT), { force: true });

      // The checkpoint: only if this host signed it.
      let checkpointOk = false;
      let checkpointRefused: string | undefined;
      const cdir = join(dest, 'checkpoint');
      if (await exists(cdir)) {
        await ownCheckpoint(cdir);
        let m: CheckpointManifest | undefined;
        try {
          m = await readManifest(cdir, name);
        } catch (err) {
          checkpointRefused = err instanceof Error ? err.message : String(err);
        }
        if (m) {
          checkpointRefused =
            m.container === undefined
              ? 'it is not signed by this host (made by hand, by an older igloo, or elsewhere)'
              : !sameMap(m.idmap, manifest.idmap)
                ? 'its id map is not the one the archive claims'
                : await untrusted(m, cdir, m.container, configText);
        }
        if (m && checkpointRefused === undefined) {
          if (!keep) await remapCheckpoint(cdir, manifest.idmap, idmap);
          await signAndWrite(cdir, { ...m, idmap }, paths.dir, newConfig);
          checkpointOk = true;
        }
      }
      await rename(dest, paths.dir);
      await writeState(paths, {
        version: 1,
        status: 'stopped',
        lastExit: `imported from ${file}`,
        stoppedAt: new Date().toISOString(),
      });
      return {
        name,
        idmap,
        remapped: !keep,
        checkpoint: checkpointOk,
        ...(checkpointRefused !== undefined && { checkpointRefused }),
        refused: [...reduced.refused],
        skipped,
      };
    } finally {
      await rm(stage, { recursive: true, force: true });
    }
  });
}

/** The unpacking task's report (written by the container's root: read as untrusted). */
async function readReport(
  dest: string,
): Promise<{ skipped?: string[]; error?: string } | undefined> {
  try {
    const r = JSON.parse(
      readUntrustedText(join(dest, IMPORT_REPORT), { op: 'read the import report' }),
    ) as { skipped?: unknown; error?: unknown };
    return {
      ...(Array.isArray(r.skipped) && { skipped: r.skipped.map(String) }),
      ...(typeof r.error === 'string' && { error: r.error }),
    };
  } catch {
    return undefined;
  }
}

/**
 * The unpacked checkpoint becomes root's: the directory 0755 (criu opens
 * some images after it has taken the container's ids), each image a regular
 * file (anything else is removed and so breaks the signature), mode at most
 * 0644.
 */
async function ownCheckpoint(dir: string): Promise<void> {
  await lchown(dir, 0, 0);
  await chmod(dir, 0o755);
  for (const name of await readdir(dir)) {
    const path = join(dir, name);
    const st = await lstat(path);
    if (!st.isFile()) {
      await rm(path, { recursive: true, force: true });
      continue;
    }
    await lchown(path, 0, 0);
    await chmod(path, st.mode & 0o644);
  }
}
