/**
 * Running a container's processes: start (init in the background, under
 * the helper's monitor), runForeground and runEphemeral (`igloo run`, with
 * the next one-shot run's plan prepared after it), and exec. These are hot
 * paths (docs/benchmarks.md): every file read and await here counts.
 */
import { mkdir, rm } from 'node:fs/promises';
import { IglooError } from '../core/errors.ts';
import type { Limits } from '../core/limits/values.ts';
import { planExec, planStart, type MemoryRootfs } from '../core/plan/plan.ts';
import { hostBusyboxCached } from '../host/busybox-rootfs.ts';
import { uniqueSuffix, withFileLock } from '../host/files.ts';
import { failpoint } from '../host/failpoint.ts';
import { processStartTime } from '../host/proc.ts';
import { loadSeccompProfile } from '../host/seccomp.ts';
import { subidPaths } from '../host/subid.ts';
import { runHelper, type HelperResult } from '../native/spawn.ts';
import { createContainer } from './create.ts';
import { idmappedStartOptions } from './idmapped.ts';
import { attachNetwork, detachNetwork, prepareNetwork, type NetPaths } from './network.ts';
import { consoleLogOption } from './logs.ts';
import { newConfig } from './new-config.ts';
import { ensurePrivateDir } from './paths.ts';
import {
  installPreparedRun,
  preparedPlansOff,
  preparedRunHolds,
  writePreparedExec,
} from './prepared-plans.ts';
import { preparedRunPaths } from '../core/layout.ts';
import { resolveRootfsUser } from './rootfs-user.ts';
import { chooseIdmap } from './slices.ts';
import {
  liveState,
  loadRunnable,
  readConfig,
  readState,
  killUnrecordedInit,
  refuseHalfMade,
  removeRunDir,
  requireRunning,
  withContainerLock,
  writeState,
  type StateFile,
} from './store.ts';
import type { UserContainers } from './user-containers.ts';
import {
  cgroupPlace,
  containerCgroupOf,
  prepareCgroup,
  removeCgroup,
  withFallbackLimits,
} from './limits.ts';

export interface RunResult {
  exitCode: number;
  status: string;
}

/**
 * Starts init in the background. `console: 'null'` gives init /dev/null
 * instead of a pty held by the monitor: no console. Either can be
 * checkpointed (docs/criu.md).
 */
export async function startContainer(
  user: UserContainers,
  name: string,
  opts: { console?: 'pty' | 'null' } = {},
): Promise<StateFile> {
  const paths = user.paths(name);
  await readConfig(paths, name); // a clear error for a missing container, before locking
  return withContainerLock(paths, async () => {
    const config = await readConfig(paths, name);
    refuseHalfMade(paths, name, 'start');
    const state = await liveState(paths);
    if (state.status === 'running') {
      throw new IglooError(
        'ESTATE',
        `Cannot start "${name}": it is running already (init is pid ${state.pid})`,
        { op: 'start', subject: name, hint: `Stop it first: igloo stop ${name}` },
      );
    }
    await ensurePrivateDir(user.dirs.run);
    await removeRunDir(paths);
    await mkdir(paths.rundir, { mode: 0o700 });
    failpoint('start-rundir-made');
    const cgroup = await prepareCgroup(user, name, config);
    const runnable = cgroup
      ? await loadSeccompProfile(config)
      : withFallbackLimits(await loadSeccompProfile(config));
    const net = await netPaths(user, name);
    const plan = planStart(runnable, {
      ...(await idmappedStartOptions(paths)),
      ...(cgroup && { cgroup }),
      mode: 'detached',
      console: opts.console ?? 'pty',
      rundir: paths.rundir,
      network: await prepareNetwork(config, net),
      // igloo logs: the monitor keeps the pty's output in the container's directory.
      ...((opts.console ?? 'pty') === 'pty' && { consoleLog: consoleLogOption(paths) }),
    });
    let running: StateFile | undefined;
    try {
      await runHelper(plan, `start container "${name}"`, {
        onReady: async (pid) => {
          failpoint('start-ready');
          await attachNetwork(config, pid, net);
          running = {
            version: 1,
            status: 'running',
            pid,
            pidStart: (await processStartTime(pid)) ?? 0,
            startedAt: new Date().toISOString(),
          };
          await writeState(paths, running);
          failpoint('start-state-written');
          // A speed-up only (igloo exec without Node): a failure to write it changes nothing.
          await writePreparedExec(paths, runnable, {
            pid,
            start: running.pidStart ?? 0,
            ...(cgroup && { cgroups: cgroup.procs }),
          }).catch(() => undefined);
        },
      });
    } catch (err) {
      await killUnrecordedInit(paths, config.idmap.uid).catch(() => undefined);
      await detachNetwork(config, net).catch(() => undefined);
      await removeRunDir(paths);
      throw err;
    }
    return running!;
  });
}

