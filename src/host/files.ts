/**
 * Files written the way shadow-utils writes /etc/passwd and /etc/subuid:
 * under `<path>.lock` (taken with link(2), stale locks of dead processes
 * broken), the new text written to a temporary file beside the target,
 * fsync'd, given the old file's owner and mode, renamed into place, and the
 * directory fsync'd. A reader never sees half a file; a crash leaves either
 * the old or the new text.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { chown, link, open, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
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
  const mine = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  try {
    await writeFile(mine, `${process.pid}`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    throw sysError(err, 'lock', mine, 'Check that the directory is writable (are you root?)');
  }
  try {
    for (let delay = 5; ; delay = Math.min(delay * 2, 200)) {
      try {
        await link(mine, lockPath);
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
    await unlink(mine).catch(() => undefined);
  }
  try {
    return await fn();
  } finally {
    await unlink(lockPath).catch(() => undefined);
  }
}

/** Replaces the file's contents atomically, keeping its owner and mode. */
export async function replaceFileAtomically(
  path: string,
  text: string,
  defaults: { mode: number } = { mode: 0o644 },
): Promise<void> {
  const old = await stat(path).catch(() => undefined);
  const tmp = `${path}.igloo-${process.pid}-${randomBytes(4).toString('hex')}`;
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
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw sysError(err, 'write', path);
  }
  const dir = await open(dirname(path), constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
