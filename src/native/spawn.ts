/**
 * The only TypeScript that knows the native helper exists. It starts
 * igloo-helper with a LaunchPlan on fd 3, runs the sync protocol on fd 4
 * (PROTOCOL.md) and turns the helper's ERROR lines into IglooErrors with
 * advice. The id maps travel in the plan: the helper installs them.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import type { Socket } from 'node:net';
import { IglooError } from '../core/errors.ts';
import { encodePlan, type LaunchPlan } from '../core/plan/plan.ts';
import { helperPath } from '../host/install.ts';

const advice: Record<string, string> = {
  EPERM:
    'The kernel refused a privileged step; run `igloo check` to see whether user namespaces are allowed here',
  EACCES: "A path is not accessible to the container's ids; check its permissions",
  ENOENT: 'A file the plan needs is missing: check the rootfs and the command',
  ENOSPC: 'A namespace limit was reached (see /proc/sys/user/max_*_namespaces)',
  EINVAL: 'The kernel does not support a requested feature',
  ELOOP: 'A symlink in the rootfs points where it should not',
};

export interface HelperResult {
  /** Host pid of the container's first process. */
  readonly pid: number;
  /** foreground/exec: how it ended, e.g. "exited 0" or "signaled SIGKILL". */
  readonly status?: string;
  /** foreground/exec: the helper's own exit code (status, or 128+signal). */
  readonly exitCode?: number;
}

export interface HelperOptions {
  /** Called with the host pid as soon as the process exists, before it runs (plans without id maps only). */
  onPid?: (pid: number) => Promise<void> | void;
  /** Called once the process has exec'd, with its host pid. */
  onReady?: (pid: number) => Promise<void> | void;
  env?: NodeJS.ProcessEnv;
  /** foreground: send the process's stdout to igloo's stderr (progress of a build, not a result). */
  stdoutToStderr?: boolean;
}

function helperError(line: string, what: string): IglooError {
  const m = /^ERROR (\d+) (\S+) (\S+) (.*)$/.exec(line);
  if (!m) return new IglooError('ESYS', `Cannot ${what}: the helper said "${line}"`, { op: what });
  const [, , op, errno, message] = m;
  if (op === 'idmap') {
    // newuidmap/newgidmap refused the map, or is missing.
    const kind = message!.startsWith('newgidmap') ? 'gid' : 'uid';
    return errno === 'ENOENT'
      ? new IglooError('EHOST', `Cannot ${what}: ${message}`, {
          op: 'map ids',
          subject: `new${kind}map`,
          hint: 'apt-get install uidmap',
        })
      : new IglooError('ENOTDELEGATED', `Cannot ${what}: cannot map ids: ${message}`, {
          op: 'map ids',
          errno: errno!,
          hint: `The map must use only ids delegated to you in /etc/sub${kind} (see igloo subid ls)`,
        });
  }
  return new IglooError(errno === 'ENOENT' ? 'ENOENT' : 'ESYS', `Cannot ${what}: ${message}`, {
    op: `${what}: ${op}`,
    errno: errno!,
    ...(advice[errno!] !== undefined && { hint: advice[errno!] }),
  });
}

/**
 * A helper started ahead of time (`igloo-helper spare`), blocked reading its
 * plan. Node forks itself to spawn a process, which costs several
 * milliseconds in a process of Node's size; a long-lived caller (the
 * library API) keeps one spare so that this cost falls while the previous
 * container runs, not on the next call. Unreferenced: it never keeps Node
 * alive, and when Node exits it reads EOF and exits too.
 */
let spareWanted = false;
let spare: ChildProcess | undefined;

/** Keep a spare helper from now on (the library API does; the CLI runs one command and exits). */
export function keepSpareHelper(on = true): void {
  spareWanted = on;
  if (!on && spare) {
    (spare.stdio[3] as Socket).end();
    spare = undefined;
  }
}

function startSpare(): void {
  if (!spareWanted || spare) return;
  const child = spawn(helperPath(), ['spare'], {
    stdio: ['inherit', 'inherit', 'inherit', 'pipe', 'pipe'],
  });
  child.on('error', () => {
    if (spare === child) spare = undefined;
  });
  child.on('exit', () => {
    if (spare === child) spare = undefined;
  });
  for (const fd of [3, 4]) {
    const socket = child.stdio[fd] as Socket;
    socket.on('error', () => undefined);
    socket.unref();
  }
  child.unref();
  spare = child;
}

