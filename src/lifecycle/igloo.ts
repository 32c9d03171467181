/**
 * The container lifecycle: create, start, stop, kill, exec, destroy, list.
 * Every operation validates its input before touching a path, holds the
 * container's lock while it changes state, and undoes half-done work.
 *
 *   created --start--> running --(init exits / stop / kill)--> stopped --start--> running
 *   any state but running --destroy--> (gone); running --destroy --force--> (gone)
 *
 * Igloo is the facade the library API and the CLI use; each verb lives in
 * the file of its concern: create.ts (create, images), run.ts (start, run,
 * exec), control.ts (state, kill, stop, destroy, list), slices.ts (id slices).
 */
import type { ContainerConfig } from '../core/config/model.ts';
import type { MemoryRootfs } from '../core/plan/plan.ts';
import type { ImageStore, StoredImage } from '../host/images.ts';
import {
  containerState,
  destroyContainer,
  killContainer,
  listContainers,
  stopContainer,
  type ListedContainer,
} from './control.ts';
import { autostartContainers, type AutostartResult } from './autostart.ts';
import { configEdit, configGet, configSet } from './config-edit.ts';
import { createContainer, imageStore, removeImage } from './create.ts';
import { readRootfsInfo } from './idmapped.ts';
import { followConsoleLog, readConsoleLog } from './logs.ts';
import type { CreateOptions } from './new-config.ts';
import { renameContainer } from './rename.ts';
import type { PullOptions, RegistryOptions } from './pull.ts';
import {
  execIn,
  runEphemeral,
  runForeground,
  startContainer,
  type EphemeralOptions,
  type RunResult,
} from './run.ts';
import type { StateFile } from './store.ts';
import { UserContainers } from './user-containers.ts';
import {
  containerStats,
  freezeContainer,
  limitsSummary,
  setContainerLimits,
  type ContainerStats,
  type LimitTexts,
} from './limits.ts';
import type { Ceiling, Limits } from '../core/limits/values.ts';
import { currentUser, lookupHostUser } from '../host/users.ts';
import {
  delegate,
  listDelegations,
  undelegate,
  type Delegation,
} from '../host/cgroups/delegation.ts';
import { cgroupDriver, type CgroupDriver } from '../host/cgroups/driver.ts';
import { IglooError } from '../core/errors.ts';

export type { CreateOptions } from './new-config.ts';
export type { ContainerStats, LimitTexts } from './limits.ts';
export type { Delegation } from '../host/cgroups/delegation.ts';
export type { Owner } from './user-containers.ts';

