/**
 * Launching a container's process through the helper: a LaunchPlan on fd 3,
 * the sync protocol on fd 4 (PROTOCOL.md), spawned by Node or forked by the
 * zygote. The id maps travel in the plan: the helper installs them. Finding
 * and spawning the helper, reading its lines and turning its ERROR records
 * into IglooErrors is host/helper.ts's, the one door every caller uses.
 */
import type { ChildProcess, StdioOptions } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { IglooError } from '../core/errors.ts';
import { encodePlan, type LaunchPlan } from '../core/plan/plan.ts';
import {
  exitCodeOf,
  helperError,
  onHelperLines,
  parseHelperLine,
  type HelperLine,
  spawnFailure,
  spawnHelper,
} from '../host/helper.ts';

export interface HelperResult {
  /** Host pid of the container's first process. */
  readonly pid: number;
  /** foreground/exec: how it ended, e.g. "exited 0" or "signaled SIGKILL". */
  readonly status?: string;
  /** foreground/exec: the helper's own exit code (status, or 128+signal). */
  readonly exitCode?: number;
}

export interface HelperOptions {
  /** Called once the process has exec'd, with its host pid. */
  onReady?: (pid: number) => Promise<void> | void;
  env?: NodeJS.ProcessEnv;
  /** foreground: send the process's stdout to igloo's stderr (progress of a build, not a result). */
  stdoutToStderr?: boolean;
}

/**
 * How a helper was started: spawned by Node (fd 3 the plan, fd 4 the sync
 * socket), or forked by the zygote (one socket: the plan, then sync lines).
 */
interface Launched {
  readonly sync: Socket;
  sendPlan(encoded: string): void;
  /** The helper has ended: its exit code when Node knows it. */
  onEnd(cb: (code: number | null, signal: NodeJS.Signals | null) => void): void;
  onError(cb: (err: Error) => void): void;
  /** A detached start: nothing of the helper keeps Node alive any more. */
  release(): void;
}

/**
 * A long-lived caller (the library API) forks its helpers from a zygote
 * (`igloo-helper zygote`, zygote.c): Node forks itself to spawn a process,
 * which costs its main thread 5 to 20 ms each time (more as its heap grows);
 * the zygote is spawned once, on the first call, and each later helper is
 * a fork of that small process, asked for over a unix socket. Unreferenced:
 * it never keeps Node alive, and exits when Node does.
 */
let zygoteWanted = false;
let zygote: { child: ChildProcess; address?: string } | undefined;

/** Fork helpers from a zygote from now on (the library API does; the CLI runs one command and exits). */
export function keepSpareHelper(on = true): void {
  zygoteWanted = on;
  if (!on && zygote) {
    zygote.child.kill();
    zygote = undefined;
  }
}

function startZygote(): void {
  if (!zygoteWanted || zygote) return;
  const child = spawnHelper(['zygote'], {
    stdio: ['inherit', 'inherit', 'inherit', 'pipe'],
  });
  const z: { child: ChildProcess; address?: string } = { child };
  zygote = z;
  const gone = () => {
    if (zygote === z) zygote = undefined;
  };
  child.on('error', gone);
  child.on('exit', gone);
  const control = child.stdio[3] as Socket;
  onHelperLines(control, (line) => {
    const hello = parseHelperLine(line);
    if (hello.kind === 'ZYGOTE') z.address ??= `\0${hello.name}`;
  });
  control.on('error', () => undefined);
  control.unref();
  child.unref();
}

function spawned(plan: LaunchPlan, opts: HelperOptions): Launched {
  // A detached start's monitor outlives us in a session of its own; the OCI
  // runtime's create and detached exec hand the caller's stdio on (PROTOCOL.md).
  const detached = plan.mode === 'detached' && plan.kind === 'start';
  const stdio: StdioOptions = detached
    ? ['ignore', 'ignore', 'ignore', 'pipe', 'pipe']
    : ['inherit', opts.stdoutToStderr ? process.stderr : 'inherit', 'inherit', 'pipe', 'pipe'];
  const child = spawnHelper([plan.kind], { stdio, detached, env: opts.env ?? process.env });
  const planSocket = child.stdio[3] as Socket;
  planSocket.on('error', () => undefined);
  return {
    sync: child.stdio[4] as Socket,
    sendPlan: (encoded) => planSocket.end(encoded),
    onEnd: (cb) => child.on('exit', cb),
    onError: (cb) => child.on('error', cb),
    release: () => child.unref(),
  };
}

