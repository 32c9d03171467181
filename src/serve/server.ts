/**
 * `igloo serve`: the caller's containers over HTTP, on
 *
 * - a unix socket, RUN/serve.sock by default (RUN is the caller's private
 *   run directory, 0700), mode 0600: only the caller connects, no token;
 * - TCP on request (`--listen [HOST:]PORT`, HOST 127.0.0.1 by default),
 *   with a token made now, printed once, and required on every request,
 *   and the Host and Origin checks of guard.ts;
 * - for root, `--users-socket PATH` (mode 0666): every local user may
 *   connect and acts on their own containers only (peer.ts).
 *
 * Run by root's users' socket with an IPC channel (IGLOO_SERVE_WORKER=1)
 * it listens on nothing and serves the connections root hands it.
 */
import { randomBytes } from 'node:crypto';
import { lstat, unlink } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { IglooError } from '../core/errors.ts';
import { Igloo } from '../lifecycle/igloo.ts';
import { ensurePrivateDir } from '../lifecycle/paths.ts';
import { buildApp } from './app.ts';
import { ContainerCache } from './cache.ts';
import { ContainerEvents } from './events.ts';
import { UsersSocket, becomeWorkerUser } from './peer.ts';

export interface ServeOptions {
  readonly socket?: string;
  readonly listen?: string;
  readonly usersSocket?: string;
  /** Where to say where it listens (and the token, once). */
  readonly say?: (line: string) => void;
}

export interface Serving {
  readonly socket: string;
  readonly url?: string;
  readonly token?: string;
  close(): Promise<void>;
}

/** "8080" -> 127.0.0.1:8080; "[::1]:80"; "0.0.0.0:80" (any address, if asked for by name). */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):)?(\d{1,5})$/.exec(text);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535)
    throw new IglooError('EINVAL', `Cannot listen on "${text}": not [HOST:]PORT`, {
      op: 'serve',
      subject: text,
      hint: 'e.g. --listen 8080 (127.0.0.1:8080) or --listen 127.0.0.1:8080',
    });
  const host = m[1] ?? '127.0.0.1';
  return { host: host.startsWith('[') ? host.slice(1, -1) : host, port };
}

/** A socket path that is free: nothing there, or a dead socket (removed). A live one or any other file: refused. */
async function claimSocketPath(path: string): Promise<void> {
  let st;
  try {
    st = await lstat(path);
  } catch {
    return;
  }
  if (!st.isSocket())
    throw new IglooError(
      'EEXIST',
      `Cannot serve on ${path}: a file that is not a socket is there`,
      {
        op: 'serve',
        path,
        hint: 'Choose another --socket path',
      },
    );
  const alive = await new Promise<boolean>((resolve) => {
    const c = connect(path);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
  if (alive)
    throw new IglooError('EBUSY', `Cannot serve on ${path}: igloo serve already listens there`, {
      op: 'serve',
      path,
      hint: 'Stop the other igloo serve, or choose another --socket path',
    });
  await unlink(path);
}

/**
 * Binds a unix socket with MODE from its first instant, through the umask
 * (bind() creates the file 0777 & ~umask). Never chmod by path afterwards:
 * in a directory others may write (/tmp), the name could be a link to
 * another file by then, and root would change that file's mode.
 */
async function listenPrivately(
  listen: (path: string) => Promise<unknown>,
  path: string,
  mode: number,
): Promise<void> {
  await claimSocketPath(path);
  const old = process.umask(0o777 & ~mode);
  try {
    await listen(path);
  } finally {
    process.umask(old);
  }
}

export async function serve(opts: ServeOptions = {}): Promise<Serving> {
  const say = opts.say ?? ((line: string) => process.stdout.write(`${line}\n`));
  // Bad options are refused before anything is bound or made.
  const tcp = opts.listen === undefined ? undefined : parseListen(opts.listen);
  if (opts.usersSocket !== undefined && (process.geteuid?.() ?? 0) !== 0)
    throw new IglooError('EPERM', 'Only root serves a users socket', {
      op: 'serve',
      hint: 'Run igloo serve without --users-socket to serve your own containers',
    });
  // A worker of root's users socket is the user's before it touches anything of theirs.
  if (process.env.IGLOO_SERVE_WORKER === '1') becomeWorkerUser();
  const igloo = new Igloo();
  // IGLOO_SERVE_CACHE=off: every list reads every file (the bench's before/after).
  const cache = new ContainerCache(igloo, { keep: process.env.IGLOO_SERVE_CACHE !== 'off' });
  const events = new ContainerEvents(igloo, cache);
  await events.start();
  const closers: Array<() => Promise<void> | void> = [() => events.close()];
  const close = async () => {
    for (const c of closers.reverse()) await c();
  };
  try {
    const unixApp = await buildApp({ igloo, events, cache });
    closers.push(() => unixApp.close());

    // A worker of root's users' socket: connections come from root, over IPC.
    if (process.env.IGLOO_SERVE_WORKER === '1' && process.send) {
      await unixApp.ready();
      process.on('message', (m, handle) => {
        if (m === 'connection' && handle) {
          const socket = handle as Socket;
          unixApp.server.emit('connection', socket);
          socket.resume();
        }
      });
      process.on('disconnect', () => void close().then(() => process.exit(0)));
      process.send('ready');
      return { socket: '', close };
    }

    const socket = opts.socket ?? join(igloo.dirs.run, 'serve.sock');
    if (opts.socket === undefined) await ensurePrivateDir(igloo.dirs.run);
    else await lstat(dirname(socket)); // a clear ENOENT before binding
    await listenPrivately((path) => unixApp.listen({ path }), socket, 0o600);
    closers.push(() => unlink(socket).catch(() => undefined));
    // Said once everything listens: a client that waits for these lines finds every socket there.
    const lines = [`igloo serve: listening on ${socket}`];
    const result: { socket: string; url?: string; token?: string } = { socket };

    if (opts.usersSocket !== undefined) {
      const users = new UsersSocket((s) => {
        unixApp.server.emit('connection', s);
        s.resume();
      });
      await listenPrivately((path) => users.listen(path), opts.usersSocket, 0o666);
      closers.push(() => users.close());
      closers.push(() => unlink(opts.usersSocket!).catch(() => undefined));
      lines.push(
        `igloo serve: every user may connect to ${opts.usersSocket} (each acts on their own containers)`,
      );
    }

    if (tcp !== undefined) {
      const { host, port } = tcp;
      const token = randomBytes(32).toString('base64url');
      const hostPart = host.includes(':') ? `[${host}]` : host;
      const tcpApp = await buildApp({
        igloo,
        events,
        cache,
        guard: { token, listen: `${hostPart}:${port}` },
      });
      closers.push(() => tcpApp.close());
      await tcpApp.listen({ host, port });
      const bound = tcpApp.server.address();
      const actual = typeof bound === 'object' && bound ? bound.port : port;
      const tcpGuardListen = `${hostPart}:${actual}`;
      result.url = `http://${tcpGuardListen}/`;
      result.token = token;
      lines.push(`igloo serve: http://${tcpGuardListen}/?token=${token}`);
      lines.push('igloo serve: the token is shown only now; every request over TCP must carry it');
    }
    for (const line of lines) say(line);
    return { ...result, close };
  } catch (err) {
    await close();
    throw err;
  }
}
