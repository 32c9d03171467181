/**
 * OCI registries, through skopeo (the containers project's tool for the
 * distribution protocol, Debian's `skopeo`): it copies between a registry
 * and an OCI layout directory, and igloo does the rest with its own store
 * (a pulled layout is imported like any archive: host/image-archive.ts).
 * skopeo runs as the caller, with the caller's credentials
 * (${XDG_RUNTIME_DIR}/containers/auth.json) and the host's
 * /etc/containers/{policy.json,registries.conf}.
 */
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { copyFile, link, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { IglooError } from '../core/errors.ts';
import {
  OCI_CONFIG,
  OCI_LAYOUT,
  OCI_MANIFEST,
  imageConfigText,
  indexText,
  manifestText,
  ociArchitecture,
  type PushLayer,
} from '../core/image/push-layout.ts';
import { registryFailure } from '../core/image/registry.ts';
import { findOnPath } from './check.ts';
import { errnoOf } from './errno.ts';
import type { StoredImage } from './images.ts';

/** What skopeo may write on stderr before igloo stops keeping it. */
const STDERR_MAX = 64 << 10;

export async function findSkopeo(op: string): Promise<string> {
  const path = await findOnPath('skopeo');
  if (!path)
    throw new IglooError('EHOST', `Cannot ${op}: skopeo is not installed`, {
      op,
      hint: 'apt-get install skopeo (scripts/install.sh installs it)',
    });
  return path;
}

/**
 * Where skopeo keeps the caller's registry logins. Without XDG_RUNTIME_DIR
 * (no systemd login session, as here) it would use /run/containers/UID,
 * which another user (or root's own skopeo) may have made: a file under the
 * caller's config directory instead, as `skopeo login` writes it there too.
 */
export function authFileEnv(env: NodeJS.ProcessEnv): { REGISTRY_AUTH_FILE?: string } {
  if (env.REGISTRY_AUTH_FILE || env.XDG_RUNTIME_DIR) return {};
  const config = env.XDG_CONFIG_HOME || join(env.HOME ?? '/', '.config');
  return { REGISTRY_AUTH_FILE: join(config, 'containers', 'auth.json') };
}

/**
 * Runs `skopeo copy ARGS...`, its progress lines (stdout) to PROGRESS. A
 * failure becomes an IglooError naming REF, the registry's reason and what
 * to do (core/image/registry.ts).
 */
export async function skopeoCopy(
  args: readonly string[],
  opts: { op: 'pull' | 'push'; ref: string; progress?: (line: string) => void },
): Promise<void> {
  const skopeo = await findSkopeo(`${opts.op} ${opts.ref}`);
  const child = spawn(skopeo, ['copy', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...authFileEnv(process.env) },
  });
  let stderr = '';
  let pending = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    pending += d;
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) if (line.trim()) opts.progress?.(line.trim());
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    if (stderr.length < STDERR_MAX) stderr += d;
  });
  const status = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve(code));
  });
  if (status === 0) return;
  const failure = registryFailure(stderr, opts.ref, opts.op);
  throw new IglooError(failure.code, `Cannot ${opts.op} ${opts.ref}: ${failure.reason}`, {
    op: `image ${opts.op}`,
    subject: opts.ref,
    hint: failure.hint,
  });
}

async function sha256Of(path: string, gunzip: boolean): Promise<string> {
  const [{ createHash }, { createGunzip }, { pipeline }] = await Promise.all([
    import('node:crypto'),
    import('node:zlib'),
    import('node:stream/promises'),
  ]);
  const hash = createHash('sha256');
  const sink = async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) hash.update(chunk);
  };
  if (gunzip) await pipeline(createReadStream(path), createGunzip(), sink);
  else await pipeline(createReadStream(path), sink);
  return `sha256:${hash.digest('hex')}`;
}

/** Links (or copies) FROM to TO: a layer of the store as a blob of the layout. */
async function placeBlob(from: string, to: string): Promise<void> {
  try {
    await link(from, to);
  } catch (err) {
    if (errnoOf(err) !== 'EXDEV' && errnoOf(err) !== 'EPERM') throw err;
    await copyFile(from, to);
  }
}

/**
 * Writes IMAGE (its stored layers, LAYER_FILES in order) as an OCI layout
 * in DIR, a private directory, its index naming the manifest TAG. Returns
 * the manifest's digest.
 */
export async function writePushLayout(
  dir: string,
  image: StoredImage,
  layerFiles: readonly string[],
  tag: string,
): Promise<string> {
  const { createHash } = await import('node:crypto');
  const digestOf = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}`;
  const blobs = join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true, mode: 0o700 });
  const layers: PushLayer[] = [];
  for (const [i, stored] of image.layers.entries()) {
    const file = layerFiles[i]!;
    const gzip = stored.file.endsWith('.gz');
    // The store checked the blob's digest when it took the layer; the
    // uncompressed tar's (the config's diff_id) is computed here.
    const diffId = gzip ? await sha256Of(file, true) : stored.digest;
    layers.push({ digest: stored.digest, size: stored.size, gzip, diffId });
    await placeBlob(file, join(blobs, stored.digest.slice(7))).catch((err: unknown) => {
      // Two layers with the same contents are one blob.
      if (errnoOf(err) !== 'EEXIST') throw err;
    });
  }
  const config = imageConfigText(image.config, layers, {
    architecture: ociArchitecture(process.arch),
    created: image.imported,
    ...(image.system && { stopSignal: image.system.haltSignal }),
  });
  const configDigest = digestOf(config);
  await writeFile(join(blobs, configDigest.slice(7)), config, { flag: 'wx', mode: 0o600 });
  const manifest = manifestText(
    { mediaType: OCI_CONFIG, digest: configDigest, size: Buffer.byteLength(config) },
    layers,
  );
  const manifestDigest = digestOf(manifest);
  await writeFile(join(blobs, manifestDigest.slice(7)), manifest, { flag: 'wx', mode: 0o600 });
  await writeFile(
    join(dir, 'index.json'),
    indexText(
      { mediaType: OCI_MANIFEST, digest: manifestDigest, size: Buffer.byteLength(manifest) },
      tag,
    ),
    { flag: 'wx', mode: 0o600 },
  );
  await writeFile(join(dir, 'oci-layout'), OCI_LAYOUT, { flag: 'wx', mode: 0o600 });
  return manifestDigest;
}