export class Igloo extends UserContainers {
  create(name: string, opts: CreateOptions = {}): Promise<ContainerConfig> {
    return createContainer(this, name, opts);
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
  removeImage(name: string): Promise<StoredImage> {
    return removeImage(this, name);
  }

  /** The user's image store. */
  images(): ImageStore {
    return imageStore(this);
  }

  /** `igloo image pull`: an image from an OCI registry, through skopeo, into the store. */
  async pullImage(ref: string, opts: PullOptions = {}): Promise<StoredImage> {
    return (await import('./pull.ts')).pullImage(this, ref, opts);
  }

  /** `igloo image push`: a stored image to an OCI registry, through skopeo. */
  async pushImage(name: string, ref: string, opts: RegistryOptions = {}) {
    return (await import('./pull.ts')).pushImage(this, name, ref, opts);
  }

  state(name: string): Promise<StateFile> {
    return containerState(this, name);
  }

  /**
   * Starts init in the background. `console: 'null'` gives init /dev/null
   * instead of a pty held by the monitor: no console. Either can be
   * checkpointed (docs/criu.md).
   */
  start(name: string, opts: { console?: 'pty' | 'null' } = {}): Promise<StateFile> {
    return startContainer(this, name, opts);
  }

  /** One-shot run of a command in a container, in the foreground, with the caller's stdio. */
  runForeground(
    name: string,
    command: readonly string[],
    opts: { memoryRootfs?: MemoryRootfs; keepState?: boolean; tty?: boolean } = {},
  ): Promise<RunResult> {
    return runForeground(this, name, command, opts);
  }

  /**
   * `igloo run` with the built-in image and no name: a container whose
   * busybox system is made in a tmpfs by the helper, with a slice of its own
   * for the run, and nothing on disk to build or remove but its config.
   */
  runEphemeral(command: readonly string[], opts: EphemeralOptions = {}): Promise<RunResult> {
    return runEphemeral(this, command, opts);
  }

  kill(name: string, signal: string = 'SIGTERM'): Promise<void> {
    return killContainer(this, name, signal);
  }

  /**
   * Asks init to halt with its halt signal, waits up to `timeoutSeconds`, then
   * kills it. Resolves when init is gone and the monitor has recorded its exit.
   */
  stop(name: string, timeoutSeconds = 10): Promise<StateFile> {
    return stopContainer(this, name, timeoutSeconds);
  }

  exec(
    name: string,
    argv: readonly string[],
    opts: { tty?: boolean; user?: string; env?: string[]; cwd?: string } = {},
  ): Promise<RunResult> {
    return execIn(this, name, argv, opts);
  }

  destroy(name: string, opts: { force?: boolean } = {}): Promise<void> {
    return destroyContainer(this, name, opts);
  }

  /** `igloo copy`: a stopped container's config and files, shifted to a new slice. */
  async copy(src: string, dst: string, opts: { idmap?: string } = {}): Promise<ContainerConfig> {
    return (await import('./copy.ts')).copyContainer(this, src, dst, opts);
  }

  /** `igloo snapshot create`: a stopped container's files and config, kept as SNAP. */
  async snapshot(name: string, snap?: string) {
    return (await import('./snapshots.ts')).createSnapshot(this, name, snap);
  }

  async snapshots(name: string) {
    return (await import('./snapshots.ts')).listSnapshots(this, name);
  }

  async restoreSnapshot(name: string, snap: string) {
    return (await import('./snapshots.ts')).restoreSnapshot(this, name, snap);
  }

  async removeSnapshot(name: string, snap: string): Promise<void> {
    return (await import('./snapshots.ts')).removeSnapshot(this, name, snap);
  }

  list(): Promise<ListedContainer[]> {
    return listContainers(this);
  }

  /** The console output the monitor kept (the last `tail` lines); see lifecycle/logs.ts. */
  logs(name: string, opts: { tail?: number } = {}): Promise<Buffer> {
    return readConsoleLog(this, name, opts);
  }

  /** The kept output, then what follows, until the container stops (or `signal` aborts). */
  followLogs(
    name: string,
    write: (bytes: Buffer) => void,
    opts: { tail?: number; signal?: AbortSignal } = {},
  ): Promise<void> {
    return followConsoleLog(this, name, write, opts);
  }

  /** The values of one config key (igloo.*). */
  configGet(name: string, key: string): Promise<string[]> {
    return configGet(this, name, key);
  }

  /** KEY=VALUE replaces every value of KEY; validated before it is written. */
  configSet(name: string, assignment: string): Promise<ContainerConfig> {
    return configSet(this, name, assignment);
  }

  /** EDIT changes a copy of the config (a path); it is validated, then written. */
  configEdit(
    name: string,
    edit: (path: string) => Promise<void>,
  ): Promise<{ config: ContainerConfig; changed: boolean }> {
    return configEdit(this, name, edit);
  }

  /** Renames a container that is not running. */
  rename(oldName: string, newName: string): Promise<ContainerConfig> {
    return renameContainer(this, oldName, newName);
  }

  /** Starts every container marked igloo.autostart that is not running. */
  autostart(onResult?: (r: AutostartResult) => void): Promise<AutostartResult[]> {
    return autostartContainers(this, onResult);
  }

  /**
   * Changes NAME's limits (flag texts; "max" removes one): checked, written
   * to its config under its lock, and to its cgroup at once if it runs.
   */
  setLimits(name: string, texts: LimitTexts): Promise<{ limits: Limits; live: boolean }> {
    return setContainerLimits(this, name, texts);
  }

  /** Usage of NAMES from their cgroups; CPU % over `intervalMs`. */
  stats(names: readonly string[], intervalMs = 200): Promise<ContainerStats[]> {
    return containerStats(this, names, intervalMs);
  }

  /** Freezes every process of NAME (cgroup freezer); resolves once the kernel says frozen. */
  freeze(name: string): Promise<void> {
    return freezeContainer(this, name, true);
  }

  thaw(name: string): Promise<void> {
    return freezeContainer(this, name, false);
  }

  /** What bounds NAME, in words: its cgroup limits and ceiling, or the RLIMIT_NPROC fallback. */
  async limitsSummary(name: string): Promise<string> {
    return limitsSummary(this, await this.config(name));
  }

  /** Root: delegates cgroups to USER with CEILING over all their containers (igloo limit set). */
  async limitUser(user: string, ceiling: Ceiling): Promise<Delegation> {
    const u = await lookupHostUser(user);
    return delegate(await rootDriver('limit set'), u, ceiling);
  }

  /** Users with delegated cgroups and their ceilings. */
  limitList(): Delegation[] {
    return listDelegations();
  }

  /** Root: removes USER's delegation (refused while their containers run). */
  async limitRemove(user: string): Promise<void> {
    await undelegate(await rootDriver('limit rm'), user);
  }
}

async function rootDriver(op: string): Promise<CgroupDriver> {
  if ((await currentUser()).uid !== 0)
    throw new IglooError('EPERM', `Cannot ${op}: only root delegates cgroups`, {
      op,
      hint: `Run it as root: sudo igloo ${op} ...`,
    });
  const driver = cgroupDriver();
  if (!driver)
    throw new IglooError('EHOST', `Cannot ${op}: no cgroup hierarchy with controllers is mounted`, {
      op,
      hint: 'See igloo check',
    });
  return driver;
}
