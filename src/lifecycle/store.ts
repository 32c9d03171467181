/**
 * A container's persisted state: state.json beside its config, always
 * written atomically (temp file + rename) under the container's lock. The
 * live state is derived: a container recorded as running whose init is gone
 * is stopped, with the exit status its monitor wrote. So state.json is not
 * fsync'd (a crash stops the containers too), and these small files are
 * read with synchronous calls: they are on the path of every start, run and
 * exec, where a promise's thread-pool round trip costs more than the read.
 * They are read as files someone else may control (host/untrusted.ts: no
 * link, no FIFO, capped): root reads users' copies of them too.
 */
import { existsSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { CREATING_FILE } from '../core/layout.ts';
import { IglooError } from '../core/errors.ts';
import { parseConfig } from '../core/config/file.ts';
import type { ContainerConfig } from '../core/config/model.ts';
import type { RunnableConfig } from '../core/config/runnable.ts';
import { errnoOf, sysError } from '../host/errno.ts';
import { replaceFileAtomically, withFileLock } from '../host/files.ts';
import { processAlive, processStartTime } from '../host/proc.ts';
import { loadSeccompProfile } from '../host/seccomp.ts';
import { readUntrustedText } from '../host/untrusted.ts';
import type { ContainerPaths } from './paths.ts';

export type ContainerStatus = 'created' | 'running' | 'stopped';

export interface StateFile {
  readonly version: 1;
  readonly status: ContainerStatus;
  /** Host pid of init, and its start time (to tell a reused pid). */
  readonly pid?: number;
  readonly pidStart?: number;
  /** Host pid of the helper that monitors init. */
  readonly monitorPid?: number;
  readonly startedAt?: string;
  /** How init ended last time: "exited 0", "signaled SIGKILL". */
  readonly lastExit?: string;
  readonly stoppedAt?: string;
}

export async function readState(paths: ContainerPaths): Promise<StateFile> {
  try {
    return JSON.parse(readUntrustedText(paths.state, { op: 'read the state' })) as StateFile;
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return { version: 1, status: 'created' };
    throw sysError(err, 'read', paths.state);
  }
}

export async function writeState(paths: ContainerPaths, state: StateFile): Promise<void> {
  await replaceFileAtomically(paths.state, JSON.stringify(state, null, 2) + '\n', {
    mode: 0o600,
    durable: false,
  });
}

/** Reads the exit file the monitor writes when init ends. */
export async function readExitFile(
  paths: ContainerPaths,
): Promise<{ status: string; at?: string } | undefined> {
  try {
    const text = readUntrustedText(paths.exitFile, { op: 'read the exit status', maxBytes: 4096 });
    const [status = '', seconds] = text.split('\n');
    return seconds ? { status, at: new Date(Number(seconds) * 1000).toISOString() } : { status };
  } catch {
    return undefined;
  }
}

/**
 * The init a monitor runs whose start was not recorded: the helper writes
 * RUN/NAME/init ("INIT MONITOR") before READY, so when igloo died between
 * READY and state.json (or the helper between the two), the next command
 * still finds init. Only an init that is alive and the monitor's child counts.
 */
async function unrecordedInit(
  paths: ContainerPaths,
): Promise<{ pid: number; pidStart: number; monitorPid: number } | undefined> {
  let text: string;
  try {
    text = readUntrustedText(join(paths.rundir, 'init'), { op: 'read', maxBytes: 64 });
  } catch {
    return undefined;
  }
  const [pid, monitor] = text.trim().split(' ').map(Number);
  if (!Number.isInteger(pid) || !Number.isInteger(monitor) || pid! <= 0 || monitor! <= 0)
    return undefined;
  const stat = readProcFile(`/proc/${pid}/stat`);
  const ppid = Number(stat?.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  const pidStart = await processStartTime(pid!);
  if (ppid !== monitor || pidStart === undefined || !(await processAlive(monitor!)))
    return undefined;
  return { pid: pid!, pidStart, monitorPid: monitor! };
}

/**
 * After a start failed: kills the init RUN/NAME/init names if it still
 * runs (its helper died after init's exec, before READY: the init has no
 * monitor and no state.json names it). Only a process in a user namespace
 * with the container's uid map is killed.
 */
export async function killUnrecordedInit(
  paths: ContainerPaths,
  uidMap: readonly { inside: number; outside: number; count: number }[],
): Promise<void> {
  let text: string;
  try {
    text = readUntrustedText(join(paths.rundir, 'init'), { op: 'read', maxBytes: 64 });
  } catch {
    return;
  }
  const pid = Number(text.trim().split(' ')[0]);
  if (!Number.isInteger(pid) || pid <= 1) return;
  const map = (readProcFile(`/proc/${pid}/uid_map`) ?? '')
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/).map(Number));
  const same =
    map.length === uidMap.length &&
    map.every(([inside, outside, count]) =>
      uidMap.some((m) => m.inside === inside && m.outside === outside && m.count === count),
    );
  if (!same) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone already
  }
}

