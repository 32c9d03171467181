/**
 * The per-user image store: DATA/images/NAME+TAG/{image.json, layers/N.tar[.gz]}
 * (images stored before tags: DATA/images/NAME/; core/image/ref.ts).
 * An image is kept once; each container gets its own copy of the files,
 * extracted inside its user namespace so they belong to its ids. Imports are
 * staged in a hidden directory and renamed into place, so an interrupted or
 * failed import leaves nothing half-made.
 */
import { closeSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { IglooError } from '../core/errors.ts';
import { imagesDir } from '../core/layout.ts';
import {
  manifestFromIndex,
  runConfigFromImageConfig,
  specFromDockerManifest,
  specFromOciManifest,
  blobPath,
  type ImageRunConfig,
  type ImageSpec,
} from '../core/image/oci.ts';
import {
  DEFAULT_TAG,
  formatImageRef,
  imageDirName,
  localRefFromTag,
  newImageRef,
  parseImageRef,
  refFromDirName,
  resolveImageRef,
  type ImageRef,
} from '../core/image/ref.ts';
import { errnoOf, sysError } from './errno.ts';
import { failpoint } from './failpoint.ts';
import {
  Archive,
  checkDigest,
  copyHashing,
  IMAGE_JSON_MAX,
  openDir,
  openSource,
  unpackOuter,
} from './image-archive.ts';

// tar, node:crypto and the stream modules are loaded by an import only: they
// would add tens of milliseconds to every `igloo run` and `igloo exec`.
const crypto = () => import('node:crypto');

export interface StoredLayer {
  readonly file: string;
  readonly digest: string;
  readonly size: number;
}

export interface StoredImage {
  readonly name: string;
  /** Undefined for an image stored before tags (its directory is NAME). */
  readonly tag?: string;
  readonly source: string;
  readonly format: 'oci' | 'docker';
  readonly tags: readonly string[];
  readonly imported: string;
  readonly config: ImageRunConfig;
  readonly layers: readonly StoredLayer[];
  /** A system image (its command is an init): how to ask it to halt. */
  readonly system?: { readonly haltSignal: string };
}

/** The image igloo builds from the host's busybox; no stored image may take its name. */
export const BUILTIN_IMAGE = 'busybox';

export class ImageStore {
  readonly dir: string;
  constructor(dataDir: string) {
    this.dir = imagesDir(dataDir);
  }

  async list(): Promise<StoredImage[]> {
    let names: string[];
    try {
      names = (await readdir(this.dir)).filter((n) => !n.startsWith('.'));
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return [];
      throw sysError(err, 'list', this.dir);
    }
    const out: StoredImage[] = [];
    for (const dir of names.sort()) {
      const ref = refFromDirName(dir);
      if (!ref) continue;
      const image = await this.read(ref).catch(() => undefined);
      // The directory decides the name (an image.json edited by hand cannot claim another's).
      if (image)
        out.push({ ...image, name: ref.name, ...(ref.tag !== undefined && { tag: ref.tag }) });
    }
    return out;
  }

  private async read(ref: ImageRef): Promise<StoredImage> {
    return JSON.parse(
      await readFile(join(this.dir, imageDirName(ref), 'image.json'), 'utf8'),
    ) as StoredImage;
  }

  /**
   * The image NAME:TAG, or for a bare NAME its `latest` or newest tag (an
   * image stored before tags under that very name first): resolveImageRef.
   */
  async get(text: string): Promise<StoredImage> {
    const ref = parseImageRef(text);
    const found = resolveImageRef(ref, await this.list());
    if (!found) {
      await this.refuseUnreadable(ref, text);
      throw new IglooError('ENOENT', `No image named "${text}"`, {
        op: 'find image',
        path: join(this.dir, imageDirName(ref)),
        subject: text,
        hint: 'See your images with: igloo image ls; import one with: igloo image import ARCHIVE, or: igloo image pull REF',
      });
    }
    return found;
  }

  /**
   * An image directory whose image.json is missing, truncated or not JSON
   * (list() leaves it out) is named with the file, not reported as absent.
   */
  private async refuseUnreadable(ref: ImageRef, text: string): Promise<void> {
    const dirs = [imageDirName(ref), imageDirName({ ...ref, tag: DEFAULT_TAG })];
    for (const dir of new Set(dirs)) {
      const file = join(this.dir, dir, 'image.json');
      const st = await lstat(join(this.dir, dir)).catch(() => undefined);
      if (!st?.isDirectory()) continue;
      const why = await readFile(file, 'utf8').then(
        (t) => {
          try {
            JSON.parse(t);
            return undefined;
          } catch (err) {
            return err instanceof Error ? err.message : String(err);
          }
        },
        (err: unknown) => (errnoOf(err) === 'ENOENT' ? 'it is missing' : String(err)),
      );
      if (why === undefined) continue;
      throw new IglooError('EPARSE', `Cannot use image "${text}": ${file} is unreadable (${why})`, {
        op: 'find image',
        path: file,
        subject: text,
        hint: `Remove it and import the image again: rm -rf ${join(this.dir, dir)}`,
      });
    }
  }

  /** The stored image that a new image called REF would replace, if any. */
  async existing(ref: Required<ImageRef>): Promise<StoredImage | undefined> {
    return resolveImageRef(ref, await this.list());
  }

  /** The directory of a stored image. */
  dirOf(image: ImageRef): string {
    return join(this.dir, imageDirName(image));
  }

  /**
   * The path of a new hidden staging directory (`.KIND-PID-RANDOM`) for an
   * image being made. Those of dead processes (an import killed with
   * SIGKILL) are removed first: nothing of a crashed import stays.
   */
  async stagingDir(kind: 'import' | 'build'): Promise<string> {
    await removeDeadStaging(this.dir);
    const random = (await crypto()).randomBytes(6).toString('hex');
    return join(this.dir, `.${kind}-${process.pid}-${random}`);
  }

  /**
   * Saves IMAGE, whose layers are in STAGING already: writes its
   * image.json there and renames the directory into place, so the image
   * appears whole or not at all.
   */
  async save(staging: string, image: StoredImage): Promise<void> {
    await writeFile(join(staging, 'image.json'), JSON.stringify(image, null, 2) + '\n');
    await rename(staging, this.dirOf(image));
  }

  layerPaths(image: StoredImage): string[] {
    return image.layers.map((l) => join(this.dirOf(image), 'layers', l.file));
  }

  /** Removes the image TEXT names (get's resolution); returns it. */
  async remove(text: string): Promise<StoredImage> {
    const image = await this.get(text);
    await rm(this.dirOf(image), { recursive: true, force: true });
    return image;
  }

  /**
   * Imports an oci-archive or docker-archive tarball, or an OCI layout
   * directory. The archive is someone else's (root imports users' files):
   * see the head of "Reading the archive" below for how it is read.
   */
  async import(
    source: string,
    opts: { name?: string; progress?: (text: string) => void; source?: string } = {},
  ): Promise<StoredImage> {
    const src = openSource(source);
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const staging = await this.stagingDir('import');
    let unpacked: string | undefined;
    let archive: Archive | undefined;
    const abandon = () => {
      void rm(staging, { recursive: true, force: true });
      if (unpacked) void rm(unpacked, { recursive: true, force: true });
    };
    // An interrupted import (Ctrl-C) removes its staging directories.
    const onSignal = () => {
      abandon();
      process.exit(130);
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      if (src.dir) {
        archive = new Archive(src.fd, source);
      } else {
        await removeDeadStaging(tmpdir(), 'igloo-import-');
        unpacked = await mkdtemp(join(tmpdir(), `igloo-import-${process.pid}-`));
        const dropped = await unpackOuter(src.fd, src.size, source, unpacked);
        archive = new Archive(openDir(unpacked), source, dropped);
      }
      const spec = await this.readSpec(archive, source);
      const configBytes = archive.read(spec.configPath, 'image config', IMAGE_JSON_MAX);
      if (spec.configDigest)
        await checkDigest(configBytes, spec.configDigest, `${source}:${spec.configPath}`);
      const configText = configBytes.toString('utf8');
      const config = runConfigFromImageConfig(configText, `${source}:${spec.configPath}`);
      const tag = spec.tags[0];
      const ref =
        opts.name !== undefined
          ? newImageRef(opts.name)
          : ((tag === undefined ? undefined : localRefFromTag(tag)) ?? {
              name: defaultName(undefined, source),
              tag: DEFAULT_TAG,
            });
      const name = formatImageRef(ref);
      await this.checkNewName(ref, `import ${source} as "${name}"`, 'import image');
      await mkdir(join(staging, 'layers'), { recursive: true });
      const layers: StoredLayer[] = [];
      for (const [i, layer] of spec.layers.entries()) {
        opts.progress?.(`layer ${i + 1}/${spec.layers.length}`);
        const from = archive.open(layer.path, `layer ${i}`);
        let copied: { digest: string; size: number; gz: boolean };
        try {
          copied = await copyHashing(from, `${source}/${layer.path}`, staging, i, (n) =>
            opts.progress?.(`layer ${i + 1}/${spec.layers.length}: ${(n / 1e6).toFixed(1)} MB`),
          );
        } finally {
          closeSync(from.fd);
        }
        const { digest, size, gz } = copied;
        if (layer.digest && layer.digest !== digest) {
          throw new IglooError(
            'EPARSE',
            `Cannot import ${source}: layer ${i} (${layer.path}) has digest ${digest}, not ${layer.digest}`,
            {
              op: 'import image',
              path: source,
              hint: 'The archive is corrupt or truncated; save it again',
            },
          );
        }
        layers.push({ file: `${i}.tar${gz ? '.gz' : ''}`, digest, size });
      }
      const image: StoredImage = {
        name: ref.name,
        tag: ref.tag,
        source: opts.source ?? source,
        format: spec.format,
        tags: spec.tags,
        imported: new Date().toISOString(),
        config,
        layers,
        ...(config.stopSignal !== undefined && { system: { haltSignal: config.stopSignal } }),
      };
      failpoint('image-import-staged');
      await this.save(staging, image);
      failpoint('image-import-saved');
      return image;
    } catch (err) {
      abandon();
      throw err instanceof IglooError ? err : sysError(err, 'import', source);
    } finally {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
      closeSync(src.fd);
      if (archive && archive.fd !== src.fd) closeSync(archive.fd);
      if (unpacked) await rm(unpacked, { recursive: true, force: true });
    }
  }

  /**
   * Refuses REF for a new image: the built-in name, or one an image has
   * (remove that one first, as `podman tag` does not overwrite silently).
   */
  async checkNewName(ref: Required<ImageRef>, what: string, op: string): Promise<void> {
    if (ref.name === BUILTIN_IMAGE) {
      throw new IglooError('EINVAL', `Cannot ${what}: that name is igloo's built-in image`, {
        op,
        subject: formatImageRef(ref),
        hint: 'Choose another name (--name NAME[:TAG])',
      });
    }
    const existing = await this.existing(ref);
    if (existing) {
      const name = formatImageRef(existing);
      throw new IglooError('EEXIST', `Cannot ${what}: the image ${name} exists`, {
        op,
        subject: name,
        path: this.dirOf(existing),
        hint: `Choose another name (--name NAME[:TAG]), or remove it: igloo image rm ${name}`,
      });
    }
  }

  private async readSpec(archive: Archive, source: string): Promise<ImageSpec> {
    const index = archive.readIfExists('index.json', 'image index', IMAGE_JSON_MAX);
    if (index !== undefined) {
      const { digest, tags } = manifestFromIndex(index.toString('utf8'), `${source}:index.json`);
      const manifestFile = blobPath(digest, `${source}:index.json`, 'manifests[].digest');
      const manifest = archive.read(manifestFile, 'image manifest', IMAGE_JSON_MAX);
      await checkDigest(manifest, digest, `${source}:${manifestFile}`);
      return specFromOciManifest(manifest.toString('utf8'), `${source}:${manifestFile}`, tags);
    }
    const manifest = archive.readIfExists('manifest.json', 'image manifest', IMAGE_JSON_MAX);
    if (manifest !== undefined)
      return specFromDockerManifest(manifest.toString('utf8'), `${source}:manifest.json`);
    throw new IglooError(
      'EPARSE',
      `Cannot import ${source}: it has neither index.json (OCI) nor manifest.json (docker-archive)`,
      {
        op: 'import image',
        path: source,
        hint: 'Make one with: podman save --format oci-archive -o FILE IMAGE',
      },
    );
  }
}

/** "docker.io/library/alpine:3.19" -> "alpine-3.19"; else the file name. */
export function defaultName(tag: string | undefined, source: string): string {
  const raw = tag
    ? (tag.split('/').pop() ?? tag).replace(':', '-')
    : basename(source).replace(/\.(tar|tgz|tar\.gz|oci|docker)$/g, '');
  const clean = raw
    .replace(/[^A-Za-z0-9_.-]/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 64);
  return clean || 'image';
}

/**
 * Removes DIR's staging directories (PREFIX-PID-...) whose process is gone,
 * and only this user's: what a crashed import or build left.
 */
async function removeDeadStaging(dir: string, ...prefixes: string[]): Promise<void> {
  const wanted = prefixes.length ? prefixes : ['.import-', '.build-'];
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return;
  }
  const me = process.geteuid?.() ?? 0;
  for (const e of entries) {
    const prefix = wanted.find((p) => e.name.startsWith(p));
    if (!prefix || !e.isDirectory()) continue;
    const pid = Number(e.name.slice(prefix.length).split('-')[0]);
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) continue;
    try {
      process.kill(pid, 0);
      continue; // its import runs
    } catch (err) {
      if (errnoOf(err) !== 'ESRCH') continue;
    }
    const path = join(dir, e.name);
    if ((await lstat(path).catch(() => undefined))?.uid !== me) continue;
    await rm(path, { recursive: true, force: true }).catch(() => undefined);
  }
}
