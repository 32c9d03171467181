/**
 * Root's containers made from an imported image share it: the image is
 * unpacked once in DATA/images/NAME/rootfs-shifted, its ids 0..65535 stored
 * as SHARED_BASE+0..65535 (see below), and each container's rootfs is an
 * overlay whose lower layer is that directory idmapped so that SHARED_BASE+N
 * is the container's N (the helper's `rootfsidmap` step).
 *
 * Why shifted: the image is untrusted (anyone's archive), and root unpacks
 * it on the host. Kept with its own ids, a setuid-root program or a file
 * capability of the image would be a real setuid-root file or a capability
 * host root's processes get, guarded only by the 0700 store. Shifted, the
 * files belong to ids no host user has: setuid BASE, capabilities whose
 * rootid is BASE (v3), which grant nothing outside a namespace whose root is
 * BASE. Inside the container they are the image's setuid-root and
 * capabilities again, through the idmapping. (The alternative, mounting the
 * store nosuid, would need a mount made at every boot and would reach the
 * container's mounts too: a clone of a nosuid mount is nosuid, and su, ping's
 * capability, newuidmap in nesting containers must keep working inside.) An
 * image unpacked before (DATA/images/NAME/rootfs, owned by 0) is left to the
 * containers that use it; new ones get the shifted directory. The container's writes land in
 * its own upper directory, owned by its ids; the image is never written and no
 * chown walk is made. Unprivileged users cannot idmap a mount (it takes
 * CAP_SYS_ADMIN over the file system): their containers get a copy, as before.
 *
 * The container's directory records how its rootfs is made in rootfs.json;
 * a container without that file has a rootfs of its own (a copy).
 */