/** One-shot run of a command in a container, in the foreground, with the caller's stdio. */
export async function runForeground(
  user: UserContainers,
  name: string,
  command: readonly string[],
  opts: { memoryRootfs?: MemoryRootfs; keepState?: boolean; tty?: boolean } = {},
): Promise<RunResult> {
  const paths = user.paths(name);
  const loaded = await loadRunnable(paths, name);
  await ensurePrivateDir(user.dirs.run);
  const cgroup = await prepareCgroup(user, name, loaded);
  const config = cgroup ? loaded : withFallbackLimits(loaded);
  const net = await netPaths(user, name);
  const network = await prepareNetwork(config, net);
  const plan = planStart(config, {
    network,
    ...(cgroup && { cgroup }),
    ...(opts.memoryRootfs && { memoryRootfs: opts.memoryRootfs }),
    ...(await idmappedStartOptions(paths)),
    mode: 'foreground',
    // tty: a pty made in the container; without one the process still
    // gets a session of its own (the helper's setsid), never the
    // caller's terminal as its controlling tty.
    console: opts.tty === true ? 'pty' : 'inherit',
    command,
  });
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
          await attachNetwork(config, pid, net);
          await writeState(paths, {
            version: 1,
            status: 'running',
            pid,
            pidStart: (await processStartTime(pid)) ?? 0,
            startedAt: new Date().toISOString(),
          });
          failpoint('run-state-running');
          ready();
        },
      });
      finished.catch(failed);
    });
  });
  const result = await finished!.finally(() => detachNetwork(config, net));
  const status = result.status ?? `exited ${result.exitCode ?? 1}`;
  failpoint('run-exited');
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

/** What `igloo run` without a name takes: the slice, a pty, limits, the network. */
export interface EphemeralOptions {
  idmap?: string;
  tty?: boolean;
  limits?: Limits;
  net?: string;
  publish?: readonly string[];
}

/**
 * `igloo run` with the built-in image and no name: a container whose
 * busybox system is made in a tmpfs by the helper, with a slice of its own
 * for the run, and nothing on disk to build or remove but its config.
 */
