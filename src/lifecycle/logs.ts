/**
 * `igloo logs`: the console output a container's monitor keeps (the
 * helper's `consolelog` record, src/native/console.c) in
 * DATA/containers/NAME/console.log, and the one before it, console.log.1
 * (at most 2 x CONSOLE_LOG_MAX bytes on disk). Both outlive the run: they
 * are read after the container stopped, and a new start appends.
 *
 * Only a container started with a pty console has a log: `start --console
 * null` gives init /dev/null, so there is nothing to keep (readConsoleLog
 * says so). A container restored by CRIU (igloo restore) gets a new
 * console from the helper's `restore` mode, which keeps no log: its
 * output is kept again from its next start. The log is the container's output, hostile to a terminal:
 * the CLI neutralises control sequences before they reach one
 * (cli/commands/logs.ts).
 *
 * Following (-f) waits on inotify (fs.watch) for the log's directory and
 * the run directory (where the monitor writes `exit`), with a one-second
 * check of init as a backstop, and ends when the container has stopped.
 */
import { constants, watch, type FSWatcher } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { IglooError } from '../core/errors.ts';
import { errnoOf, sysError } from '../host/errno.ts';
import type { ContainerPaths } from './paths.ts';
import { liveState, readConfig } from './store.ts';
import type { UserContainers } from './user-containers.ts';

/** A log file becomes console.log.1 when a write would take it past this. */
export const CONSOLE_LOG_MAX = 1024 * 1024;

/** The options of the helper's `consolelog` record for this container. */
export function consoleLogOption(paths: ContainerPaths): { dir: string; maxBytes: number } {
  return { dir: paths.dir, maxBytes: CONSOLE_LOG_MAX };
}

/** The log files, oldest first. */
export function consoleLogFiles(paths: ContainerPaths): [string, string] {
  return [join(paths.dir, 'console.log.1'), join(paths.dir, 'console.log')];
}

/** Opens a log file as the monitor wrote it: no link, no FIFO, a regular file; undefined if missing. */
async function openLog(path: string): Promise<FileHandle | undefined> {
  let fh: FileHandle;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return undefined;
    throw sysError(err, 'open', path);
  }
  if (!(await fh.stat()).isFile()) {
    await fh.close();
    throw new IglooError('EPERM', `Cannot read ${path}: it is not a regular file`, {
      op: 'logs',
      path,
      hint: 'Remove it; the monitor makes a new one at the next start',
    });
  }
  return fh;
}

async function readRest(fh: FileHandle, from: number): Promise<{ bytes: Buffer; end: number }> {
  const chunks: Buffer[] = [];
  let pos = from;
  for (;;) {
    const buf = Buffer.alloc(64 * 1024);
    const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
    if (bytesRead === 0) break;
    chunks.push(buf.subarray(0, bytesRead));
    pos += bytesRead;
  }
  return { bytes: Buffer.concat(chunks), end: pos };
}

/** The last `lines` lines of BYTES (all of it when undefined). */
export function tailLines(bytes: Buffer, lines: number | undefined): Buffer {
  if (lines === undefined) return bytes;
  if (lines <= 0) return Buffer.alloc(0);
  let end = bytes.length;
  if (end > 0 && bytes[end - 1] === 0x0a) end--; // a final newline ends the last line
  let i = end;
  for (let seen = 0; i > 0; i--) {
    if (bytes[i - 1] === 0x0a && ++seen === lines) break;
  }
  return bytes.subarray(i);
}

async function requireContainer(user: UserContainers, name: string): Promise<ContainerPaths> {
  const paths = user.paths(name);
  await readConfig(paths, name); // ENOENT naming the container when there is none
  return paths;
}

function noLog(name: string, paths: ContainerPaths): IglooError {
  return new IglooError('ENOENT', `No console output kept for "${name}" yet`, {
    op: 'logs',
    path: consoleLogFiles(paths)[1],
    subject: name,
    hint: `The monitor keeps the output of a container started with a console (igloo start ${name}); one started with --console null sends it to /dev/null`,
  });
}

/** The kept console output of NAME (the last `tail` lines), oldest first. */
export async function readConsoleLog(
  user: UserContainers,
  name: string,
  opts: { tail?: number } = {},
): Promise<Buffer> {
  const paths = await requireContainer(user, name);
  const parts: Buffer[] = [];
  let found = false;
  for (const path of consoleLogFiles(paths)) {
    const fh = await openLog(path);
    if (!fh) continue;
    found = true;
    try {
      parts.push((await readRest(fh, 0)).bytes);
    } finally {
      await fh.close();
    }
  }
  if (!found) throw noLog(name, paths);
  return tailLines(Buffer.concat(parts), opts.tail);
}

/**
 * Writes NAME's kept output (the last `tail` lines) to `write`, then what
 * the monitor adds, until the container has stopped (or `signal` aborts).
 */
export async function followConsoleLog(
  user: UserContainers,
  name: string,
  write: (bytes: Buffer) => void,
  opts: { tail?: number; signal?: AbortSignal } = {},
): Promise<void> {
  const paths = await requireContainer(user, name);
  const [, current] = consoleLogFiles(paths);
  const running = async () => (await liveState(paths)).status === 'running';
  let fh = await openLog(current);
  if (!fh && !(await running())) throw noLog(name, paths);
  let pos = 0;
  let ino = 0;
  try {
    // What is kept so far: console.log.1, then the open file up to where it ends now.
    const older = await openLog(consoleLogFiles(paths)[0]);
    const before = older ? (await readRest(older, 0).finally(() => older.close())).bytes : null;
    if (fh) {
      const { bytes, end } = await readRest(fh, 0);
      write(tailLines(before ? Buffer.concat([before, bytes]) : bytes, opts.tail));
      pos = end;
      ino = (await fh.stat()).ino;
    } else if (before) write(tailLines(before, opts.tail));
    const watchers: FSWatcher[] = [];
    let wake: () => void = () => undefined;
    const poke = () => wake();
    try {
      watchers.push(watch(paths.dir, poke));
      try {
        watchers.push(watch(paths.rundir, poke));
      } catch {
        // no run directory: the container is not running; the check below ends the loop
      }
      const timer = setInterval(poke, 1000);
      opts.signal?.addEventListener('abort', poke);
      try {
        for (;;) {
          const changed = new Promise<void>((resolve) => (wake = resolve));
          // Rotation: the monitor renamed the file and began a new one.
          const now = await openLog(current);
          const nowIno = now ? (await now.stat()).ino : 0;
          if (now && nowIno !== ino) {
            if (fh) {
              write((await readRest(fh, pos)).bytes);
              await fh.close();
            }
            fh = now;
            ino = nowIno;
            pos = 0;
          } else await now?.close();
          if (fh) {
            const { bytes, end } = await readRest(fh, pos);
            if (bytes.length) write(bytes);
            pos = end;
          }
          if (opts.signal?.aborted || !(await running())) break;
          await changed;
        }
      } finally {
        clearInterval(timer);
        opts.signal?.removeEventListener('abort', poke);
      }
      // The last bytes the monitor wrote before init's exit.
      if (fh) write((await readRest(fh, pos)).bytes);
    } finally {
      for (const w of watchers) w.close();
    }
  } finally {
    await fh?.close();
  }
}