function readProcFile(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** The state as it is now: "running" only while the recorded init is alive. */
export async function liveState(paths: ContainerPaths): Promise<StateFile> {
  const state = await readState(paths);
  if (state.status !== 'running' || state.pid === undefined) {
    const init = await unrecordedInit(paths);
    return init ? { version: 1, status: 'running', ...init } : state;
  }
  if (await processAlive(state.pid, state.pidStart)) return state;
  const init = await unrecordedInit(paths);
  if (init) return { version: 1, status: 'running', ...init };
  const exit = await readExitFile(paths);
  return {
    version: 1,
    status: 'stopped',
    ...(state.startedAt !== undefined && { startedAt: state.startedAt }),
    lastExit: exit?.status ?? 'unknown (no exit status was recorded)',
    ...(exit?.at !== undefined && { stoppedAt: exit.at }),
  };
}

export async function readConfig(paths: ContainerPaths, name: string): Promise<ContainerConfig> {
  let text: string;
  try {
    text = readUntrustedText(paths.config, { op: 'read the config' });
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') {
      refuseHalfMade(paths, name, 'read the config of');
      throw new IglooError('ENOENT', `No container named "${name}"`, {
        op: 'find container',
        path: paths.dir,
        subject: name,
        hint: 'See your containers with: igloo ls',
      });
    }
    throw sysError(err, 'read', paths.config);
  }
  return parseConfig(text, { path: paths.config });
}

/**
 * The container's config ready to plan (core/config/runnable.ts): read,
 * with the OCI seccomp profile it names loaded. Every start, run and exec
 * plans from this.
 */
export function loadRunnable(paths: ContainerPaths, name: string): Promise<RunnableConfig> {
  return readConfig(paths, name).then(loadSeccompProfile);
}

/** The container's config and state, refused unless its init is running. */
export async function requireRunning(
  paths: ContainerPaths,
  name: string,
): Promise<{ config: ContainerConfig; state: StateFile & { pid: number } }> {
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

/**
 * A container whose create did not finish: its directory holds the
 * creating mark. `creator` is the pid that is making it, while it lives;
 * undefined: the create crashed and left it half-made (igloo destroy
 * removes it).
 */
export function halfMade(paths: ContainerPaths): { creator?: number } | undefined {
  let text: string;
  try {
    text = readUntrustedText(join(paths.dir, CREATING_FILE), { op: 'read', maxBytes: 64 });
  } catch (err) {
    return errnoOf(err) === 'ENOENT' ? undefined : {};
  }
  const pid = Number(text.trim());
  let alive = false;
  try {
    process.kill(pid, 0);
    alive = Number.isInteger(pid) && pid > 0;
  } catch (err) {
    alive = errnoOf(err) === 'EPERM';
  }
  return alive ? { creator: pid } : {};
}

/** Refuses OP on a container whose create has not finished (or crashed), naming the fix. */
export function refuseHalfMade(paths: ContainerPaths, name: string, op: string): void {
  const half = halfMade(paths);
  if (!half) return;
  throw new IglooError(
    'ESTATE',
    half.creator !== undefined
      ? `Cannot ${op} "${name}": it is being created (by pid ${half.creator})`
      : `Cannot ${op} "${name}": it is half-made (its create was interrupted)`,
    {
      op,
      subject: name,
      path: join(paths.dir, CREATING_FILE),
      hint:
        half.creator !== undefined
          ? 'Wait for the create to finish'
          : `Remove it and create it again: igloo destroy ${name}`,
    },
  );
}

/** Runs fn holding the container's lock (state.lock). */
export function withContainerLock<T>(paths: ContainerPaths, fn: () => Promise<T>): Promise<T> {
  return withFileLock(paths.state, fn, { timeoutMs: 30_000 }).catch((err: unknown) => {
    // Destroyed while we waited for its lock: say so, not that the lock failed.
    if (err instanceof IglooError && err.op === 'lock' && !existsSync(paths.dir))
      throw new IglooError('ENOENT', `No container named "${basename(paths.dir)}"`, {
        op: 'find container',
        path: paths.dir,
        subject: basename(paths.dir),
        hint: 'It was destroyed meanwhile; see your containers with: igloo ls',
      });
    throw err;
  });
}

export async function removeRunDir(paths: ContainerPaths): Promise<void> {
  await rm(paths.rundir, { recursive: true, force: true });
}
