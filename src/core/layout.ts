/**
 * Where igloo keeps things, computed from the uid and the environment only
 * (pure: no file is looked at). Every TypeScript caller that needs a path
 * under igloo's directories gets it here; src/native/front.c carries the one
 * copy of iglooDirsFor() the native front needs, checked against this one.
 *
 *   DATA  root: /var/lib/igloo; others: $XDG_DATA_HOME/igloo (~/.local/share/igloo)
 *   RUN   root: /run/igloo; others: $XDG_RUNTIME_DIR/igloo, else
 *         $XDG_CACHE_HOME/igloo/run (~/.cache/igloo/run)
 *         (IGLOO_DATA_DIR and IGLOO_RUN_DIR, both set, replace the two)
 *
 *   DATA/containers/NAME/{config,state.json,rootfs}
 *   DATA/images/
 *   DATA/prepared/run/{plan,lock,rootfs}      the one-shot slot (igloo run)
 *   RUN/NAME/{exit,console.sock,prepared-exec,prepared-exec-tty}
 *   /etc/subuid, /etc/subgid                  (IGLOO_SUBUID, IGLOO_SUBGID)
 *
 * Why the run directory falls back to the home and not to /tmp, and why
 * every directory is checked on use: src/lifecycle/paths.ts.
 *
 * Import-light on purpose (`igloo ps` loads it): node:path and the name
 * rule, nothing else.
 */
import { join } from 'node:path';
import { validateName } from './config/name.ts';

/** The variables the layout reads (a process environment fits). */
export interface LayoutEnv {
  readonly IGLOO_DATA_DIR?: string;
  readonly IGLOO_RUN_DIR?: string;
  readonly HOME?: string;
  readonly XDG_DATA_HOME?: string;
  readonly XDG_RUNTIME_DIR?: string;
  readonly XDG_CACHE_HOME?: string;
  readonly IGLOO_SUBUID?: string;
  readonly IGLOO_SUBGID?: string;
}

export interface IglooDirs {
  readonly data: string;
  readonly run: string;
}

const ROOT_DIRS: IglooDirs = { data: '/var/lib/igloo', run: '/run/igloo' };

/** The data and run directories of the user `uid` whose environment is `env`. */
export function iglooDirsFor(env: LayoutEnv, uid: number): IglooDirs {
  if (env.IGLOO_DATA_DIR && env.IGLOO_RUN_DIR)
    return { data: env.IGLOO_DATA_DIR, run: env.IGLOO_RUN_DIR };
  if (uid === 0) return ROOT_DIRS;
  const home = env.HOME ?? '/';
  const data = join(env.XDG_DATA_HOME || join(home, '.local/share'), 'igloo');
  const run = env.XDG_RUNTIME_DIR
    ? join(env.XDG_RUNTIME_DIR, 'igloo')
    : join(env.XDG_CACHE_HOME || join(home, '.cache'), 'igloo', 'run');
  return { data, run };
}

/**
 * The directories igloo uses for another user by default: what
 * iglooDirsFor() gives with their home and no XDG_* or IGLOO_* variables
 * (which root cannot know). `igloo ps -a` and `igloo audit --user` look there.
 * A home that is not an absolute path (an empty passwd field) counts as "/",
 * as the native front counts it: never a path relative to the caller's cwd.
 */
export function defaultDirsOf(user: { readonly uid: number; readonly home: string }): IglooDirs {
  return iglooDirsFor({ HOME: user.home.startsWith('/') ? user.home : '/' }, user.uid);
}

/** DATA/containers: one directory per container. */
export const containersDir = (data: string): string => join(data, 'containers');

/** DATA/images: the stored images. */
export const imagesDir = (data: string): string => join(data, 'images');

/** A container's files in DATA/containers/NAME, for walks that open them by descriptor. */
export const CONFIG_FILE = 'config';
export const STATE_FILE = 'state.json';
export const ROOTFS_DIR = 'rootfs';
/** In a container directory while `igloo create` makes it: the creating pid (a crash leaves it). */
export const CREATING_FILE = '.creating';

export interface ContainerPaths {
  readonly dir: string;
  readonly config: string;
  readonly state: string;
  readonly rootfs: string;
  readonly rundir: string;
  readonly exitFile: string;
  readonly consoleSocket: string;
}

/** The paths of a container; the name is validated before any path is made. */
export function containerPaths(dirs: IglooDirs, name: string): ContainerPaths {
  validateName(name);
  const dir = join(containersDir(dirs.data), name);
  const rundir = join(dirs.run, name);
  return {
    dir,
    config: join(dir, CONFIG_FILE),
    state: join(dir, STATE_FILE),
    rootfs: join(dir, ROOTFS_DIR),
    rundir,
    exitFile: join(rundir, 'exit'),
    consoleSocket: join(rundir, 'console.sock'),
  };
}

/** RUN/NAME/prepared-exec (or -tty): the plan the native front runs `igloo exec` from. */
export const preparedExecPath = (rundir: string, tty: boolean): string =>
  join(rundir, tty ? 'prepared-exec-tty' : 'prepared-exec');

export interface PreparedRunPaths {
  readonly dir: string;
  readonly plan: string;
  readonly lock: string;
  readonly rootfs: string;
}

/** DATA/prepared/run: the one-shot slot `igloo run` uses while no other run holds it. */
export function preparedRunPaths(dirs: IglooDirs): PreparedRunPaths {
  const dir = join(dirs.data, 'prepared', 'run');
  return {
    dir,
    plan: join(dir, 'plan'),
    lock: join(dir, 'lock'),
    rootfs: join(dir, 'rootfs'),
  };
}

/**
 * How to reach DATA/containers without following a link the owner made:
 * open `top` (a path the host trusts) and walk `rel` below it, refusing any
 * link. `top` is the owner's home when DATA lies below it (everything there
 * is the owner's), else DATA itself (root's /var/lib/igloo, an
 * IGLOO_DATA_DIR elsewhere); a home of "/" or a relative one is no home.
 */
export function containersWalk(
  data: string,
  home: string | undefined,
): { readonly top: string; readonly rel: string } {
  const inHome =
    home !== undefined && home.startsWith('/') && home !== '/' && data.startsWith(`${home}/`);
  return inHome
    ? { top: home, rel: containersDir(data.slice(home.length + 1)) }
    : { top: data, rel: 'containers' };
}

export interface SubidPaths {
  readonly uid: string;
  readonly gid: string;
}

/**
 * The subordinate id files igloo reads: /etc/subuid and /etc/subgid, or the
 * copies IGLOO_SUBUID and IGLOO_SUBGID name (tests, or an admin preparing
 * files for another machine); newuidmap itself always reads /etc/subuid
 * and /etc/subgid.
 */
export function subidPathsFor(env: LayoutEnv): SubidPaths {
  return { uid: env.IGLOO_SUBUID ?? '/etc/subuid', gid: env.IGLOO_SUBGID ?? '/etc/subgid' };
}
