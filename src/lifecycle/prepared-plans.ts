/**
 * The files of prepared plans (src/core/plan/prepared.ts), which the `igloo`
 * command's native front runs without starting Node:
 *
 *   RUN/NAME/prepared-exec, prepared-exec-tty   written at start, gone with the run directory
 *   DATA/prepared/run/plan                      the next one-shot run's plan, with its slice
 *   DATA/prepared/run/lock                      flock(2)ed by the run that uses the slice
 *   DATA/prepared/run/rootfs                    the empty mount point of its memory rootfs
 *
 * The one-shot slot's slice is reserved while its plan file exists (create
 * counts it as taken). The plan is replaced or removed only under the lock,
 * with util-linux flock(1) (Node has no flock), so no run is using the slice
 * when it changes hands. IGLOO_PREPARED=0 turns all of this off.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync, unlinkSync } from 'node:fs';
import type { RunnableConfig } from '../core/config/runnable.ts';
import type { IdMaps } from '../core/idmap/index.ts';
import type { LaunchPlan } from '../core/plan/plan.ts';
import {
  SELF_EXE,
  formatPrepared,
  parsePreparedHeader,
  sameStamp,
  type FileStamp,
  type PreparedHeader,
} from '../core/plan/prepared.ts';
import { planExec } from '../core/plan/plan.ts';
import { replaceFileAtomically, uniqueSuffix } from '../host/files.ts';
import { helperPath } from '../host/install.ts';
import type { ContainerPaths, IglooDirs } from './paths.ts';
import { preparedExecPath, preparedRunPaths } from '../core/layout.ts';

/** IGLOO_PREPARED=0: neither write nor use prepared plans. */
export function preparedPlansOff(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.IGLOO_PREPARED === '0';
}

/** stat(2) of PATH as a stamp, recorded under the name AS (SELF_EXE for the helper). */
export function stampOf(path: string, as = path): FileStamp {
  const st = statSync(path, { bigint: true });
  return { path: as, ino: st.ino, size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs };
}

function stampHolds(stamp: FileStamp): boolean {
  try {
    const path = stamp.path === SELF_EXE ? helperPath() : stamp.path;
    return sameStamp(stampOf(path, stamp.path), stamp);
  } catch {
    return false;
  }
}

/** The helper this process would run: a prepared plan is for it only. */
function helperStamp(): FileStamp {
  return stampOf(helperPath(), SELF_EXE);
}

/**
 * Writes the container's exec plans (without and with a pty), for
 * `igloo exec NAME [-t|-T] -- CMD` as TypeScript would run it: as root of
 * the container, in /, with the container's environment. The front picks
 * the pty one as the CLI would (-t, or neither flag and stdin and stdout
 * are terminals).
 */
export async function writePreparedExec(
  paths: ContainerPaths,
  config: RunnableConfig,
  init: { pid: number; start: number; cgroups?: readonly string[] },
): Promise<void> {
  if (preparedPlansOff() || init.start === 0) return;
  const header: PreparedHeader = { kind: 'exec', init, stamps: [helperStamp()] };
  for (const tty of [false, true]) {
    const plan = planExec(config, {
      pid: init.pid,
      start: init.start,
      argv: ['(command)'],
      env: config.env,
      cwd: '/',
      user: { uid: 0, gid: 0, groups: [] },
      tty,
      ...(init.cgroups && { cgroups: init.cgroups }),
    });
    await replaceFileAtomically(preparedExecPath(paths.rundir, tty), formatPrepared(header, plan), {
      mode: 0o600,
      durable: false,
    });
  }
}

/** The prepared run's header, or undefined when there is none (or it is unreadable). */
function readRunHeader(dirs: IglooDirs): PreparedHeader | undefined {
  try {
    return parsePreparedHeader(readFileSync(preparedRunPaths(dirs).plan, 'latin1'));
  } catch {
    return undefined;
  }
}

/** The ids the one-shot slot holds (taken for create), while its plan exists. */
export function preparedRunReservation(dirs: IglooDirs): IdMaps | undefined {
  return readRunHeader(dirs)?.reserve;
}

/** Whether the prepared run plan is there and would be used as it is. */
export function preparedRunHolds(dirs: IglooDirs): boolean {
  const header = readRunHeader(dirs);
  return header !== undefined && header.kind === 'run' && header.stamps.every(stampHolds);
}

/** Runs COMMAND under flock -n on the slot's lock: false if a run holds it. */
function underSlotLock(dirs: IglooDirs, command: readonly string[]): Promise<boolean> {
  const BUSY = 75;
  return new Promise((resolve, reject) => {
    execFile(
      'flock',
      ['-n', '-E', String(BUSY), preparedRunPaths(dirs).lock, ...command],
      (err, _stdout, stderr) => {
        if (!err) return resolve(true);
        if ((err as { code?: unknown }).code === BUSY) return resolve(false);
        reject(new Error(`flock ${command.join(' ')}: ${stderr.trim() || err.message}`));
      },
    );
  });
}

/**
 * Installs PLAN as the next one-shot run's, reserving `reserve` for it and
 * recording the host files it depends on. False when a run holds the slot
 * right now (the plan is then left as it was).
 */
export async function installPreparedRun(
  dirs: IglooDirs,
  plan: LaunchPlan,
  reserve: IdMaps,
  dependsOn: readonly string[],
): Promise<boolean> {
  const p = preparedRunPaths(dirs);
  mkdirSync(p.dir, { recursive: true, mode: 0o700 });
  mkdirSync(p.rootfs, { recursive: true, mode: 0o755 });
  const text = formatPrepared(
    { kind: 'run', reserve, stamps: [helperStamp(), ...dependsOn.map((f) => stampOf(f))] },
    plan,
  );
  const tmp = `${p.plan}.igloo-${uniqueSuffix()}`;
  writeFileSync(tmp, text, { mode: 0o600, flag: 'wx' });
  try {
    return await underSlotLock(dirs, ['mv', '-f', tmp, p.plan]);
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // moved into place
    }
  }
}

/** Removes the prepared run, freeing its slice. False when a run holds the slot right now. */
export async function dropPreparedRun(dirs: IglooDirs): Promise<boolean> {
  if (readRunHeader(dirs) === undefined) return true;
  return underSlotLock(dirs, ['rm', '-f', preparedRunPaths(dirs).plan]);
}
