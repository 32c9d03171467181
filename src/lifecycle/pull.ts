/**
 * `igloo image pull REF` and `igloo image push NAME REF`: images from and to
 * an OCI registry. skopeo speaks the protocol (host/registry.ts) as the
 * caller; igloo keeps its own store:
 *   - pull: skopeo writes an OCI layout into a private directory (0700,
 *     in the store's directory, a hidden `.pull-*`), which the store then
 *     imports exactly as it imports an archive a stranger made (every file
 *     opened without following links, regular files only, sizes capped,
 *     digests checked: host/image-archive.ts). The layout is removed in all
 *     cases; a refused or interrupted pull leaves no image.
 *   - push: the stored image is written as an OCI layout (its layers linked,
 *     a config and manifest made from what the store keeps) in a private
 *     directory, and skopeo copies it to the registry.
 * The name the image is stored under is checked before anything is fetched.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { formatImageRef, newImageRef, parseRemoteRef } from '../core/image/ref.ts';
import type { StoredImage } from '../host/images.ts';
import { skopeoCopy, writePushLayout } from '../host/registry.ts';
import { imageStore } from './create.ts';
import type { UserContainers } from './user-containers.ts';

export interface RegistryOptions {
  /** false: plain HTTP or an unverified certificate, for this registry only (--tls-verify=false). */
  tlsVerify?: boolean;
  progress?: (line: string) => void;
}

/** A private directory in the store for one pull or push, removed by the caller. */
async function privateDir(user: UserContainers, kind: 'pull' | 'push'): Promise<string> {
  const store = imageStore(user);
  await mkdir(store.dir, { recursive: true, mode: 0o700 });
  return mkdtemp(join(store.dir, `.${kind}-`));
}

/** Removes DIR on SIGINT/SIGTERM too (an interrupted pull leaves nothing), while RUN runs. */
async function removingOnSignal<T>(dir: string, run: () => Promise<T>): Promise<T> {
  const onSignal = () => {
    void rm(dir, { recursive: true, force: true }).finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await run();
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await rm(dir, { recursive: true, force: true });
  }
}

export interface PullOptions extends RegistryOptions {
  /** NAME[:TAG] to store the image as (default: the repository's last part and its tag). */
  name?: string;
}

export async function pullImage(
  user: UserContainers,
  ref: string,
  opts: PullOptions = {},
): Promise<StoredImage> {
  const remote = parseRemoteRef(ref);
  const local = opts.name !== undefined ? newImageRef(opts.name) : remote.local;
  const store = imageStore(user);
  const what = `pull ${ref} as "${formatImageRef(local)}"`;
  await store.checkNewName(local, what, 'image pull');
  const dir = await privateDir(user, 'pull');
  return removingOnSignal(dir, async () => {
    const layout = join(dir, 'layout');
    await skopeoCopy(
      [
        ...(opts.tlsVerify === false ? ['--src-tls-verify=false'] : []),
        remote.transport,
        `oci:${layout}:pulled`,
      ],
      { op: 'pull', ref, ...(opts.progress && { progress: opts.progress }) },
    );
    // Someone may have taken the name while the image came: import refuses then.
    opts.progress?.(`importing ${remote.transport} as ${formatImageRef(local)}`);
    return store.import(layout, { name: formatImageRef(local), source: remote.transport });
  });
}

export async function pushImage(
  user: UserContainers,
  name: string,
  ref: string,
  opts: RegistryOptions = {},
): Promise<{ image: StoredImage; ref: string; digest: string }> {
  const remote = parseRemoteRef(ref);
  const store = imageStore(user);
  const image = await store.get(name);
  const dir = await privateDir(user, 'push');
  return removingOnSignal(dir, async () => {
    const layout = join(dir, 'layout');
    const digest = await writePushLayout(layout, image, store.layerPaths(image), 'push');
    await skopeoCopy(
      [
        ...(opts.tlsVerify === false ? ['--dest-tls-verify=false'] : []),
        `oci:${layout}:push`,
        remote.transport,
      ],
      { op: 'push', ref, ...(opts.progress && { progress: opts.progress }) },
    );
    return { image, ref: remote.transport, digest };
  });
}