/** A helper forked by the zygote, or undefined if there is none to ask. */
function fromZygote(): Promise<Launched | undefined> {
  const address = zygote?.address;
  if (!address) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const socket = connect(address);
    socket.once('error', () => {
      zygote?.child.kill();
      zygote = undefined;
      resolve(undefined);
    });
    socket.once('connect', () => {
      socket.removeAllListeners('error');
      resolve({
        sync: socket,
        sendPlan: (encoded) => socket.write(`PLAN ${Buffer.byteLength(encoded)}\n${encoded}`),
        // The helper's exit code is not ours to see: the EXIT line says it.
        onEnd: (cb) => socket.on('close', () => cb(null, null)),
        onError: () => undefined,
        release: () => socket.destroy(),
      });
    });
  });
}

/** A forked or spawned helper for this plan (the zygote serves the caller's stdio and environment only). */
async function launch(plan: LaunchPlan, opts: HelperOptions): Promise<Launched> {
  if (zygoteWanted && !opts.stdoutToStderr && opts.env === undefined) {
    const forked = await fromZygote();
    if (forked) return forked;
    startZygote(); // for the next call
  }
  return spawned(plan, opts);
}

/**
 * Runs the helper for a plan. Resolves when the process has exec'd (detached)
 * or when it has exited (foreground and exec). Rejects with the helper's
 * ERROR, or if the maps cannot be installed.
 */
export async function runHelper(
  plan: LaunchPlan,
  what: string,
  opts: HelperOptions = {},
): Promise<HelperResult> {
  // Done at READY: a detached start (its helper stays as the monitor), the
  // OCI runtime's create and detached exec (their helper exits).
  const detached = plan.mode !== 'foreground';
  const helper = await launch(plan, opts);
  const sync = helper.sync;
  helper.sendPlan(encodePlan(plan));

  return new Promise<HelperResult>((resolve, reject) => {
    let pid = 0;
    let status: string | undefined;
    let failure: IglooError | undefined;
    let settled = false;
    const finish = (err: IglooError | undefined, result?: HelperResult) => {
      if (settled) return;
      settled = true;
      if (err) reject(err);
      else resolve(result!);
    };
    const handle = async (line: HelperLine): Promise<void> => {
      switch (line.kind) {
        case 'READY':
          pid = line.pid;
          try {
            await opts.onReady?.(pid);
          } catch (err) {
            failure =
              err instanceof IglooError
                ? err
                : new IglooError('ESYS', `Cannot ${what}: ${String(err)}`, {
                    op: what,
                    cause: err,
                  });
            try {
              process.kill(pid, 'SIGKILL');
            } catch {
              // already gone
            }
          }
          if (detached && !failure) {
            sync.destroy();
            helper.release();
            finish(undefined, { pid });
          }
          break;
        case 'ERROR':
          failure ??= helperError(line, what);
          break;
        case 'EXIT':
          status = line.status;
          break;
        case 'PID':
          // Only a plan without id maps gets PID, and waits for MAPPED: the
          // smoke test's (PROTOCOL.md). Every plan of ours carries its maps;
          // EOF instead of MAPPED makes the helper kill the child and exit.
          failure ??= new IglooError('ESYS', `Cannot ${what}: the plan has no id maps`, {
            op: what,
          });
          sync.destroy();
          break;
      }
    };

    let queue = Promise.resolve();
    onHelperLines(sync, (line) => {
      const record = parseHelperLine(line);
      queue = queue.then(() => handle(record));
    });
    sync.on('error', () => undefined);
    helper.onError((err) => finish(spawnFailure(err, what)));
    helper.onEnd((exitCode, signal) => {
      void queue.then(() => {
        if (failure) return finish(failure);
        if (settled) return;
        // A forked helper's exit code is its EXIT line's (the zygote reaps it).
        const code =
          exitCode ?? (status !== undefined ? exitCodeOf(status) : signal !== null ? 128 : null);
        if (pid === 0 || (detached && code !== 0) || code === null) {
          return finish(
            new IglooError(
              'ESYS',
              `Cannot ${what}: the helper ended (${signal ?? `exit ${code ?? 'unknown'}`}) before the container started`,
              { op: what, hint: 'Run `igloo check`' },
            ),
          );
        }
        finish(undefined, { pid, ...(status !== undefined && { status }), exitCode: code });
      });
    });
  });
}