/** The spare if it can serve this plan (the caller's stdio and environment), or a new helper. */
function helperFor(plan: LaunchPlan, opts: HelperOptions): ChildProcess {
  const detached = plan.mode === 'detached';
  if (spare && !opts.stdoutToStderr && opts.env === undefined) {
    const child = spare;
    spare = undefined;
    child.ref();
    for (const fd of [3, 4]) (child.stdio[fd] as Socket).ref();
    return child;
  }
  const stdio: StdioOptions = detached
    ? ['ignore', 'ignore', 'ignore', 'pipe', 'pipe']
    : ['inherit', opts.stdoutToStderr ? process.stderr : 'inherit', 'inherit', 'pipe', 'pipe'];
  return spawn(helperPath(), [plan.kind], { stdio, detached, env: opts.env ?? process.env });
}

/**
 * Runs the helper for a plan. Resolves when the process has exec'd (detached)
 * or when it has exited (foreground and exec). Rejects with the helper's
 * ERROR, or if the maps cannot be installed.
 */
export function runHelper(
  plan: LaunchPlan,
  what: string,
  opts: HelperOptions = {},
): Promise<HelperResult> {
  const detached = plan.mode === 'detached';
  const child = helperFor(plan, opts);
  const planSocket = child.stdio[3] as Socket;
  const sync = child.stdio[4] as Socket;
  planSocket.on('error', () => undefined);
  planSocket.end(encodePlan(plan));
  // The next call's helper is forked while this one works.
  if (spareWanted) setImmediate(startSpare);

  return new Promise<HelperResult>((resolve, reject) => {
    let pid = 0;
    let status: string | undefined;
    let failure: IglooError | undefined;
    let settled = false;
    let buffer = '';
    const finish = (err: IglooError | undefined, result?: HelperResult) => {
      if (settled) return;
      settled = true;
      if (err) reject(err);
      else resolve(result!);
    };
    const send = (line: string) => {
      if (!sync.destroyed) sync.write(`${line}\n`);
    };

    const handle = async (line: string): Promise<void> => {
      if (line.startsWith('PID ')) {
        pid = Number(line.slice(4));
        try {
          await opts.onPid?.(pid);
          send('MAPPED');
        } catch (err) {
          send('ABORT');
          failure =
            err instanceof IglooError
              ? err
              : new IglooError('ESYS', `Cannot ${what}: ${String(err)}`, { op: what, cause: err });
        }
      } else if (line.startsWith('READY ')) {
        pid = Number(line.slice(6));
        try {
          await opts.onReady?.(pid);
        } catch (err) {
          failure =
            err instanceof IglooError
              ? err
              : new IglooError('ESYS', `Cannot ${what}: ${String(err)}`, { op: what, cause: err });
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
        if (detached && !failure) {
          sync.destroy();
          child.unref();
          finish(undefined, { pid });
        }
      } else if (line.startsWith('ERROR ')) {
        failure ??= helperError(line, what);
      } else if (line.startsWith('EXIT ')) {
        status = line.slice(5);
      }
    };

    let queue = Promise.resolve();
    sync.setEncoding('utf8');
    sync.on('data', (chunk: string) => {
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        queue = queue.then(() => handle(line));
      }
    });
    sync.on('error', () => undefined);
    child.on('error', (err) =>
      finish(
        new IglooError('EHOST', `Cannot ${what}: cannot run the helper: ${err.message}`, {
          op: what,
          hint: 'npm run build',
        }),
      ),
    );
    child.on('exit', (code, signal) => {
      void queue.then(() => {
        if (failure) return finish(failure);
        if (settled) return;
        if (pid === 0 || (detached && code !== 0)) {
          return finish(
            new IglooError(
              'ESYS',
              `Cannot ${what}: the helper ended (${signal ?? `exit ${code}`}) before the container started`,
              { op: what, hint: 'Run `igloo check`' },
            ),
          );
        }
        finish(undefined, { pid, ...(status !== undefined && { status }), exitCode: code ?? 128 });
      });
    });
  });
}