import { chown, mkdir, readFile, readdir, realpath, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { IglooError } from '../core/errors.ts';
import { SHARED_IMAGE_IDS, toOutside, type IdMaps } from '../core/idmap/index.ts';
import type { IdmappedRootfs } from '../core/plan/plan.ts';
import { errnoOf, sysError } from '../host/errno.ts';
import { replaceFileAtomically, uniqueSuffix } from '../host/files.ts';
import type { ImageStore } from '../host/images.ts';
import { type StoredImage } from '../host/images.ts';
import { parseHelperLine, runHelperTool } from '../host/helper.ts';
import type { ContainerPaths } from './paths.ts';

export type RootfsInfo =
  | {
      readonly kind: 'idmapped-overlay';
      readonly image: string;
      readonly lower: string;
      readonly upper: string;
      readonly work: string;
    }
  /** A copy of the image, made because idmapped mounts were refused (`note` says why). */
  | { readonly kind: 'copy'; readonly image: string; readonly note: string };

const infoFile = (paths: ContainerPaths) => join(paths.dir, 'rootfs.json');

export async function readRootfsInfo(paths: ContainerPaths): Promise<RootfsInfo | undefined> {
  try {
    return JSON.parse(await readFile(infoFile(paths), 'utf8')) as RootfsInfo;
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return undefined;
    throw sysError(err, 'read', infoFile(paths));
  }
}

export function writeRootfsInfo(paths: ContainerPaths, info: RootfsInfo): Promise<void> {
  return replaceFileAtomically(infoFile(paths), JSON.stringify(info, null, 2) + '\n', {
    mode: 0o644,
  });
}

/** What planStart needs for a container on a shared image ({} for any other). */
export async function idmappedStartOptions(
  paths: ContainerPaths,
): Promise<{ idmappedRootfs?: IdmappedRootfs }> {
  const info = await readRootfsInfo(paths);
  if (info?.kind !== 'idmapped-overlay') return {};
  return { idmappedRootfs: { image: info.lower, upper: info.upper, work: info.work } };
}

/** One line for `igloo info` and `igloo create`. */
export function describeRootfs(info: RootfsInfo | undefined, rootfs: string): string {
  if (!info) return rootfs;
  if (info.kind === 'copy') return `${rootfs} (a copy of image ${info.image}: ${info.note})`;
  return `overlay of image ${info.image} (${info.lower}, shared, idmapped), writes in ${info.upper}`;
}

export type IdmapCheck = { ok: true } | { ok: false; errno: string; message: string };

/** Asks the helper whether DIR's file system can be idmapped here (root only). */
export async function idmapCheck(dir: string): Promise<IdmapCheck> {
  const failed = (cause: unknown) =>
    new IglooError('ESYS', `Cannot check idmapped mounts on ${dir}: the helper failed`, {
      op: 'idmap check',
      path: dir,
      cause,
      hint: 'Rebuild igloo (node scripts/build.mjs)',
    });
  const { code, stdout, stderr } = await runHelperTool(
    ['idmap-check', dir],
    `check idmapped mounts on ${dir}`,
  ).catch((err: unknown) => {
    throw failed(err);
  });
  if (code !== 0) throw failed(new Error(`igloo-helper idmap-check exited ${code}: ${stderr}`));
  const line = stdout.trim();
  const answer = parseHelperLine(line);
  if (answer.kind !== 'IDMAP') return { ok: false, errno: 'EIO', message: line };
  return answer.ok ? { ok: true } : { ok: false, errno: answer.errno, message: answer.message };
}

/**
 * Where shared images keep their ids: id N of an image is SHARED_BASE+N on
 * disk. 0x7FFF0000..0x7FFFFFFF is the range systemd reserves as "foreign"
 * for exactly this (image files owned by ids no host user has, mapped back
 * through idmapped mounts): no login or container id is allocated there,
 * and it stays below 2^31, where tools that print ids as signed (getcap)
 * or files systems with 31-bit ids still work. The helper reads the base
 * back from the owner of the image's root directory. No delegation may hold
 * these ids and no container may map them (core/idmap/reserved.ts).
 */
export const SHARED_BASE = SHARED_IMAGE_IDS.start; // 0x7FFF0000 = 2147418112
export const SHARED_SPAN = SHARED_IMAGE_IDS.count;

/**
 * The image's files, unpacked once with their ids shifted by SHARED_BASE (as
 * root, on the host: the layers are applied beneath the directory exactly as
 * in a container, see host/layers.ts). Staged and renamed into place, so two
 * creates at once or an interrupted one leave one whole copy.
 */
export async function unpackedImage(
  store: ImageStore,
  image: StoredImage,
  warn: (line: string) => void = () => undefined,
): Promise<string> {
  const dir = store.dirOf(image);
  const target = join(dir, 'rootfs-shifted');
  if (
    await stat(target).then(
      (s) => s.isDirectory(),
      () => false,
    )
  )
    return target;
  const staging = join(dir, `.rootfs-${uniqueSuffix()}`);
  // tar is loaded only here (it would slow every start, run and exec).
  const { applyLayer } = await import('../host/layers.ts');
  try {
    await mkdir(staging, { mode: 0o755 });
    // The root directory is the image's id 0: the helper takes the base from it.
    await chown(staging, SHARED_BASE, SHARED_BASE);
    const report = { entries: 0, skipped: [] as string[] };
    const shift = { base: SHARED_BASE, span: SHARED_SPAN };
    for (const layer of store.layerPaths(image)) await applyLayer(staging, layer, report, shift);
    for (const line of report.skipped) warn(line);
    await rename(staging, target).catch(async (err: unknown) => {
      // Another create unpacked it meanwhile: use theirs.
      if (errnoOf(err) !== 'ENOTEMPTY' && errnoOf(err) !== 'EEXIST') throw err;
      await rm(staging, { recursive: true, force: true });
    });
    return target;
  } catch (err) {
    await rm(staging, { recursive: true, force: true });
    throw err instanceof IglooError ? err : sysError(err, 'unpack image', target);
  }
}

/**
 * Makes the container's overlay directories: an empty mount point (rootfs),
 * and upper and work owned by the container's root, so the overlay (mounted
 * by that root in its user namespace) can write them.
 */
export async function prepareOverlay(
  paths: ContainerPaths,
  image: string,
  lower: string,
  idmap: IdMaps,
): Promise<RootfsInfo> {
  const uid = toOutside(idmap.uid, 0, 'uid');
  const gid = toOutside(idmap.gid, 0, 'gid');
  const info: RootfsInfo = {
    kind: 'idmapped-overlay',
    image,
    lower: await realpath(lower),
    upper: join(paths.dir, 'upper'),
    work: join(paths.dir, 'work'),
  };
  await mkdir(paths.rootfs, { mode: 0o755 });
  for (const dir of [info.upper, info.work]) {
    await mkdir(dir, { mode: 0o755 });
    await chown(dir, uid, gid);
  }
  await writeRootfsInfo(paths, info);
  return info;
}

/** Names of the containers (in containersDir) whose rootfs is an overlay of IMAGE. */
export async function imageUsers(containersDir: string, image: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(containersDir);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return [];
    throw sysError(err, 'list', containersDir);
  }
  const users: string[] = [];
  for (const name of names.sort()) {
    const text = await readFile(join(containersDir, name, 'rootfs.json'), 'utf8').catch(
      () => undefined,
    );
    if (!text) continue;
    try {
      const info = JSON.parse(text) as RootfsInfo;
      if (info.kind === 'idmapped-overlay' && info.image === image) users.push(name);
    } catch {
      // unreadable: not ours to judge
    }
  }
  return users;
}

/** `igloo image rm` of an image that containers still use: refused, naming them. */
export async function checkImageUnused(containersDir: string, image: string): Promise<void> {
  const users = await imageUsers(containersDir, image);
  if (users.length === 0) return;
  throw new IglooError(
    'EBUSY',
    `Cannot remove image "${image}": ${users.length === 1 ? 'container' : 'containers'} ${users.map((u) => `"${u}"`).join(', ')} ${users.length === 1 ? 'uses it (its' : 'use it (their'} rootfs is an overlay of it)`,
    {
      op: 'image rm',
      subject: image,
      hint: `Destroy them first: ${users.map((u) => `igloo destroy ${u}`).join('; ')}`,
    },
  );
}

/** Export and checkpoint work on a rootfs directory of the container's own. */
export async function refuseOverlay(
  paths: ContainerPaths,
  name: string,
  op: string,
): Promise<void> {
  const info = await readRootfsInfo(paths);
  if (info?.kind !== 'idmapped-overlay') return;
  throw new IglooError(
    'ESTATE',
    `Cannot ${op} "${name}": its rootfs is an overlay of the shared image "${info.image}"`,
    {
      op,
      subject: name,
      path: info.upper,
      hint: `${op} needs a rootfs of the container's own; its changes are in ${info.upper}. Create the container from a copy instead: IGLOO_IDMAPPED=0 igloo create NAME --image ${info.image}`,
    },
  );
}
