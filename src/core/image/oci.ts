/**
 * OCI and Docker image archives, as data: the index, manifests and image
 * config of an OCI layout (oci-archive tarballs and layout directories) and
 * the manifest.json of a docker-archive, reduced to one ImageSpec: the
 * layers in order and the config fields igloo honours. Every field read
 * from an archive is untrusted and checked; errors name the file and field.
 */
import { SIGNALS } from '../config/validate.ts';
import { IglooError } from '../errors.ts';

export interface ImageRunConfig {
  readonly entrypoint: readonly string[];
  readonly cmd: readonly string[];
  readonly env: readonly string[];
  readonly workingDir: string;
  readonly user: string;
  /** StopSignal: what `igloo stop` sends init (a system image's halt signal). */
  readonly stopSignal?: string;
}

export interface LayerRef {
  /** Path of the layer blob, relative to the archive's root. */
  readonly path: string;
  /** sha256:<hex> when the archive names it (OCI); checked on import. */
  readonly digest?: string;
  readonly mediaType?: string;
}

export interface ImageSpec {
  readonly format: 'oci' | 'docker';
  readonly configPath: string;
  readonly configDigest?: string;
  readonly layers: readonly LayerRef[];
  readonly tags: readonly string[];
}

const DIGEST = /^sha256:[a-f0-9]{64}$/;

function bad(file: string, field: string, why: string): IglooError {
  return new IglooError('EPARSE', `Cannot read image ${file}: ${field} ${why}`, {
    op: 'read image',
    path: file,
    subject: field,
    hint: 'The archive is corrupt or not an OCI/docker image archive; save it again (podman save --format oci-archive)',
  });
}

export function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw bad(file, 'JSON', `does not parse (${err instanceof Error ? err.message : String(err)})`);
  }
}

function obj(v: unknown, file: string, field: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw bad(file, field, 'is not an object');
  return v as Record<string, unknown>;
}

function arr(v: unknown, file: string, field: string): unknown[] {
  if (!Array.isArray(v)) throw bad(file, field, 'is not a list');
  return v;
}

function str(v: unknown, file: string, field: string): string {
  if (typeof v !== 'string') throw bad(file, field, 'is not a string');
  return v;
}

function strings(v: unknown, file: string, field: string): string[] {
  if (v === undefined || v === null) return [];
  return arr(v, file, field).map((s, i) => str(s, file, `${field}[${i}]`));
}

