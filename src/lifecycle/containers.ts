/**
 * The container lifecycle: create, start, stop, kill, exec, destroy, list.
 * Every operation validates its input before touching a path, holds the
 * container's lock while it changes state, and undoes half-done work.
 *
 *   created --start--> running --(init exits / stop / kill)--> stopped --start--> running
 *   any state but running --destroy--> (gone); running --destroy --force--> (gone)
 */
import { mkdir, readdir, readFile, realpath, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { formatConfig } from '../core/config/file.ts';
import { validateName } from '../core/config/name.ts';
import {
  ALL_NAMESPACES,
  DEFAULT_ENV,
  type BindMount,
  type ContainerConfig,
} from '../core/config/model.ts';
import { validateConfig } from '../core/config/validate.ts';
import { IglooError } from '../core/errors.ts';
import {
  checkMapDelegated,
  chooseSlice,
  intersectRanges,
  outsideRanges,
  parseIdmapSpec,
  sliceMap,
  type IdMaps,
  type IdRange,
} from '../core/idmap/index.ts';
import { parseGroup, parsePasswd, resolveUser } from '../core/passwd.ts';
import { planExec, planStart, type MemoryRootfs } from '../core/plan/plan.ts';
import { hostBusyboxCached } from '../host/busybox-rootfs.ts';
import { commandFor } from '../core/image/oci.ts';
import { BUILTIN_IMAGE, ImageStore, type StoredImage } from '../host/images.ts';
import { errnoOf, sysError } from '../host/errno.ts';
import { replaceFileAtomically, uniqueSuffix, withFileLock } from '../host/files.ts';
import { processStartTime } from '../host/proc.ts';
import { readDelegation, subidPaths } from '../host/subid.ts';
import { currentUser } from '../host/users.ts';
import { runHelper, type HelperResult } from '../native/spawn.ts';
import { loadSeccompProfile } from '../host/seccomp.ts'; // hardening: OCI seccomp profiles
import {
  containerPaths,
  ensurePrivateDir,
  iglooDirs,
  NESTED_IGLOO_DIR,
  type ContainerPaths,
  type IglooDirs,
} from './paths.ts';
import { Reverter } from './reverter.ts';
import {
  dropPreparedRun,
  installPreparedRun,
  preparedPlansOff,
  preparedRunHolds,
  preparedRunPaths,
  preparedRunReservation,
  writePreparedExec,
} from './prepared-plans.ts';
import {
  liveState,
  readConfig,
  readState,
  removeRunDir,
  withContainerLock,
  writeState,
  type StateFile,
} from './store.ts';
import type { UsernsTask } from './userns-task.ts';
import { cliPath } from '../host/install.ts';
import { readFileBeneath } from '../host/beneath.ts';
import {
  checkImageUnused,
  idmapCheck,
  idmappedStartOptions,
  prepareOverlay,
  readRootfsInfo,
  unpackedImage,
  writeRootfsInfo,
} from './idmapped.ts';

export interface CreateOptions {
  /** "busybox" (default), an imported image's name, or the absolute path of a directory to copy. */
  image?: string;
  /** "auto" (default) or an explicit map, e.g. "u 0 2000000 65536 g 0 2000000 65536". */
  idmap?: string;
  /** Slice size and placement for auto maps. */
  sliceSize?: number;
  sliceStride?: number;
  sliceStart?: number;
  init?: string[];
  env?: string[];
  hostname?: string;
  /** The container runs containers of its own (see ContainerConfig.nesting). */
  nesting?: boolean;
  /** No files on disk: the busybox rootfs is made in memory at each run (runEphemeral). */
  memory?: boolean;
  /** Told once when root's container gets a copy of an image because idmapped mounts were refused. */
  onNotice?: (text: string) => void;
}

const NESTING_SLICE = 8 * 65536;

/**
 * igloo itself inside a nesting container: the host's node and igloo's
 * build, bound read-only (the container's /usr/local/bin/igloo points at it).
 */
export function nestingMounts(): BindMount[] {
  return [
    { source: process.execPath, target: '/usr/local/bin/node', readonly: true },
    { source: dirname(cliPath()), target: NESTED_IGLOO_DIR, readonly: true },
  ];
}

/**
 * Runs a task in a container's user namespace. The module (and the tar
 * code it pulls in) is loaded only when a rootfs is made or removed, not on
 * every start, run and exec.
 */
async function runUsernsTask(
  idmap: IdMaps,
  owner: { uid: number; gid: number },
  task: UsernsTask,
): Promise<void> {
  const tasks = await import('./userns-task.ts');
  return tasks.runUsernsTask(idmap, owner, task);
}

type ImageSource =
  | { kind: 'busybox' }
  | { kind: 'dir'; path: string }
  | { kind: 'stored'; image: StoredImage; layers: string[] };

/** A new container's config: igloo's defaults, the image's, then the caller's. */
function newConfig(
  name: string,
  rootfs: string,
  idmap: IdMaps,
  source: ImageSource,
  opts: CreateOptions,
): ContainerConfig {
  const fromImage = source.kind === 'stored' ? source.image.config : undefined;
  const imageCommand = fromImage ? commandFor(fromImage, []) : [];
  return validateConfig({
    name,
    rootfs,
    idmap,
    hostname: opts.hostname ?? name,
    init: opts.init ?? (imageCommand.length ? imageCommand : ['/sbin/init']),
    env: opts.env ?? (fromImage?.env.length ? withPath(fromImage.env) : DEFAULT_ENV),
    cwd: fromImage?.workingDir ?? '/',
    user: { uid: 0, gid: 0, groups: [] },
    namespaces: ALL_NAMESPACES,
    // busybox init powers off on SIGUSR2; an application image's process
    // gets SIGTERM, as docker and podman send it.
    haltSignal:
      source.kind === 'stored' ? (source.image.system?.haltSignal ?? 'SIGTERM') : 'SIGUSR2',
    mounts: opts.nesting ? nestingMounts() : [],
    rlimits: [],
    ...(opts.nesting && { nesting: true, noNewPrivs: false }),
  });
}

/** An image's environment, with a PATH if it has none. */
function withPath(env: readonly string[]): string[] {
  return env.some((e) => e.startsWith('PATH=')) ? [...env] : [DEFAULT_ENV[0]!, ...env];
}

export interface Owner {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
}

export class Igloo {
  readonly dirs: IglooDirs;
  private ownerCache: Owner | undefined;

  constructor(dirs: IglooDirs = iglooDirs()) {
    this.dirs = dirs;
  }

  async owner(): Promise<Owner> {
    this.ownerCache ??= await currentUser();
    return this.ownerCache;
  }

  paths(name: string): ContainerPaths {
    return containerPaths(this.dirs, name);
  }

  private get containersDir(): string {
    return join(this.dirs.data, 'containers');
  }

  /** Names of this user's containers. */
  async names(): Promise<string[]> {
    try {
      return (await readdir(this.containersDir, { withFileTypes: true }))
        .filter((e) => e.isDirectory())
        .map((e) => e.name)
        .sort();
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return [];
      throw sysError(err, 'list', this.containersDir);
    }
  }

  /**
   * The host id ranges used by this user's containers (to keep slices
   * isolated), and by the one-shot slot unless `withoutSlot`.
   */
  private async takenRanges(withoutSlot = false): Promise<IdRange[]> {
    const taken: IdRange[] = [];
    const slot = withoutSlot ? undefined : preparedRunReservation(this.dirs);
    if (slot) taken.push(...outsideRanges(slot.uid), ...outsideRanges(slot.gid));
    for (const name of await this.names()) {
      try {
        const config = await readConfig(this.paths(name), name);
        taken.push(...outsideRanges(config.idmap.uid), ...outsideRanges(config.idmap.gid));
      } catch {
        // A broken container still holds its directory; its ids are unknown and skipped.
      }
    }
    return taken;
  }

  /**
   * The map for a new container. The one-shot slot gives its slice up when
   * a container needs it: an explicit map that overlaps it, or an auto map
   * with no other slice free.
   */
  private async chooseIdmap(opts: CreateOptions, forSlot = false): Promise<IdMaps> {
    const owner = await this.owner();
    const delegation = await readDelegation(owner);
    if (opts.idmap && opts.idmap !== 'auto') {
      const maps = parseIdmapSpec(opts.idmap, { path: '--idmap' });
      checkMapDelegated(maps.uid, 'uid', delegation.uid, { owner: owner.name });
      checkMapDelegated(maps.gid, 'gid', delegation.gid, { owner: owner.name });
      const slot = preparedRunReservation(this.dirs);
      const ranges = (m: IdMaps) => [...outsideRanges(m.uid), ...outsideRanges(m.gid)];
      if (slot && intersectRanges(ranges(maps), ranges(slot)).length > 0) await this.giveUpSlot();
      return maps;
    }
    // One slice, the same for uids and gids, that no other container of this
    // user shares (the blocks of different users are disjoint by delegation).
    const both = intersectRanges(delegation.uid, delegation.gid);
    if (both.length === 0) {
      throw new IglooError(
        'ENOTDELEGATED',
        `Cannot create a container for "${owner.name}": no subordinate ids are delegated to them`,
        {
          op: 'create',
          subject: owner.name,
          hint: `Ask the administrator to run: igloo subid grant ${owner.name}   (then igloo check)`,
        },
      );
    }
    // A nesting container gets room for its own 65536 ids and seven whole
    // slices to delegate onward.
    const size = opts.sliceSize ?? (opts.nesting ? NESTING_SLICE : undefined);
    const choose = async (withoutSlot: boolean) =>
      chooseSlice(both, await this.takenRanges(withoutSlot), {
        ...(size !== undefined && { size }),
        ...(opts.sliceStride !== undefined && { stride: opts.sliceStride }),
        ...(opts.sliceStart !== undefined && { start: opts.sliceStart }),
      });
    let slice;
    try {
      slice = await choose(forSlot);
    } catch (err) {
      if (forSlot || preparedRunReservation(this.dirs) === undefined) throw err;
      await this.giveUpSlot();
      slice = await choose(false);
    }
    const map = sliceMap(slice);
    return { uid: map, gid: map };
  }

  /** Frees the one-shot slot's slice for a container (refused while a run uses it). */
  private async giveUpSlot(): Promise<void> {
    if (!(await dropPreparedRun(this.dirs)))
      throw new IglooError(
        'EBUSY',
        'Cannot take the ids of the one-shot run slot: a run is using them right now',
        {
          op: 'create',
          path: preparedRunPaths(this.dirs).plan,
          hint: 'Try again when the `igloo run` has ended, or choose another --idmap',
        },
      );
  }

  /**
   * Prepares the next one-shot `igloo run -- CMD` (the native front runs it
   * without Node): its plan, with a slice reserved for it, unless a plan
   * that still holds is there. Called after a one-shot run.
   */
  private async prepareNextRun(busybox: MemoryRootfs): Promise<void> {
    if (preparedPlansOff() || preparedRunHolds(this.dirs)) return;
    await withFileLock(this.containersDir, async () => {
      if (preparedRunHolds(this.dirs)) return;
      const idmap = await this.chooseIdmap({}, true);
      const rootfs = preparedRunPaths(this.dirs).rootfs;
      const config = await loadSeccompProfile(
        newConfig('run', rootfs, idmap, { kind: 'busybox' }, {}),
      );
      const plan = planStart(config, {
        memoryRootfs: busybox,
        mode: 'foreground',
        console: 'inherit',
        command: ['(command)'],
      });
      const subid = subidPaths();
      const files = new Set([subid.uid, subid.gid, '/etc/subuid', '/etc/subgid', busybox.busybox]);
      await installPreparedRun(this.dirs, plan, idmap, [...files]);
    });
  }

  async create(name: string, opts: CreateOptions = {}): Promise<ContainerConfig> {
    validateName(name);
    const paths = this.paths(name);
    const source = await this.resolveImage(opts.image);
    await ensurePrivateDir(this.dirs.data);
    await mkdir(this.containersDir, { recursive: true, mode: 0o700 });
    const owner = await this.owner();
    // The user-wide lock makes choosing a slice and claiming the name atomic.
    return withFileLock(this.containersDir, async () => {
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
          hint: `Choose another name, or: igloo destroy ${name}`,
        });
      }
      const idmap = await this.chooseIdmap(opts);
      const fromImage = source.kind === 'stored' ? source.image.config : undefined;
      let config = newConfig(name, paths.rootfs, idmap, source, opts);
      const revert = new Reverter();
      try {
        // 0700: other containers' ids (and other users) cannot traverse it.
        await mkdir(paths.dir, { mode: 0o700 });
        revert.add(() => rm(paths.dir, { recursive: true, force: true }));
        // A memory container is a one-shot run's: nothing to keep over a crash.
        await replaceFileAtomically(paths.config, formatConfig(config), {
          mode: 0o644,
          durable: !opts.memory,
        });
        const shared =
          source.kind === 'stored' && !opts.memory && !opts.nesting && owner.uid === 0
            ? await this.shareImage(paths, source.image, idmap, opts.onNotice)
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
        if (fromImage?.user) {
          // The image's User may name an account of the image: resolve it now that its files exist.
          const [passwd, group] = await Promise.all([
            this.readRootfsFile(config, '/etc/passwd'),
            this.readRootfsFile(config, '/etc/group'),
          ]);
          const u = resolveUser(
            fromImage.user,
            parsePasswd(passwd),
            parseGroup(group),
            `image ${opts.image}:/etc/passwd`,
          );
          config = validateConfig({ ...config, user: { uid: u.uid, gid: u.gid, groups: [] } });
          await replaceFileAtomically(paths.config, formatConfig(config), { mode: 0o644 });
        }
        if (opts.nesting) {
          const size = idmap.uid.reduce((n, e) => Math.max(n, e.inside + e.count), 0);
          await runUsernsTask(idmap, owner, { kind: 'nesting-setup', rootfs: paths.rootfs, size });
        }
        await writeState(paths, { version: 1, status: 'created' });
        revert.success();
        return config;
      } catch (err) {
        await revert.revert();
        throw err;
      }
    });
  }

  /**
   * Root: the container's rootfs becomes an overlay of the image, unpacked
   * once and idmapped through the container's user namespace (see
   * lifecycle/idmapped.ts). Returns false, after saying why once, when the
   * file system refuses idmapped mounts: the caller copies the image then.
   * IGLOO_IDMAPPED=0 asks for the copy.
   */
  private async shareImage(
    paths: ContainerPaths,
    image: StoredImage,
    idmap: IdMaps,
    notice: ((text: string) => void) | undefined,
  ): Promise<boolean> {
    if (process.env.IGLOO_IDMAPPED === '0') return false;
    const warn = (line: string) => process.stderr.write(`igloo: warning: ${line}\n`);
    const lower = await unpackedImage(this.images(), image, warn);
    const check = await idmapCheck(lower);
    if (!check.ok) {
      const note = `idmapped mounts refused (${check.errno}: ${check.message})`;
      notice?.(`Image "${image.name}" is copied into the container, not shared: ${note}`);
      await writeRootfsInfo(paths, { kind: 'copy', image: image.name, note });
      return false;
    }
    await prepareOverlay(paths, image.name, lower, idmap);
    return true;
  }

  /** How the container's rootfs is made (undefined: a directory of its own). */
  rootfsInfo(name: string) {
    return readRootfsInfo(this.paths(name));
  }

  /**
   * Removes an image. One that root's containers still share (their rootfs
   * is an overlay of it) is refused, naming them, as `podman rmi` refuses an
   * image in use; containers that got a copy keep their files.
   */
  async removeImage(name: string): Promise<void> {
    await checkImageUnused(this.containersDir, name);
    await this.images().remove(name);
  }

  /** The user's image store. */
  images(): ImageStore {
    return new ImageStore(this.dirs.data);
  }

  /**
   * Where a new container's files come from: the built-in busybox image, a
   * root file system directory (absolute path), or an imported image.
   */
  private async resolveImage(image: string | undefined): Promise<ImageSource> {
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
    const stored = await this.images().get(image);
    return { kind: 'stored', image: stored, layers: this.images().layerPaths(stored) };
  }

  async config(name: string): Promise<ContainerConfig> {
    return readConfig(this.paths(name), name);
  }

  async state(name: string): Promise<StateFile> {
    const paths = this.paths(name);
    await readConfig(paths, name); // ENOENT with a clear message if there is no such container
    return liveState(paths);
  }

  /**
   * Starts init in the background, monitored by the helper. With `command`,
   * runs that instead of init, in the foreground (igloo run).
   */
  /**
   * Starts init in the background. `console: 'null'` gives init /dev/null
   * instead of a pty held by the monitor: no console. Either can be
   * checkpointed (docs/criu.md).
   */
  async start(name: string, opts: { console?: 'pty' | 'null' } = {}): Promise<StateFile> {
    const paths = this.paths(name);
    await readConfig(paths, name); // a clear error for a missing container, before locking
    return withContainerLock(paths, async () => {
      const config = await readConfig(paths, name);
      const state = await liveState(paths);
      if (state.status === 'running') {
        throw new IglooError(
          'ESTATE',
          `Cannot start "${name}": it is running already (init is pid ${state.pid})`,
          { op: 'start', subject: name, hint: `Stop it first: igloo stop ${name}` },
        );
      }
      await ensurePrivateDir(this.dirs.run);
      await removeRunDir(paths);
      await mkdir(paths.rundir, { mode: 0o700 });
      const plannedConfig = await loadSeccompProfile(config);
      const plan = planStart(plannedConfig, {
        ...(await idmappedStartOptions(paths)),
        mode: 'detached',
        console: opts.console ?? 'pty',
        rundir: paths.rundir,
      }); // hardening: loadSeccompProfile
      let running: StateFile | undefined;
      try {
        await runHelper(plan, `start container "${name}"`, {
          onReady: async (pid) => {
            running = {
              version: 1,
              status: 'running',
              pid,
              pidStart: (await processStartTime(pid)) ?? 0,
              startedAt: new Date().toISOString(),
            };
            await writeState(paths, running);
            // A speed-up only (igloo exec without Node): a failure to write it changes nothing.
            await writePreparedExec(paths, plannedConfig, {
              pid,
              start: running.pidStart ?? 0,
            }).catch(() => undefined);
          },
        });
      } catch (err) {
        await removeRunDir(paths);
        throw err;
      }
      return running!;
    });
  }

  /** One-shot run of a command in a container, in the foreground, with the caller's stdio. */
  async runForeground(
    name: string,
    command: readonly string[],
    opts: { memoryRootfs?: MemoryRootfs; keepState?: boolean; tty?: boolean } = {},
  ): Promise<{ exitCode: number; status: string }> {
    const paths = this.paths(name);
    const config = await readConfig(paths, name);
    await ensurePrivateDir(this.dirs.run);
    const plan = planStart(await loadSeccompProfile(config), {
      ...(opts.memoryRootfs && { memoryRootfs: opts.memoryRootfs }),
      ...(await idmappedStartOptions(paths)),
      mode: 'foreground',
      // tty: a pty made in the container; without one the process still
      // gets a session of its own (the helper's setsid), never the
      // caller's terminal as its controlling tty.
      console: opts.tty === true ? 'pty' : 'inherit',
      command,
    }); // hardening: loadSeccompProfile
    // The lock is held from the state check until the process runs (so two
    // runs cannot both start), not while it runs: state.json says who runs.
    let finished: Promise<HelperResult> | undefined;
    let runningPid = 0;
    await withContainerLock(paths, async () => {
      const state = await liveState(paths);
      if (state.status === 'running')
        throw new IglooError('ESTATE', `Cannot run in "${name}": it is running already`, {
          op: 'run',
          subject: name,
          hint: `Use: igloo exec ${name} -- CMD`,
        });
      await new Promise<void>((ready, failed) => {
        finished = runHelper(plan, `run in container "${name}"`, {
          onReady: async (pid) => {
            runningPid = pid;
            await writeState(paths, {
              version: 1,
              status: 'running',
              pid,
              pidStart: (await processStartTime(pid)) ?? 0,
              startedAt: new Date().toISOString(),
            });
            ready();
          },
        });
        finished.catch(failed);
      });
    });
    const result = await finished!;
    const status = result.status ?? `exited ${result.exitCode ?? 1}`;
    if (opts.keepState === false) return { exitCode: result.exitCode ?? 1, status };
    await withContainerLock(paths, async () => {
      // Unless someone started it again meanwhile, record how the run ended.
      const now = await readState(paths);
      if (now.status === 'running' && now.pid !== runningPid) return;
      await writeState(paths, {
        version: 1,
        status: 'stopped',
        lastExit: status,
        stoppedAt: new Date().toISOString(),
      });
    });
    return { exitCode: result.exitCode ?? 1, status };
  }

  /**
   * `igloo run` with the built-in image and no name: a container whose
   * busybox system is made in a tmpfs by the helper, with a slice of its own
   * for the run, and nothing on disk to build or remove but its config.
   */
  async runEphemeral(
    command: readonly string[],
    opts: { idmap?: string; tty?: boolean } = {},
  ): Promise<{ exitCode: number; status: string }> {
    const name = `run-${uniqueSuffix()}`;
    await ensurePrivateDir(this.dirs.run);
    const busybox = await hostBusyboxCached(this.dirs.run);
    await this.create(name, {
      memory: true,
      ...(opts.idmap !== undefined && { idmap: opts.idmap }),
    });
    const paths = this.paths(name);
    const memoryRootfs = { busybox: busybox.path, applets: busybox.applets };
    let result;
    try {
      result = await this.runForeground(name, command, {
        memoryRootfs,
        keepState: false, // removed right after
        ...(opts.tty !== undefined && { tty: opts.tty }),
      });
    } finally {
      // Every file is the owner's (config, state, an empty mount point): no user namespace needed.
      await rm(paths.dir, { recursive: true, force: true });
      await removeRunDir(paths);
    }
    // A plan for the next run is a speed-up only: a failure to make one changes nothing.
    if (opts.idmap === undefined) await this.prepareNextRun(memoryRootfs).catch(() => undefined);
    return result;
  }

  private async running(
    name: string,
  ): Promise<{ config: ContainerConfig; state: StateFile & { pid: number } }> {
    const paths = this.paths(name);
    const config = await readConfig(paths, name);
    const state = await liveState(paths);
    if (state.status !== 'running' || state.pid === undefined) {
      throw new IglooError('ESTATE', `Container "${name}" is not running (it is ${state.status})`, {
        op: 'find init',
        subject: name,
        hint: `Start it: igloo start ${name}`,
      });
    }
    return { config, state: state as StateFile & { pid: number } };
  }

  async kill(name: string, signal: string = 'SIGTERM'): Promise<void> {
    const { state } = await this.running(name);
    try {
      process.kill(state.pid, signal as NodeJS.Signals);
    } catch (err) {
      if (errnoOf(err) === 'ESRCH') return;
      if (err instanceof TypeError || errnoOf(err) === 'ERR_UNKNOWN_SIGNAL') {
        throw new IglooError('EINVAL', `Cannot send "${signal}" to "${name}": unknown signal`, {
          op: 'kill',
          subject: signal,
          hint: 'Use a name like SIGTERM, SIGKILL, SIGUSR1',
        });
      }
      throw sysError(err, 'kill', `pid ${state.pid}`);
    }
  }

  /**
   * Asks init to halt with its halt signal, waits up to `timeoutSeconds`, then
   * kills it. Resolves when init is gone and the monitor has recorded its exit.
   */
  async stop(name: string, timeoutSeconds = 10): Promise<StateFile> {
    const paths = this.paths(name);
    const config = await readConfig(paths, name);
    const state = await liveState(paths);
    if (state.status !== 'running' || state.pid === undefined) return state;
    const gone = () => liveState(paths).then((s) => s.status !== 'running');
    const waitGone = async (ms: number) => {
      const deadline = Date.now() + ms;
      while (Date.now() < deadline) {
        if (await gone()) return true;
        await new Promise((r) => setTimeout(r, 50));
      }
      return gone();
    };
    const send = (sig: string) => {
      try {
        process.kill(state.pid!, sig as NodeJS.Signals);
      } catch (err) {
        if (errnoOf(err) !== 'ESRCH') throw sysError(err, 'signal', `pid ${state.pid}`);
      }
    };
    send(config.haltSignal);
    if (!(await waitGone(timeoutSeconds * 1000))) {
      send('SIGKILL');
      await waitGone(10_000);
    }
    // The monitor writes the exit file just after init is reaped.
    for (
      let i = 0;
      i < 100 &&
      !(await readFile(paths.exitFile).then(
        () => true,
        () => false,
      ));
      i++
    ) {
      await new Promise((r) => setTimeout(r, 20));
    }
    return withContainerLock(paths, async () => {
      const now = await liveState(paths);
      await writeState(paths, now);
      return now;
    });
  }

  async exec(
    name: string,
    argv: readonly string[],
    opts: { tty?: boolean; user?: string; env?: string[]; cwd?: string } = {},
  ): Promise<{ exitCode: number; status: string }> {
    if (argv.length === 0)
      throw new IglooError('EINVAL', 'exec: no command given', {
        op: 'exec',
        hint: 'igloo exec NAME -- CMD [ARG...]',
      });
    const { config, state } = await this.running(name);
    let user = { uid: 0, gid: 0, groups: [] as number[] };
    if (opts.user !== undefined) {
      const [passwd, group] = await Promise.all([
        this.readRootfsFile(config, '/etc/passwd'),
        this.readRootfsFile(config, '/etc/group'),
      ]);
      const u = resolveUser(
        opts.user,
        parsePasswd(passwd),
        parseGroup(group),
        `${name}:/etc/passwd`,
      );
      user = { uid: u.uid, gid: u.gid, groups: [] };
    }
    const env = [
      ...config.env.filter(
        (e) => !(opts.env ?? []).some((o) => o.split('=')[0] === e.split('=')[0]),
      ),
      ...(opts.env ?? []),
    ];
    // hardening: loadSeccompProfile
    const plan = planExec(await loadSeccompProfile(config), {
      pid: state.pid,
      argv,
      env,
      cwd: opts.cwd ?? '/',
      user,
      tty: opts.tty === true,
      ...(state.pidStart ? { start: state.pidStart } : {}),
    });
    const result = await runHelper(plan, `exec in "${name}"`);
    return { exitCode: result.exitCode ?? 1, status: result.status ?? 'unknown' };
  }

  /**
   * Reads a small text file from the rootfs for names (passwd, group), as
   * the container left it: the rootfs is the container's (root runs this
   * for `exec --user` while the container runs and can swap the file for a
   * link or a FIFO at any moment), so the path is resolved beneath it with
   * links kept inside (host/beneath.ts), and only a regular file of at most
   * 4 MiB is read. A missing file reads as empty; anything else unsafe is
   * an EUNSAFE error naming it.
   */
  private async readRootfsFile(config: ContainerConfig, path: string): Promise<string> {
    const layered = await readRootfsInfo(this.paths(config.name));
    const overlay = layered?.kind === 'idmapped-overlay';
    const roots = overlay ? [layered.upper, layered.lower] : [config.rootfs];
    for (const root of roots) {
      try {
        return readFileBeneath(root, path, {
          op: `read ${path} of "${config.name}" from`,
          maxBytes: 4 << 20,
        }).toString('utf8');
      } catch (err) {
        if (err instanceof IglooError && err.code === 'ENOENT') continue;
        // An overlay's whiteout (a 0:0 character device in upper): the file was removed.
        if (
          overlay &&
          root === roots[0] &&
          err instanceof IglooError &&
          /character device/.test(err.message)
        )
          return '';
        throw err;
      }
    }
    return '';
  }

  async destroy(name: string, opts: { force?: boolean } = {}): Promise<void> {
    const paths = this.paths(name);
    const owner = await this.owner();
    const config = await readConfig(paths, name);
    let state = await liveState(paths);
    if (state.status === 'running') {
      if (!opts.force)
        throw new IglooError('ESTATE', `Cannot destroy "${name}": it is running`, {
          op: 'destroy',
          subject: name,
          hint: `Stop it first (igloo stop ${name}), or use --force`,
        });
      state = await this.stop(name, 0);
    }
    await withContainerLock(paths, async () => {
      await runUsernsTask(config.idmap, owner, { kind: 'remove', path: paths.rootfs });
      await removeRunDir(paths);
    });
    await rm(paths.dir, { recursive: true, force: true });
  }

  async list(): Promise<
    Array<{ name: string; config?: ContainerConfig; state: StateFile; error?: string }>
  > {
    const out = [];
    for (const name of await this.names()) {
      const paths = this.paths(name);
      try {
        out.push({ name, config: await readConfig(paths, name), state: await liveState(paths) });
      } catch (err) {
        out.push({
          name,
          state: await readState(paths).catch(() => ({
            version: 1 as const,
            status: 'stopped' as const,
          })),
          error: err instanceof Error ? err.message : String(err),
        });
      }
    }
    return out;
  }
}
