/**
 * The per-user image store: DATA/images/NAME/{image.json, layers/N.tar[.gz]}.
 * An image is kept once; each container gets its own copy of the files,
 * extracted inside its user namespace so they belong to its ids. Imports are
 * staged in a hidden directory and renamed into place, so an interrupted or
 * failed import leaves nothing half-made.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { validateName } from '../core/config/name.ts';
import { IglooError } from '../core/errors.ts';
import {
  manifestFromIndex,
  runConfigFromImageConfig,
  specFromDockerManifest,
  specFromOciManifest,
  blobPath,
  type ImageRunConfig,
  type ImageSpec,
} from '../core/image/oci.ts';
import { errnoOf, sysError } from './errno.ts';

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

const exists = (p: string) =>
  stat(p).then(
    () => true,
    () => false,
  );

export class ImageStore {
  readonly dir: string;
  constructor(dataDir: string) {
    this.dir = join(dataDir, 'images');
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
    for (const name of names.sort()) {
      const image = await this.get(name).catch(() => undefined);
      if (image) out.push(image);
    }
    return out;
  }

  async get(name: string): Promise<StoredImage> {
    validateName(name, 'image');
    const file = join(this.dir, name, 'image.json');
    try {
      return JSON.parse(await readFile(file, 'utf8')) as StoredImage;
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') {
        throw new IglooError('ENOENT', `No image named "${name}"`, {
          op: 'find image',
          path: file,
          subject: name,
          hint: 'See your images with: igloo image ls; import one with: igloo image import ARCHIVE',
        });
      }
      throw sysError(err, 'read', file);
    }
  }

  layerPaths(image: StoredImage): string[] {
    return image.layers.map((l) => join(this.dir, image.name, 'layers', l.file));
  }

  async remove(name: string): Promise<void> {
    await this.get(name);
    await rm(join(this.dir, name), { recursive: true, force: true });
  }

  /** Imports an oci-archive or docker-archive tarball, or an OCI layout directory. */
  async import(
    source: string,
    opts: { name?: string; progress?: (text: string) => void } = {},
  ): Promise<StoredImage> {
    const st = await stat(source).catch(() => undefined);
    if (!st)
      throw new IglooError('ENOENT', `Cannot import ${source}: no such file or directory`, {
        op: 'import image',
        path: source,
        hint: 'Give an oci-archive or docker-archive tarball (podman save), or an OCI layout directory',
      });
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const staging = join(this.dir, `.import-${(await crypto()).randomBytes(6).toString('hex')}`);
    let unpacked: string | undefined;
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
      let root = source;
      if (!st.isDirectory()) {
        unpacked = await mkdtemp(join(tmpdir(), 'igloo-import-'));
        const { x: extractTar } = await import('tar');
        await extractTar({
          file: source,
          cwd: unpacked,
          strict: true,
          preserveOwner: false,
          noChmod: false,
        }).catch((err: unknown) => {
          throw new IglooError(
            'EPARSE',
            `Cannot import ${source}: the archive does not unpack (${err instanceof Error ? err.message : String(err)})`,
            {
              op: 'import image',
              path: source,
              hint: 'The file is truncated or not a tar archive',
            },
          );
        });
        root = unpacked;
      }
      const spec = await this.readSpec(root, source);
      const configText = await readFile(join(root, spec.configPath), 'utf8').catch(() => {
        throw new IglooError(
          'EPARSE',
          `Cannot import ${source}: its image config ${spec.configPath} is missing`,
          { op: 'import image', path: source },
        );
      });
      if (spec.configDigest)
        await checkDigest(configText, spec.configDigest, `${source}:${spec.configPath}`);
      const config = runConfigFromImageConfig(configText, `${source}:${spec.configPath}`);
      const tag = spec.tags[0];
      const name = validateName(opts.name ?? defaultName(tag, source), 'image');
      if (name === BUILTIN_IMAGE) {
        throw new IglooError(
          'EINVAL',
          `Cannot import ${source} as "${name}": that name is igloo's built-in image`,
          { op: 'import image', subject: name, hint: 'Choose another with --name' },
        );
      }
      if (await exists(join(this.dir, name))) {
        throw new IglooError(
          'EEXIST',
          `Cannot import ${source} as "${name}": an image of that name exists`,
          {
            op: 'import image',
            subject: name,
            hint: `Choose another with --name, or remove it: igloo image rm ${name}`,
          },
        );
      }
      await mkdir(join(staging, 'layers'), { recursive: true });
      const layers: StoredLayer[] = [];
      for (const [i, layer] of spec.layers.entries()) {
        opts.progress?.(`layer ${i + 1}/${spec.layers.length}`);
        const from = join(root, layer.path);
        const gz = (await readFile(from).then((b) => b.subarray(0, 2))).equals(
          Buffer.from([0x1f, 0x8b]),
        );
        const file = `${i}.tar${gz ? '.gz' : ''}`;
        const { digest, size } = await copyHashing(from, join(staging, 'layers', file), (n) =>
          opts.progress?.(`layer ${i + 1}/${spec.layers.length}: ${(n / 1e6).toFixed(1)} MB`),
        );
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
        layers.push({ file, digest, size });
      }
      const image: StoredImage = {
        name,
        source,
        format: spec.format,
        tags: spec.tags,
        imported: new Date().toISOString(),
        config,
        layers,
      };
      await writeFile(join(staging, 'image.json'), JSON.stringify(image, null, 2) + '\n');
      await rename(staging, join(this.dir, name));
      return image;
    } catch (err) {
      abandon();
      throw err instanceof IglooError ? err : sysError(err, 'import', source);
    } finally {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
      if (unpacked) await rm(unpacked, { recursive: true, force: true });
    }
  }

  private async readSpec(root: string, source: string): Promise<ImageSpec> {
    if (await exists(join(root, 'index.json'))) {
      const index = await readFile(join(root, 'index.json'), 'utf8');
      const { digest, tags } = manifestFromIndex(index, `${source}:index.json`);
      const manifestFile = blobPath(digest, `${source}:index.json`, 'manifests[].digest');
      const manifest = await readFile(join(root, manifestFile), 'utf8').catch(() => {
        throw new IglooError(
          'EPARSE',
          `Cannot import ${source}: manifest ${manifestFile} is missing`,
          { op: 'import image', path: source, hint: 'The archive is truncated or incomplete' },
        );
      });
      await checkDigest(manifest, digest, `${source}:${manifestFile}`);
      return specFromOciManifest(manifest, `${source}:${manifestFile}`, tags);
    }
    if (await exists(join(root, 'manifest.json'))) {
      return specFromDockerManifest(
        await readFile(join(root, 'manifest.json'), 'utf8'),
        `${source}:manifest.json`,
      );
    }
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

async function checkDigest(text: string, digest: string, where: string): Promise<void> {
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

async function copyHashing(
  from: string,
  to: string,
  onBytes: (n: number) => void,
): Promise<{ digest: string; size: number }> {
  const [{ createHash }, { Transform }, { pipeline }] = await Promise.all([
    crypto(),
    import('node:stream'),
    import('node:stream/promises'),
  ]);
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
  await pipeline(createReadStream(from), tap, createWriteStream(to, { mode: 0o600 }));
  return { digest: `sha256:${hash.digest('hex')}`, size };
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
