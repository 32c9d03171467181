/**
 * Where a user's containers live (computed in core/layout.ts; this module
 * adds the process's own environment and the checks on use). Root:
 * /var/lib/igloo and /run/igloo. Other users: $XDG_DATA_HOME/igloo
 * (~/.local/share/igloo) and $XDG_RUNTIME_DIR/igloo, or, when there is no
 * runtime directory (no systemd, no pam_systemd), $XDG_CACHE_HOME/igloo/run
 * (~/.cache/igloo/run).
 *
 * Why not /tmp/igloo-run-UID (as before): any user can create that name
 * first, and then every run and start of the victim fails (or, were the
 * checks weaker, uses a directory the squatter controls). No fixed name in
 * a shared directory can be reserved, so the fallback lives in the user's
 * own home, where nobody else can create anything: the choice LXC made
 * (~/.cache/lxc/run) for the same reason. ~/.cache rather than the data
 * directory: what is there is runtime state that may be lost (a monitor's
 * exit file, a console socket, prepared plans checked against init's pid
 * and start time), and the path stays short: the console socket,
 * RUN/NAME/console.sock, must fit sockaddr_un's 108 bytes for clients that
 * connect by path (home /home/anna and a 64-byte name: 105). The helper
 * binds it through the directory's descriptor, so only clients care.
 *
 * Every directory igloo uses is checked on each use (ensurePrivateDir):
 * the caller's, a real directory (lstat: not a link), not writable by
 * group or others.
 */
import { lstat, mkdir } from 'node:fs/promises';
import { IglooError } from '../core/errors.ts';
import { iglooDirsFor, type IglooDirs, type LayoutEnv } from '../core/layout.ts';

export { containerPaths, type ContainerPaths, type IglooDirs } from '../core/layout.ts';

/** This process's directories (core/layout.ts iglooDirsFor() with its environment and euid). */
export function iglooDirs(env: LayoutEnv = process.env, uid = process.geteuid?.() ?? 0): IglooDirs {
  return iglooDirsFor(env, uid);
}

/** Where a nesting container sees igloo's build (bound read-only). */
export const NESTED_IGLOO_DIR = '/usr/local/lib/igloo';

/**
 * mkdir -p with mode 0700 for the directories igloo owns; refuses a path
 * that exists but is a symlink, belongs to someone else, or that group or
 * others may write to (anyone who can rename entries in it can swap the
 * files igloo keeps there).
 */
export async function ensurePrivateDir(path: string): Promise<void> {
  await mkdir(path, { recursive: true, mode: 0o700 });
  const st = await lstat(path);
  const uid = process.geteuid?.() ?? 0;
  const why = !st.isDirectory()
    ? st.isSymbolicLink()
      ? 'it is a symbolic link'
      : 'it is not a directory'
    : st.uid !== uid
      ? `it belongs to uid ${st.uid}, not ${uid}`
      : st.mode & 0o022
        ? `group or others may write to it (mode ${(st.mode & 0o7777).toString(8)})`
        : undefined;
  if (why) {
    throw new IglooError('EPERM', `Cannot use ${path}: ${why}`, {
      op: 'prepare directory',
      path,
      hint:
        st.isDirectory() && st.uid === uid
          ? `chmod 700 ${path}`
          : 'Remove it (or have its owner remove it), or set XDG_RUNTIME_DIR to a private directory',
    });
  }
}
