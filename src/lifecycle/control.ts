/**
 * Controlling containers that exist: their state, signals (kill), halting
 * (stop), removal (destroy) and the list of them all.
 */
import { readFile, rm, stat } from 'node:fs/promises';
import type { ContainerConfig } from '../core/config/model.ts';
import { IglooError } from '../core/errors.ts';
import { errnoOf, sysError } from '../host/errno.ts';
import { failpoint } from '../host/failpoint.ts';
import {
  halfMade,
  liveState,
  readConfig,
  readState,
  refuseHalfMade,
  removeRunDir,
  requireRunning,
  withContainerLock,
  writeState,
  type StateFile,
} from './store.ts';
import { removeCgroup } from './limits.ts';
import type { UserContainers } from './user-containers.ts';
import { detachNetwork } from './network.ts';
import type { ContainerPaths } from './paths.ts';

export interface ListedContainer {
  name: string;
  config?: ContainerConfig;
  state: StateFile;
  error?: string;
}

export async function containerState(user: UserContainers, name: string): Promise<StateFile> {
  const paths = user.paths(name);
  await readConfig(paths, name); // ENOENT with a clear message if there is no such container
  refuseHalfMade(paths, name, 'read the state of');
  return liveState(paths);
}

export async function killContainer(
  user: UserContainers,
  name: string,
  signal: string = 'SIGTERM',
): Promise<void> {
  const { state } = await requireRunning(user.paths(name), name);
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
export async function stopContainer(
  user: UserContainers,
  name: string,
  timeoutSeconds = 10,
): Promise<StateFile> {
  const paths = user.paths(name);
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
  failpoint('stop-signaled');
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
  failpoint('stop-exited');
  // Init is gone: whatever its network left goes too (issue 14).
  await detachNetwork(config, {
    owner: (await user.owner()).name,
    container: name,
    rundir: paths.rundir,
  });
  return withContainerLock(paths, async () => {
    const now = await liveState(paths);
    await writeState(paths, now);
    return now;
  });
}

export async function destroyContainer(
  user: UserContainers,
  name: string,
  opts: { force?: boolean } = {},
): Promise<void> {
  const paths = user.paths(name);
  const owner = await user.owner();
  const half = halfMade(paths);
  if (half?.creator !== undefined) refuseHalfMade(paths, name, 'destroy');
  if (half && !(await stat(paths.config).catch(() => undefined))) {
    // A create that crashed before its config: nothing of the container's ids to remove.
    await rm(paths.dir, { recursive: true, force: true });
    return;
  }
  const config = await readConfig(paths, name);
  const state = await liveState(paths);
  if (state.status === 'running') {
    if (!opts.force)
      throw new IglooError('ESTATE', `Cannot destroy "${name}": it is running`, {
        op: 'destroy',
        subject: name,
        hint: `Stop it first (igloo stop ${name}), or use --force`,
      });
    await stopContainer(user, name, 0);
  } else {
    // Init ended by itself (or its monitor was killed): make sure nothing of its network is left.
    await detachNetwork(config, { owner: owner.name, container: name, rundir: paths.rundir });
  }
  // The module (and the tar code it pulls in) is loaded only when a rootfs is removed.
  const { runUsernsTask } = await import('./userns-task.ts');
  await withContainerLock(paths, async () => {
    // A start may have won the lock since the check above (races.test.ts).
    const now = await liveState(paths);
    if (now.status === 'running')
      throw new IglooError('ESTATE', `Cannot destroy "${name}": it was started meanwhile`, {
        op: 'destroy',
        subject: name,
        hint: `Stop it first (igloo stop ${name}), then destroy it`,
      });
    await runUsernsTask(config.idmap, owner, { kind: 'remove', path: paths.rootfs });
    failpoint('destroy-rootfs-removed');
    // Snapshots hold the container's files too: removed in its namespace, as the rootfs.
    await (await import('./snapshots.ts')).removeAllSnapshots(user, paths, config.idmap);
    await removeRunDir(paths);
    await removeCgroup(user, name);
    failpoint('destroy-rundir-removed');
  });
  await rm(paths.dir, { recursive: true, force: true });
}

/** How a container whose config cannot be read is listed: its recorded state and the error. */
export async function unreadableListed(
  paths: ContainerPaths,
  name: string,
  err: unknown,
): Promise<ListedContainer> {
  return {
    name,
    state: await readState(paths).catch(() => ({
      version: 1 as const,
      status: 'stopped' as const,
    })),
    error: err instanceof Error ? err.message : String(err),
  };
}

export async function listContainers(user: UserContainers): Promise<ListedContainer[]> {
  const out: ListedContainer[] = [];
  for (const name of await user.names()) {
    const paths = user.paths(name);
    const half = halfMade(paths);
    if (half) {
      out.push({
        name,
        state: { version: 1, status: 'created' },
        error:
          half.creator !== undefined
            ? `being created (by pid ${half.creator})`
            : `half-made: its create was interrupted (igloo destroy ${name})`,
      });
      continue;
    }
    try {
      out.push({ name, config: await readConfig(paths, name), state: await liveState(paths) });
    } catch (err) {
      out.push(await unreadableListed(paths, name, err));
    }
  }
  return out;
}
