/**
 * Where a user's containers live. Root: /var/lib/igloo and /run/igloo. Other
 * users: $XDG_DATA_HOME/igloo (~/.local/share/igloo) and
 * $XDG_RUNTIME_DIR/igloo, or /tmp/igloo-run-<uid> when there is no runtime
 * directory (no systemd here), created 0700 and checked to be ours.
 */
import { lstat, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { IglooError } from '../core/errors.ts';
import { validateName } from '../core/config/name.ts';

export interface IglooDirs {
  readonly data: string;
  readonly run: string;
}

export function iglooDirs(
  env: NodeJS.ProcessEnv = process.env,
  uid = process.geteuid?.() ?? 0,
): IglooDirs {
  if (env.IGLOO_DATA_DIR && env.IGLOO_RUN_DIR)
    return { data: env.IGLOO_DATA_DIR, run: env.IGLOO_RUN_DIR };
  if (uid === 0) return { data: '/var/lib/igloo', run: '/run/igloo' };
  const home = env.HOME ?? '/';
  const data = join(env.XDG_DATA_HOME || join(home, '.local/share'), 'igloo');
  const run = env.XDG_RUNTIME_DIR ? join(env.XDG_RUNTIME_DIR, 'igloo') : `/tmp/igloo-run-${uid}`;
  return { data, run };
}

/** Where a nesting container sees igloo's build (bound read-only). */
export const NESTED_IGLOO_DIR = '/usr/local/lib/igloo';

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
  const dir = join(dirs.data, 'containers', name);
  const rundir = join(dirs.run, name);
  return {
    dir,
    config: join(dir, 'config'),
    state: join(dir, 'state.json'),
    rootfs: join(dir, 'rootfs'),
    rundir,
    exitFile: join(rundir, 'exit'),
    consoleSocket: join(rundir, 'console.sock'),
  };
}

/**
 * mkdir -p with mode 0700 for the directories igloo owns; refuses a path
 * that exists but belongs to someone else or is a symlink (a shared /tmp).
 */
export async function ensurePrivateDir(path: string): Promise<void> {
  await mkdir(path, { recursive: true, mode: 0o700 });
  const st = await lstat(path);
  const uid = process.geteuid?.() ?? 0;
  if (!st.isDirectory() || st.uid !== uid) {
    throw new IglooError('EPERM', `Cannot use ${path}: it is not a directory owned by uid ${uid}`, {
      op: 'prepare directory',
      path,
      hint: 'Remove it, or set XDG_RUNTIME_DIR to a private directory',
    });
  }
}
