/**
 * Files written the way shadow-utils writes /etc/passwd and /etc/subuid:
 * under `<path>.lock` (taken with link(2), stale locks of dead processes
 * broken), the new text written to a temporary file beside the target,
 * fsync'd, given the old file's owner and mode, renamed into place, and the
 * directory fsync'd. A reader never sees half a file; a crash leaves either
 * the old or the new text.
 */
import {
  chmodSync,
  chownSync,
  constants,
  linkSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { chown, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { IglooError } from '../core/errors.ts';
import { errnoOf, sysError } from './errno.ts';

/** Reads a text file; a missing file reads as empty text. */
export async function readTextOrEmpty(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return '';
    throw sysError(err, 'read', path);
  }
}

/**
 * A name no other process or call uses: the pid, the time and a counter
 * (node:crypto would cost every command ~10 ms of start-up for this).
 */
let uniqueCounter = 0;
export function uniqueSuffix(): string {
  return `${process.pid}-${Date.now().toString(36)}-${(uniqueCounter++).toString(36)}`;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoOf(err) !== 'ESRCH';
  }
}

export interface LockOptions {
  /** How long to wait for another holder, like lckpwdf's 15 s. */
  timeoutMs?: number;
}

/**
 * Takes `<path>.lock` with the shadow-utils protocol (write our pid to a
 * unique file, link it to the lock name: link is atomic and fails if the lock
 * exists), runs fn, and releases the lock even if fn throws.
 */
export async function withFileLock<T>(
  path: string,
  fn: () => Promise<T>,
  opts: LockOptions = {},
): Promise<T> {
  const lockPath = `${path}.lock`;
  const mine = `${path}.${uniqueSuffix()}`;
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  // Synchronous calls: each is a few microseconds, where a promise costs a
  // round trip through the thread pool (this lock is on every start and run).
  try {
    writeFileSync(mine, `${process.pid}`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    throw sysError(err, 'lock', mine, 'Check that the directory is writable (are you root?)');
  }
  try {
    for (let delay = 5; ; delay = Math.min(delay * 2, 200)) {
      try {
        linkSync(mine, lockPath);
        break;
      } catch (err) {
        if (errnoOf(err) !== 'EEXIST') throw sysError(err, 'lock', lockPath);
      }
      const holder = Number((await readTextOrEmpty(lockPath)).trim());
      if (Number.isInteger(holder) && holder > 0 && !processAlive(holder)) {
        // A lock left by a dead process: break it, as shadow-utils does.
        await unlink(lockPath).catch(() => undefined);
        continue;
      }
      if (Date.now() > deadline) {
        throw new IglooError('EBUSY', `Cannot lock ${path}: ${lockPath} is held by pid ${holder}`, {
          op: 'lock',
          path: lockPath,
          hint: 'Wait for the other command (usermod, igloo) to finish, or remove the lock file if that process is gone',
        });
      }
      await sleep(delay + Math.floor(Math.random() * delay));
    }
  } finally {
    unlinkQuietly(mine);
  }
  try {
    return await fn();
  } finally {
    unlinkQuietly(lockPath);
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // gone already
  }
}

/**
 * Replaces the file's contents atomically, keeping its owner and mode.
 * `durable: false` skips the two fsyncs, for files that are re-derived after
 * a crash anyway (a container's state.json): readers still never see half a
 * file, but a crash may bring back the previous text.
 */
export async function replaceFileAtomically(
  path: string,
  text: string,
  defaults: { mode: number; durable?: boolean } = { mode: 0o644 },
): Promise<void> {
  const tmp = `${path}.igloo-${uniqueSuffix()}`;
  const durable = defaults.durable ?? true;
  if (!durable) return replaceQuickly(path, tmp, text, defaults.mode);
  const old = await stat(path).catch(() => undefined);
  try {
    const fh = await open(
      tmp,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL,
      old?.mode ?? defaults.mode,
    );
    try {
      await fh.writeFile(text);
      await fh.chmod((old?.mode ?? defaults.mode) & 0o7777);
      if (old) await chown(tmp, old.uid, old.gid);
      if (durable) await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw sysError(err, 'write', path);
  }
  if (!durable) return;
  const dir = await open(dirname(path), constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/** replaceFileAtomically without fsync, in synchronous calls (microseconds each). */
function replaceQuickly(path: string, tmp: string, text: string, mode: number): void {
  try {
    let old: { mode: number; uid: number; gid: number } | undefined;
    try {
      old = statSync(path);
    } catch {
      old = undefined;
    }
    writeFileSync(tmp, text, { mode: old?.mode ?? mode, flag: 'wx' });
    chmodSync(tmp, (old?.mode ?? mode) & 0o7777);
    if (old) chownSync(tmp, old.uid, old.gid);
    renameSync(tmp, path);
  } catch (err) {
    unlinkQuietly(tmp);
    throw sysError(err, 'write', path);
  }
}
