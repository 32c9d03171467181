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
import { rm } from 'node:fs/promises';
import { IglooError } from '../core/errors.ts';
import { parseConfig } from '../core/config/file.ts';
import type { ContainerConfig } from '../core/config/model.ts';
import type { RunnableConfig } from '../core/config/runnable.ts';
import { errnoOf, sysError } from '../host/errno.ts';
import { replaceFileAtomically, withFileLock } from '../host/files.ts';
import { processAlive } from '../host/proc.ts';
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

/** The state as it is now: "running" only while the recorded init is alive. */
export async function liveState(paths: ContainerPaths): Promise<StateFile> {
  const state = await readState(paths);
  if (state.status !== 'running' || state.pid === undefined) return state;
  if (await processAlive(state.pid, state.pidStart)) return state;
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

/** Runs fn holding the container's lock (state.lock). */
export function withContainerLock<T>(paths: ContainerPaths, fn: () => Promise<T>): Promise<T> {
  return withFileLock(paths.state, fn, { timeoutMs: 30_000 });
}

export async function removeRunDir(paths: ContainerPaths): Promise<void> {
  await rm(paths.rundir, { recursive: true, force: true });
}
