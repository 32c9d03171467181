/**
 * Creating a container: its name claimed and its slice chosen under the
 * user's lock, its config written, its rootfs made (busybox, a copied
 * directory, an image's layers, or, for root, an overlay sharing the
 * image), and everything undone when a step fails. Also where images come
 * from and when one may be removed.
 */
import { writeFileSync } from 'node:fs';
import { mkdir, realpath, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { formatConfig } from '../core/config/file.ts';
import type { ContainerConfig } from '../core/config/model.ts';
import { validateName } from '../core/config/name.ts';
import { validateConfig } from '../core/config/validate.ts';
import { formatImageRef } from '../core/image/ref.ts';
import { IglooError } from '../core/errors.ts';
import { CREATING_FILE } from '../core/layout.ts';
import { failpoint } from '../host/failpoint.ts';
import type { IdMaps } from '../core/idmap/index.ts';
import { replaceFileAtomically, withFileLock } from '../host/files.ts';
import { BUILTIN_IMAGE, ImageStore, type StoredImage } from '../host/images.ts';
import {
  checkImageUnused,
  idmapCheck,
  prepareOverlay,
  unpackedImage,
  writeRootfsInfo,
} from './idmapped.ts';
import { newConfig, type CreateOptions, type ImageSource } from './new-config.ts';
import { defaultNet } from './network.ts';
import { checkNetwork } from './network.ts';
import { ensurePrivateDir, type ContainerPaths } from './paths.ts';
import { checkContainerLimits } from './limits.ts';
import { Reverter } from './reverter.ts';
import { resolveRootfsUser } from './rootfs-user.ts';
import { chooseIdmap } from './slices.ts';
import { halfMade, writeState } from './store.ts';
import type { UserContainers } from './user-containers.ts';
import type { UsernsTask } from './userns-task-body.ts';

export async function createContainer(
  user: UserContainers,
  name: string,
  opts: CreateOptions = {},
): Promise<ContainerConfig> {
  validateName(name);
  refuseDefaultNesting(name, opts);
  const paths = user.paths(name);
  const source = await resolveImage(user, opts.image);
  await ensurePrivateDir(user.dirs.data);
  await mkdir(user.containersDir, { recursive: true, mode: 0o700 });
  const owner = await user.owner();
  // Limits are checked before anything is made (a bad one changes nothing).
  if (opts.limits) await checkContainerLimits(user, opts.limits, 'create');
  if (opts.net === undefined) {
    const chosen = await defaultNet({ uid: owner.uid, ...(opts.memory && { oneShot: true }) });
    opts = { ...opts, net: chosen.net };
    // A user who expected user mode is told why they got private.
    if (!opts.memory && owner.uid !== 0 && chosen.net.mode !== 'user')
      opts.onNotice?.(`network ${chosen.net.mode}: ${chosen.why}`);
  }
  if (opts.net) await checkNetwork(opts.net);
  // The user-wide lock makes choosing a slice and claiming the name atomic.
  return withFileLock(user.containersDir, async () => {
    if (
      await stat(paths.dir).then(
        () => true,
        () => false,
      )
    ) {
      throw new IglooError('EEXIST', `Cannot create container "${name}": it exists already`, {
        op: 'create',
        path: paths.dir,
        subject: name,
        hint: halfMade(paths)
          ? `It is half-made (a create was interrupted): igloo destroy ${name}, then create it again`
          : `Choose another name, or: igloo destroy ${name}`,
      });
    }
    const idmap = await chooseIdmap(user, opts);
    const fromImage = source.kind === 'stored' ? source.image.config : undefined;
    let config = newConfig(name, paths.rootfs, idmap, source, opts);
    const revert = new Reverter();
    try {
      // 0700: other containers' ids (and other users) cannot traverse it.
      await mkdir(paths.dir, { mode: 0o700 });
      revert.add(() => rm(paths.dir, { recursive: true, force: true }));
      // Until the end, a crash leaves a container that says it is half-made (store.ts halfMade).
      writeFileSync(join(paths.dir, CREATING_FILE), `${process.pid}\n`, { mode: 0o600 });
      failpoint('create-dir-made');
      // A memory container is a one-shot run's: nothing to keep over a crash.
      await replaceFileAtomically(paths.config, formatConfig(config), {
        mode: 0o644,
        durable: !opts.memory,
      });
      failpoint('create-config-written');
      const shared =
        source.kind === 'stored' && !opts.memory && !opts.nesting && owner.uid === 0
          ? await shareImage(user, paths, source.image, idmap, opts.onNotice)
          : false;
      if (opts.memory) {
        // The helper builds the files in a tmpfs at each run: only an empty mount point here.
        await mkdir(paths.rootfs, { mode: 0o755 });
      } else if (!shared) {
        revert.add(() => runUsernsTask(idmap, owner, { kind: 'remove', path: paths.rootfs }));
        await runUsernsTask(
          idmap,
          owner,
          source.kind === 'dir'
            ? { kind: 'copy-rootfs', from: source.path, rootfs: paths.rootfs }
            : source.kind === 'stored'
              ? { kind: 'extract-layers', layers: source.layers, rootfs: paths.rootfs }
              : { kind: 'busybox-rootfs', rootfs: paths.rootfs, hostname: config.hostname },
        );
      }
      failpoint('create-rootfs-made');
      if (fromImage?.user) {
        // The image's User may name an account of the image: resolve it now that its files exist.
        const u = await resolveRootfsUser(
          paths,
          config,
          fromImage.user,
          `image ${opts.image}:/etc/passwd`,
        );
        config = validateConfig({ ...config, user: u });
        await replaceFileAtomically(paths.config, formatConfig(config), { mode: 0o644 });
      }
      if (opts.nesting) {
        const size = idmap.uid.reduce((n, e) => Math.max(n, e.inside + e.count), 0);
        await runUsernsTask(idmap, owner, { kind: 'nesting-setup', rootfs: paths.rootfs, size });
      }
      await writeState(paths, { version: 1, status: 'created' });
      failpoint('create-state-written');
      await rm(join(paths.dir, CREATING_FILE));
      revert.success();
      return config;
    } catch (err) {
      await revert.revert();
      throw err;
    }
  });
}

/**
 * `--nesting` on the default image makes a container igloo cannot run in:
 * the bound node needs glibc and there is no newuidmap. Refused before
 * anything is made, naming the image to build. `--image busybox` says the
 * caller wants busybox anyway (a container that may make user namespaces
 * of its own, e.g. for unshare -U, without igloo inside).
 */
function refuseDefaultNesting(name: string, opts: CreateOptions): void {
  if (!opts.nesting || opts.image !== undefined) return;
  throw new IglooError(
    'EINVAL',
    `Cannot create "${name}" with --nesting on the default busybox image: igloo cannot run inside it (the bound node needs glibc, and busybox has no newuidmap)`,
    {
      op: 'create',
      subject: name,
      hint: `Build an image that has them, then use it: igloo image build debian --include uidmap,busybox-static --name deb && igloo create ${name} --image deb --nesting   (--image busybox --nesting makes a busybox container that may create user namespaces, without igloo inside)`,
    },
  );
}

/**
 * Runs a task in a container's user namespace. The module (and the tar
 * code it pulls in) is loaded only when a rootfs is made, not on every
 * start, run and exec (nor for a one-shot run's memory container).
 */
async function runUsernsTask(
  idmap: IdMaps,
  owner: { uid: number; gid: number },
  task: UsernsTask,
): Promise<void> {
  const tasks = await import('./userns-task.ts');
  return tasks.runUsernsTask(idmap, owner, task);
}

/**
 * Root: the container's rootfs becomes an overlay of the image, unpacked
 * once and idmapped through the container's user namespace (see
 * lifecycle/idmapped.ts). Returns false, after saying why once, when the
 * file system refuses idmapped mounts: the caller copies the image then.
 * IGLOO_IDMAPPED=0 asks for the copy.
 */
async function shareImage(
  user: UserContainers,
  paths: ContainerPaths,
  image: StoredImage,
  idmap: IdMaps,
  notice: ((text: string) => void) | undefined,
): Promise<boolean> {
  if (process.env.IGLOO_IDMAPPED === '0') return false;
  const warn = (line: string) => process.stderr.write(`igloo: warning: ${line}\n`);
  const lower = await unpackedImage(imageStore(user), image, warn);
  // Containers record the image as NAME:TAG (NAME for an image stored before tags).
  const ref = formatImageRef(image);
  const check = await idmapCheck(lower);
  if (!check.ok) {
    const note = `idmapped mounts refused (${check.errno}: ${check.message})`;
    notice?.(`Image "${ref}" is copied into the container, not shared: ${note}`);
    await writeRootfsInfo(paths, { kind: 'copy', image: ref, note });
    return false;
  }
  await prepareOverlay(paths, ref, lower, idmap);
  return true;
}

/** The user's image store. */
export function imageStore(user: UserContainers): ImageStore {
  return new ImageStore(user.dirs.data);
}

/**
 * Removes an image. One that root's containers still share (their rootfs
 * is an overlay of it) is refused, naming them, as `podman rmi` refuses an
 * image in use; containers that got a copy keep their files.
 */
export async function removeImage(user: UserContainers, name: string): Promise<StoredImage> {
  const store = imageStore(user);
  const image = await store.get(name);
  await checkImageUnused(user.containersDir, formatImageRef(image));
  return store.remove(formatImageRef(image));
}

/**
 * Where a new container's files come from: the built-in busybox image, a
 * root file system directory (absolute path), or an imported image.
 */
async function resolveImage(user: UserContainers, image: string | undefined): Promise<ImageSource> {
  if (image === undefined || image === BUILTIN_IMAGE) return { kind: 'busybox' };
  if (image.startsWith('/')) {
    const path = await realpath(image).catch(() => undefined);
    const st = path ? await stat(path) : undefined;
    if (!path || !st?.isDirectory()) {
      throw new IglooError('ENOENT', `Cannot use image ${image}: no such directory`, {
        op: 'create',
        path: image,
        hint: 'Give the path of a root file system directory; import an archive first with: igloo image import FILE',
      });
    }
    return { kind: 'dir', path };
  }
  const store = imageStore(user);
  const stored = await store.get(image);
  return { kind: 'stored', image: stored, layers: store.layerPaths(stored) };
}
