/**
 * Root's users' socket (`igloo serve --users-socket PATH`, the incus-user
 * model): any local user may connect; each connection is identified by
 * SO_PEERCRED and handed, as a descriptor, to a server process that runs
 * as that user (spawned once per user, as `igloo serve` with an IPC
 * channel), so a user's requests act with the user's own credentials on
 * the user's own containers and nothing else. Root's own connections stay
 * with root's server.
 *
 * Why the helper: Node has no call for SO_PEERCRED. Matching the socket's
 * inode in /proc/net/unix against /proc/PID/fd links is racy (a process
 * can pass its descriptor on, or exit and have its pid reused); the
 * kernel's peer credentials are fixed at connect(). `igloo-helper
 * peercred` (src/native/main.c) reads them from the socket given as its
 * stdin; no npm module for it is well kept, and a native addon would need
 * a build of its own.
 *
 * Why hand the descriptor over rather than proxy: root then never parses a
 * user's request, and a user's worker can only ever receive its own
 * user's connections (root sends them; the worker listens on nothing).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { IglooError } from '../core/errors.ts';
import { spawnHelper } from '../host/helper.ts';
import { cliPath } from '../host/install.ts';
import { lookupHostUser } from '../host/users.ts';

export interface PeerCred {
  readonly uid: number;
  readonly gid: number;
  readonly pid: number;
}

/** The credentials of the process at the other end of a unix socket connection. */
export function peerCredentials(socket: Socket): Promise<PeerCred> {
  return new Promise((resolve, reject) => {
    const child = spawnHelper(['peercred'], { stdio: [socket, 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const m = /^(\d+) (\d+) (-?\d+)\n$/.exec(out);
      if (code !== 0 || !m)
        reject(
          new IglooError('ESYS', `Cannot identify the peer: ${err.trim() || `exit ${code}`}`, {
            op: 'peercred',
          }),
        );
      else resolve({ uid: Number(m[1]), gid: Number(m[2]), pid: Number(m[3]) });
    });
  });
}

/** The environment a user's worker gets: theirs, not root's. */
function workerEnv(user: {
  name: string;
  uid: number;
  gid: number;
  home: string;
}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    HOME: user.home.startsWith('/') ? user.home : '/',
    USER: user.name,
    LOGNAME: user.name,
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    IGLOO_SERVE_WORKER: '1',
    IGLOO_SERVE_WORKER_IDS: `${user.uid}:${user.gid}`,
  };
  // Where igloo itself is; never root's directories or root's copies of the subid files.
  for (const key of ['IGLOO_DIST', 'IGLOO_HELPER', 'IGLOO_CLI'])
    if (process.env[key] !== undefined) env[key] = process.env[key];
  return env;
}

/**
 * In a worker of root's users socket, first thing: take the user's ids
 * (IGLOO_SERVE_WORKER_IDS) and no supplementary group. Root starts the
 * worker as root so that this change of ids, made without an execve after
 * it, leaves the process non-dumpable: the user cannot ptrace it, read its
 * memory or take its descriptors (pidfd_getfd), its IPC channel with root's
 * server among them, on which Node's parser in root's server would throw,
 * uncaught, at a line that is not JSON. A worker not run by root changes
 * nothing (it is its caller's already).
 */
export function becomeWorkerUser(env: NodeJS.ProcessEnv = process.env): void {
  if (process.geteuid?.() !== 0) return;
  const m = /^(\d+):(\d+)$/.exec(env.IGLOO_SERVE_WORKER_IDS ?? '');
  const [uid, gid] = m ? [Number(m[1]), Number(m[2])] : [0, 0];
  if (uid === 0 || gid === 0)
    throw new IglooError('EPERM', 'A worker of the users socket never serves as root', {
      op: 'serve',
      hint: 'Only igloo serve --users-socket starts workers (IGLOO_SERVE_WORKER_IDS=UID:GID)',
    });
  process.setgroups!([]);
  process.setgid!(gid);
  process.setuid!(uid);
  if (process.getuid!() !== uid || process.geteuid!() !== uid || process.getegid!() !== gid)
    throw new IglooError('EPERM', `The worker could not take uid ${uid} and gid ${gid}`, {
      op: 'serve',
    });
}

/** Writes STREAM's lines to root's stderr after PREFIX, control characters shown as `?`. */
function relayLines(stream: Readable, prefix: string): void {
  const visible = (c: string) => {
    const n = c.codePointAt(0)!;
    return n < 0x20 || (n >= 0x7f && n <= 0x9f) ? '?' : c;
  };
  let held = '';
  stream.setEncoding('utf8');
  stream.on('data', (d: string) => {
    const lines = (held + d).split('\n');
    held = lines.pop()!.slice(-4096);
    for (const line of lines) process.stderr.write(`${prefix}${[...line].map(visible).join('')}\n`);
  });
}

export class UsersSocket {
  private readonly workers = new Map<number, Promise<ChildProcess>>();
  private readonly server: Server;

  /** `own` takes root's own connections (root's server). */
  constructor(own: (socket: Socket) => void) {
    this.server = createServer({ pauseOnConnect: true }, (socket) => {
      socket.on('error', () => undefined);
      peerCredentials(socket)
        .then(
          (cred) => {
            if (cred.uid === 0) own(socket);
            else return this.handOver(cred.uid, socket);
          },
          () => socket.destroy(),
        )
        .catch(() => socket.destroy());
    });
  }

  listen(path: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(path, () => resolve());
    });
  }

  close(): void {
    this.server.close();
    for (const w of this.workers.values()) void w.then((c) => c.kill());
  }

  private async handOver(uid: number, socket: Socket): Promise<void> {
    const worker = await this.worker(uid);
    if (!worker.connected) {
      this.workers.delete(uid);
      socket.destroy();
      return;
    }
    worker.send('connection', socket);
  }

  private worker(uid: number): Promise<ChildProcess> {
    let w = this.workers.get(uid);
    if (!w) {
      w = this.spawnWorker(uid);
      this.workers.set(uid, w);
      w.catch(() => this.workers.delete(uid));
    }
    return w;
  }

  private async spawnWorker(uid: number): Promise<ChildProcess> {
    const user = await lookupHostUser(String(uid));
    // The worker serves as the user. It takes the user's ids itself
    // (becomeWorkerUser), so the user may not ptrace it; it gets a session of
    // its own (no controlling terminal: root's would take TIOCSTI from it,
    // typed into root's shell) and no descriptor of root's (its stderr comes
    // back through a pipe, as text).
    const child = spawn(process.execPath, [cliPath(), 'serve'], {
      cwd: '/',
      env: workerEnv(user),
      detached: true,
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    relayLines(child.stderr!, `igloo serve: the worker of uid ${uid}: `);
    child.on('exit', () => {
      if (this.workers.get(uid) !== undefined) this.workers.delete(uid);
    });
    // Ready once it says so (its watchers are set and it takes connections).
    await new Promise<void>((resolve, reject) => {
      child.once('message', (m) => (m === 'ready' ? resolve() : reject(new Error(String(m)))));
      child.once('exit', (code) => reject(new Error(`the worker of uid ${uid} exited (${code})`)));
      child.once('error', reject);
    });
    return child;
  }
}