/** A relative path inside the archive: no "..", not absolute. */
export function archivePath(p: string, file: string, field: string): string {
  const clean = p.replace(/^\.\//, '');
  if (
    clean === '' ||
    clean.startsWith('/') ||
    clean.split('/').includes('..') ||
    clean.includes('\0')
  ) {
    throw bad(file, field, `names "${p}", which is outside the archive`);
  }
  return clean;
}

export function blobPath(digest: string, file: string, field: string): string {
  if (!DIGEST.test(digest)) throw bad(file, field, `"${digest}" is not a sha256 digest`);
  return `blobs/sha256/${digest.slice(7)}`;
}

const LAYER_TYPES = [
  'application/vnd.oci.image.layer.v1.tar',
  'application/vnd.oci.image.layer.v1.tar+gzip',
  'application/vnd.docker.image.rootfs.diff.tar.gzip',
  'application/vnd.docker.image.rootfs.diff.tar',
];

/** index.json of an OCI layout -> the digest of the manifest to use. */
export function manifestFromIndex(
  text: string,
  file = 'index.json',
  tag?: string,
): { digest: string; tags: string[] } {
  const index = obj(parseJson(text, file), file, 'index');
  const manifests = arr(index.manifests, file, 'manifests');
  if (manifests.length === 0) throw bad(file, 'manifests', 'is empty');
  const entries = manifests.map((m, i) => {
    const o = obj(m, file, `manifests[${i}]`);
    const annotations =
      o.annotations === undefined ? {} : obj(o.annotations, file, `manifests[${i}].annotations`);
    const name = annotations['org.opencontainers.image.ref.name'];
    return {
      digest: str(o.digest, file, `manifests[${i}].digest`),
      tag: typeof name === 'string' ? name : undefined,
      mediaType: o.mediaType,
    };
  });
  const chosen = tag ? entries.find((e) => e.tag === tag) : entries[0];
  if (!chosen) throw bad(file, 'manifests', `has no image tagged "${tag}"`);
  if (chosen.mediaType === 'application/vnd.oci.image.index.v1+json') {
    throw new IglooError(
      'EINVAL',
      `Cannot import ${file}: nested image indexes (multi-arch images) are not supported`,
      {
        op: 'read image',
        path: file,
        hint: 'Save a single-platform image (podman save --format oci-archive IMAGE)',
      },
    );
  }
  blobPath(chosen.digest, file, 'manifests[].digest');
  return {
    digest: chosen.digest,
    tags: entries.map((e) => e.tag).filter((t): t is string => t !== undefined),
  };
}

/** An OCI image manifest -> config and layers. */
export function specFromOciManifest(text: string, file: string, tags: string[] = []): ImageSpec {
  const m = obj(parseJson(text, file), file, 'manifest');
  const config = obj(m.config, file, 'config');
  const configDigest = str(config.digest, file, 'config.digest');
  const layers = arr(m.layers, file, 'layers').map((l, i): LayerRef => {
    const o = obj(l, file, `layers[${i}]`);
    const digest = str(o.digest, file, `layers[${i}].digest`);
    const mediaType = str(o.mediaType, file, `layers[${i}].mediaType`);
    if (!LAYER_TYPES.includes(mediaType)) {
      throw new IglooError(
        'EINVAL',
        `Cannot import ${file}: layer ${i} has media type ${mediaType}, which igloo cannot apply`,
        {
          op: 'read image',
          path: file,
          subject: mediaType,
          hint: `Supported: ${LAYER_TYPES.join(', ')}`,
        },
      );
    }
    return { path: blobPath(digest, file, `layers[${i}].digest`), digest, mediaType };
  });
  return {
    format: 'oci',
    configPath: blobPath(configDigest, file, 'config.digest'),
    configDigest,
    layers,
    tags,
  };
}

/** docker-archive's manifest.json -> config and layers (the first image). */
export function specFromDockerManifest(text: string, file = 'manifest.json'): ImageSpec {
  const list = arr(parseJson(text, file), file, 'manifest');
  if (list.length === 0) throw bad(file, 'manifest', 'is empty');
  const m = obj(list[0], file, '[0]');
  return {
    format: 'docker',
    configPath: archivePath(str(m.Config, file, '[0].Config'), file, '[0].Config'),
    layers: arr(m.Layers, file, '[0].Layers').map((l, i) => ({
      path: archivePath(str(l, file, `[0].Layers[${i}]`), file, `[0].Layers[${i}]`),
    })),
    tags: strings(m.RepoTags, file, '[0].RepoTags'),
  };
}

/** The image config's runtime fields (OCI and Docker share the shape). */
export function runConfigFromImageConfig(text: string, file: string): ImageRunConfig {
  const c = obj(parseJson(text, file), file, 'image config');
  const config = c.config === undefined || c.config === null ? {} : obj(c.config, file, 'config');
  return {
    entrypoint: strings(config.Entrypoint, file, 'config.Entrypoint'),
    cmd: strings(config.Cmd, file, 'config.Cmd'),
    env: strings(config.Env, file, 'config.Env'),
    workingDir:
      config.WorkingDir === undefined || config.WorkingDir === ''
        ? '/'
        : str(config.WorkingDir, file, 'config.WorkingDir'),
    user: config.User === undefined ? '' : str(config.User, file, 'config.User'),
    ...stopSignalOf(config.StopSignal, file),
  };
}

/** StopSignal, if it names a signal igloo can send ("SIGPWR"; docker also writes "PWR"). */
function stopSignalOf(v: unknown, file: string): { stopSignal?: string } {
  if (v === undefined || v === null || v === '') return {};
  const raw = str(v, file, 'config.StopSignal').toUpperCase();
  const s = raw.startsWith('SIG') ? raw : `SIG${raw}`;
  if (SIGNALS.includes(s)) return { stopSignal: s };
  throw bad(file, 'config.StopSignal', `"${raw}" is not a signal igloo can send`);
}

/** What to run: the command given replaces Cmd, Entrypoint stays in front (docker's rule). */
export function commandFor(config: ImageRunConfig, given: readonly string[]): string[] {
  return [...config.entrypoint, ...(given.length > 0 ? given : config.cmd)];
}

export type LayerEntryAction =
  | { kind: 'entry'; path: string }
  | { kind: 'whiteout'; path: string }
  | { kind: 'opaque'; dir: string }
  | { kind: 'skip'; why: string };

/**
 * What a layer entry means: a file to write, a whiteout (`.wh.NAME` removes
 * NAME of lower layers), an opaque directory (`.wh..wh..opq` hides all of
 * the directory's lower contents), or an entry to refuse. Paths are made
 * relative; ".." anywhere is refused rather than resolved.
 */
export function layerEntry(rawPath: string): LayerEntryAction {
  const parts = rawPath.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) return { kind: 'skip', why: `"${rawPath}" contains ".."` };
  if (rawPath.includes('\0')) return { kind: 'skip', why: 'the path contains NUL' };
  // "./": the root directory itself, which the rootfs already is
  if (parts.length === 0) return { kind: 'entry', path: '' };
  const base = parts[parts.length - 1]!;
  const dir = parts.slice(0, -1).join('/');
  if (base === '.wh..wh..opq') return { kind: 'opaque', dir };
  if (base.startsWith('.wh.')) {
    const name = base.slice(4);
    if (name === '' || name === '.' || name === '..')
      return { kind: 'skip', why: `bad whiteout "${rawPath}"` };
    return { kind: 'whiteout', path: dir ? `${dir}/${name}` : name };
  }
  return { kind: 'entry', path: parts.join('/') };
}
