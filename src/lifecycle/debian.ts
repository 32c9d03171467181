/**
 * `igloo image build debian`: a Debian system image made with the host's
 * debootstrap, as an unprivileged user, inside a user namespace (plus a
 * mount and a pid namespace, where debootstrap mounts /proc for the second
 * stage). debootstrap is told it runs in an LXC container so it binds
 * device nodes instead of making them. The tree is then packed into one
 * layer with ids as seen inside (0 = root), so any container's slice can
 * extract it, and stored like an imported image.
 *
 * Init: sysvinit. It boots unprivileged without cgroup delegation (systemd
 * wants a writable cgroup tree, which this cgroup-v1 host cannot delegate),
 * its gettys are plain processes, and SIGPWR + a powerwait line give
 * `igloo stop` a clean shutdown through the rc scripts.
 */
import { createHash } from 'node:crypto';
import { constants, createReadStream } from 'node:fs';
import { chown, mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { formatImageRef, newImageRef } from '../core/image/ref.ts';
import { IglooError } from '../core/errors.ts';
import { chooseSlice, intersectRanges, toOutside } from '../core/idmap/index.ts';
import { planUserns } from '../core/plan/plan.ts';
import { findOnPath } from '../host/check.ts';
import { type StoredImage } from '../host/images.ts';
import { readDelegation } from '../host/subid.ts';
import { runHelper } from '../native/spawn.ts';
import type { Igloo } from './igloo.ts';
import { sliceIdmap } from './slices.ts';
import { runUsernsTask, taskMap } from './userns-task.ts';

/** Where root's build sees its directory (its own mount namespace's bind). */
const BUILD_MOUNT = '/mnt';

/**
 * Root's build: the layer the pack task left in the build root's directory
 * becomes root's own file at TO. Only a plain file of the build root's, with
 * one link, is taken (never a link to one of the host's files).
 */
async function takeLayer(from: string, to: string, buildRoot: number): Promise<void> {
  // O_NONBLOCK: a FIFO left in its place must not hang root here.
  const file = await open(from, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const st = await file.stat();
    if (!st.isFile() || st.nlink !== 1 || st.uid !== buildRoot)
      throw new IglooError(
        'EUNSAFE',
        `Cannot build a Debian image: the packed layer ${from} is not a plain file of the build's root (one link, uid ${buildRoot})`,
        {
          op: 'build image',
          path: from,
          hint: 'Something in the build changed it (a package script?); build again, with another mirror if it repeats',
        },
      );
    await rename(from, to);
    await file.chown(0, 0);
    await file.chmod(0o600);
  } finally {
    await file.close();
  }
}

export interface DebianOptions {
  suite?: string;
  name?: string;
  mirror?: string;
  /** Extra packages, besides sysvinit-core and the minbase set. */
  include?: string[];
  progress?: (line: string) => void;
}

/** The Debian mirror the host's apt uses, or deb.debian.org. */
export async function hostMirror(): Promise<string> {
  const texts = await Promise.all(
    ['/etc/apt/sources.list.d/debian.sources', '/etc/apt/sources.list'].map((p) =>
      readFile(p, 'utf8').catch(() => ''),
    ),
  );
  for (const text of texts) {
    const deb822 = /^URIs:\s*(\S+)/m.exec(text);
    if (deb822 && !deb822[1]!.includes('security')) return deb822[1]!;
    const line = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+\S+/m.exec(text);
    if (line) return line[1]!;
  }
  return 'http://deb.debian.org/debian';
}

export async function buildDebian(igloo: Igloo, opts: DebianOptions = {}): Promise<StoredImage> {
  const suite = opts.suite ?? 'bookworm';
  if (!/^[a-z][a-z0-9-]{1,30}$/.test(suite))
    throw new IglooError('EINVAL', `Invalid Debian suite "${suite}"`, {
      op: 'build image',
      subject: suite,
      hint: 'e.g. bookworm or trixie',
    });
  // debian:SUITE, so that `--image debian` finds it (its newest tag).
  const ref = newImageRef(opts.name ?? `debian:${suite}`);
  const name = formatImageRef(ref);
  const debootstrap = (await findOnPath('debootstrap')) ?? '/usr/sbin/debootstrap';
  if (
    !(await stat(debootstrap).then(
      () => true,
      () => false,
    ))
  ) {
    throw new IglooError('EHOST', 'Cannot build a Debian image: debootstrap is not installed', {
      op: 'build image',
      hint: 'apt-get install debootstrap',
    });
  }
  const store = igloo.images();
  await store.checkNewName(ref, `build image "${name}"`, 'build image');
  const owner = await igloo.owner();
  const delegation = await readDelegation(owner);
  // Any slice of the owner's will do: the build's files live in the owner's
  // private directory, out of reach of every container.
  const idmap = sliceIdmap(chooseSlice(intersectRanges(delegation.uid, delegation.gid), []));
  const ownerInside = idmap.uid.reduce((n, e) => Math.max(n, e.inside + e.count), 0);
  await mkdir(store.dir, { recursive: true, mode: 0o700 });
  const staging = await store.stagingDir('build');
  const layer = join(staging, 'layers', '0.tar');
  await mkdir(join(staging, 'layers'), { recursive: true, mode: 0o700 });
  // Root's build maps no host id 0 (taskMap): the tree and the packed layer
  // are made in a directory of the build root's, reached as the working
  // directory (bound onto /mnt in the build's mount namespace, since
  // debootstrap wants an absolute path); root takes the layer afterwards.
  const asRoot = owner.uid === 0 || owner.gid === 0;
  const work = asRoot ? join(staging, 'build') : staging;
  const rootfs = join(work, 'rootfs');
  if (asRoot) {
    await mkdir(work, { mode: 0o700 });
    await chown(work, toOutside(idmap.uid, 0, 'uid'), toOutside(idmap.gid, 0, 'gid'));
  }
  try {
    const mirror = opts.mirror ?? (await hostMirror());
    const include = ['sysvinit-core', 'procps', ...(opts.include ?? [])].join(',');
    // mnt and pid namespaces of its own: debootstrap mounts /proc for the second stage.
    const plan = planUserns(
      taskMap(idmap, owner),
      [
        debootstrap,
        '--variant=minbase',
        `--include=${include}`,
        suite,
        asRoot ? `${BUILD_MOUNT}/rootfs` : rootfs,
        mirror,
      ],
      [
        'PATH=/usr/sbin:/usr/bin:/sbin:/bin',
        'LANG=C.UTF-8',
        'container=lxc',
        'DEBIAN_FRONTEND=noninteractive',
      ],
      '/',
      ['user', 'mnt', 'pid'],
      asRoot ? { path: work, mountAt: BUILD_MOUNT } : undefined,
    );
    opts.progress?.(`debootstrap ${suite} from ${mirror}`);
    const result = await runHelper(plan, 'build a Debian image', { stdoutToStderr: true });
    if (result.exitCode !== 0) {
      throw new IglooError(
        'ESYS',
        `Cannot build a Debian image: debootstrap ${result.status ?? 'failed'}`,
        {
          op: 'build image',
          hint: `See debootstrap's messages above, and ${rootfs}/debootstrap/debootstrap.log`,
        },
      );
    }
    opts.progress?.('packing the image');
    await runUsernsTask(idmap, owner, {
      kind: 'pack-debian',
      rootfs,
      layer: asRoot ? join(work, 'layer.tar') : layer,
      owner: asRoot ? 0 : ownerInside,
      suite,
    });
    if (asRoot) await takeLayer(join(work, 'layer.tar'), layer, toOutside(idmap.uid, 0, 'uid'));
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of createReadStream(layer)) {
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
    const image: StoredImage = {
      name: ref.name,
      tag: ref.tag,
      source: `debootstrap ${suite} ${mirror}`,
      format: 'oci',
      tags: [],
      imported: new Date().toISOString(),
      config: {
        entrypoint: [],
        cmd: ['/sbin/init'],
        env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
        workingDir: '/',
        user: '',
      },
      layers: [{ file: '0.tar', digest: `sha256:${hash.digest('hex')}`, size }],
      system: { haltSignal: 'SIGPWR' },
    };
    if (asRoot) await runUsernsTask(idmap, owner, { kind: 'remove', path: work });
    await store.save(staging, image);
    return image;
  } catch (err) {
    await runUsernsTask(idmap, owner, { kind: 'remove', path: work }).catch(() => undefined);
    await rm(staging, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  }
}