export async function runEphemeral(
  user: UserContainers,
  command: readonly string[],
  opts: EphemeralOptions = {},
): Promise<RunResult> {
  const name = `run-${uniqueSuffix()}`;
  await ensurePrivateDir(user.dirs.run);
  const busybox = await hostBusyboxCached(user.dirs.run);
  await createContainer(user, name, {
    memory: true,
    ...(opts.idmap !== undefined && { idmap: opts.idmap }),
    ...(opts.limits && { limits: opts.limits }),
    ...(opts.net !== undefined && { net: opts.net }),
    ...(opts.publish?.length && { publish: opts.publish }),
  });
  const paths = user.paths(name);
  const memoryRootfs = { busybox: busybox.path, applets: busybox.applets };
  let result;
  try {
    result = await runForeground(user, name, command, {
      memoryRootfs,
      keepState: false, // removed right after
      ...(opts.tty !== undefined && { tty: opts.tty }),
    });
  } finally {
    // Every file is the owner's (config, state, an empty mount point): no user namespace needed.
    await rm(paths.dir, { recursive: true, force: true });
    await removeRunDir(paths);
    await removeCgroup(user, name);
  }
  // A plan for the next run is a speed-up only: a failure to make one changes nothing.
  // A delegated user's runs must be in their cgroup (the ceiling): no plan run without Node.
  if (
    opts.idmap === undefined &&
    !opts.limits &&
    opts.net === undefined &&
    !opts.publish?.length &&
    !(await cgroupPlace(user))?.delegated
  )
    await prepareNextRun(user, memoryRootfs).catch(() => undefined);
  return result;
}

/**
 * Prepares the next one-shot `igloo run -- CMD` (the native front runs it
 * without Node): its plan, with a slice reserved for it, unless a plan
 * that still holds is there. Called after a one-shot run.
 */
async function prepareNextRun(user: UserContainers, busybox: MemoryRootfs): Promise<void> {
  if (preparedPlansOff() || preparedRunHolds(user.dirs)) return;
  await withFileLock(user.containersDir, async () => {
    if (preparedRunHolds(user.dirs)) return;
    const idmap = await chooseIdmap(user, {}, true);
    const rootfs = preparedRunPaths(user.dirs).rootfs;
    const config = withFallbackLimits(
      await loadSeccompProfile(newConfig('run', rootfs, idmap, { kind: 'busybox' }, {})),
    );
    const plan = planStart(config, {
      memoryRootfs: busybox,
      mode: 'foreground',
      console: 'inherit',
      command: ['(command)'],
    });
    const subid = subidPaths();
    const files = new Set([subid.uid, subid.gid, '/etc/subuid', '/etc/subgid', busybox.busybox]);
    await installPreparedRun(user.dirs, plan, idmap, [...files]);
  });
}

/** What the network code needs to know of the container NAME. */
async function netPaths(user: UserContainers, name: string): Promise<NetPaths> {
  return { owner: (await user.owner()).name, container: name, rundir: user.paths(name).rundir };
}

/** Runs ARGV in the running container NAME, joining its init's namespaces. */
export async function execIn(
  user: UserContainers,
  name: string,
  argv: readonly string[],
  opts: { tty?: boolean; user?: string; env?: string[]; cwd?: string } = {},
): Promise<RunResult> {
  if (argv.length === 0)
    throw new IglooError('EINVAL', 'exec: no command given', {
      op: 'exec',
      hint: 'igloo exec NAME -- CMD [ARG...]',
    });
  const paths = user.paths(name);
  const { config, state } = await requireRunning(paths, name);
  const as =
    opts.user === undefined
      ? { uid: 0, gid: 0, groups: [] as number[] }
      : await resolveRootfsUser(paths, config, opts.user, `${name}:/etc/passwd`);
  const env = [
    ...config.env.filter((e) => !(opts.env ?? []).some((o) => o.split('=')[0] === e.split('=')[0])),
    ...(opts.env ?? []),
  ];
  const cg = await containerCgroupOf(user, name);
  const joined = cg && cg.driver.exists(cg.rel);
  const runnable = await loadSeccompProfile(config);
  const plan = planExec(joined ? runnable : withFallbackLimits(runnable), {
    ...(joined && { cgroups: cg.driver.procsFiles(cg.rel) }),
    pid: state.pid,
    argv,
    env,
    cwd: opts.cwd ?? '/',
    user: as,
    tty: opts.tty === true,
    ...(state.pidStart ? { start: state.pidStart } : {}),
  });
  failpoint('exec-planned');
  const result = await runHelper(plan, `exec in "${name}"`);
  return { exitCode: result.exitCode ?? 1, status: result.status ?? 'unknown' };
}
