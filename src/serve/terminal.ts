/**
 * Processes in a container for the server: `igloo exec` run as a child of
 * the server through igloo's native front (dist/bin/igloo, the same door a
 * user's shell takes, so every defense of docs/security.md holds: a
 * session of its own, a pty made inside the container, non-dumpable until
 * exec), with its output captured (POST .../exec) or relayed over a
 * websocket (GET .../exec, with a pty inside: the web terminal), and init's
 * console relayed from the monitor's console socket (GET .../console).
 *
 * Websocket frames: binary or text frames from the client are the
 * terminal's input; a text frame that parses as {"type":"signal","signal":
 * "SIGINT"} sends the exec'd igloo a signal instead. The server sends the
 * output as binary frames and, when the process ends, a text frame
 * {"type":"exit","exitCode":N} before closing. A text frame
 * {"type":"resize","rows":R,"cols":C} sets the window of exec's pty: the
 * server writes "R C" on a pipe the helper reads (IGLOO_WINSIZE_FD,
 * PROTOCOL.md), and the kernel tells the process inside (SIGWINCH). On the
 * console a control frame is taken and not typed in; the monitor's console
 * has no window channel, so a resize there changes nothing.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { WebSocket } from '@fastify/websocket';
import { IglooError } from '../core/errors.ts';
import { helperPath } from '../host/install.ts';
import type { Igloo } from '../lifecycle/igloo.ts';

/** What one captured stream may hold; more is cut and said (`truncated`). */
const CAPTURE_LIMIT = 4 * 1024 * 1024;

/** dist/bin/igloo: the native front beside the helper. */
function frontPath(): string {
  return join(dirname(helperPath()), '..', 'bin', 'igloo');
}

function execArgs(
  name: string,
  tty: boolean,
  body: { argv: readonly string[]; user?: string; env?: readonly string[]; cwd?: string },
): string[] {
  return [
    'exec',
    tty ? '-t' : '-T',
    ...(body.user !== undefined ? ['--user', body.user] : []),
    ...(body.env ?? []).flatMap((e) => ['--env', e]),
    ...(body.cwd !== undefined ? ['--cwd', body.cwd] : []),
    name,
    '--',
    ...body.argv,
  ];
}

export interface Captured {
  exitCode: number;
  stdout: string;
  stderr: string;
  truncated: boolean;
}

/** Runs a command in NAME without a terminal; resolves with its exit code and output. */
export function execCaptured(
  name: string,
  body: { argv: string[]; user?: string; env?: string[]; cwd?: string; stdin?: string },
): Promise<Captured> {
  return new Promise((resolve, reject) => {
    const child = spawn(frontPath(), execArgs(name, false, body), {
      stdio: [body.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let sizes = [0, 0];
    let truncated = false;
    const keep = (into: Buffer[], i: 0 | 1) => (chunk: Buffer) => {
      const room = CAPTURE_LIMIT - sizes[i]!;
      if (room <= 0) {
        truncated = true;
        return;
      }
      if (chunk.length > room) truncated = true;
      into.push(chunk.subarray(0, room));
      sizes =
        i === 0 ? [sizes[0]! + chunk.length, sizes[1]!] : [sizes[0]!, sizes[1]! + chunk.length];
    };
    child.stdout!.on('data', keep(out, 0));
    child.stderr!.on('data', keep(err, 1));
    if (body.stdin !== undefined) {
      child.stdin!.on('error', () => undefined);
      child.stdin!.end(body.stdin);
    }
    child.on('error', (e) =>
      reject(
        new IglooError('ESYS', `Cannot run igloo exec for "${name}": ${e.message}`, {
          op: 'exec',
          path: frontPath(),
          hint: 'Build igloo (node scripts/build.mjs)',
        }),
      ),
    );
    child.on('close', (code, signal) =>
      resolve({
        exitCode: code ?? 128 + (signal === null ? 0 : 9),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        truncated,
      }),
    );
  });
}

const SIGNALS = new Set([
  'SIGINT',
  'SIGTERM',
  'SIGHUP',
  'SIGQUIT',
  'SIGKILL',
  'SIGUSR1',
  'SIGUSR2',
]);

interface Control {
  type: string;
  signal?: string;
  /** resize: the window in characters, 1..9999 each (checked here). */
  rows?: number;
  cols?: number;
}

const windowSide = (n: unknown) =>
  typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 9999 ? n : undefined;

function control(data: Buffer | string): Control | undefined {
  const text = data.toString();
  if (!text.startsWith('{"type"')) return undefined;
  try {
    const msg = JSON.parse(text) as {
      type?: unknown;
      signal?: unknown;
      rows?: unknown;
      cols?: unknown;
    };
    if (typeof msg.type !== 'string') return undefined;
    const rows = windowSide(msg.rows);
    const cols = windowSide(msg.cols);
    return {
      type: msg.type,
      ...(typeof msg.signal === 'string' && { signal: msg.signal }),
      ...(rows !== undefined && cols !== undefined && { rows, cols }),
    };
  } catch {
    return undefined;
  }
}

/** The fd on which igloo exec's helper reads "ROWS COLS" lines (IGLOO_WINSIZE_FD, PROTOCOL.md). */
const WINSIZE_FD = 5;

function refuse(socket: WebSocket, err: unknown): void {
  const body =
    err instanceof IglooError
      ? err.toJSON()
      : { code: 'ESYS', message: err instanceof Error ? err.message : String(err) };
  socket.send(JSON.stringify({ type: 'error', ...body }));
  socket.close(1011, 'refused');
}

async function requireRunning(igloo: Igloo, name: string, op: string): Promise<void> {
  const state = await igloo.state(name);
  if (state.status !== 'running')
    throw new IglooError('ESTATE', `Cannot ${op} "${name}": it is ${state.status}`, {
      op,
      subject: name,
      hint: `Start it first (POST /containers/${name}/start)`,
    });
}

export function registerTerminals(app: FastifyInstance, igloo: Igloo): void {
  app.get<{ Params: { name: string }; Querystring: { cmd?: string | string[]; user?: string } }>(
    '/containers/:name/exec',
    {
      websocket: true,
      // Refused before the upgrade, with an HTTP status: no such container 404, not running 409.
      preValidation: async (req) => requireRunning(igloo, req.params.name, 'exec in'),
      schema: {
        summary:
          'Websocket: an interactive command with a pty inside (default /bin/sh); input and output as frames',
        params: {
          type: 'object',
          required: ['name'],
          properties: { name: { type: 'string' } },
        },
        querystring: {
          type: 'object',
          properties: {
            cmd: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] },
            user: { type: 'string' },
          },
        },
      },
    },
    (socket, req) => {
      const { name } = req.params;
      const cmd = req.query.cmd;
      const argv = cmd === undefined ? ['/bin/sh'] : Array.isArray(cmd) ? cmd : [cmd];
      const early: Array<Buffer | string> = [];
      const buffer = (d: Buffer | string) => early.push(d);
      socket.on('message', buffer);
      requireRunning(igloo, name, 'exec in').then(
        () => {
          const child = spawn(
            frontPath(),
            execArgs(name, true, {
              argv,
              ...(req.query.user !== undefined && { user: req.query.user }),
            }),
            {
              stdio: ['pipe', 'pipe', 'pipe', 'ignore', 'ignore', 'pipe'],
              env: { ...process.env, IGLOO_WINSIZE_FD: String(WINSIZE_FD) },
            },
          );
          const winsize = (child.stdio as unknown as Writable[])[WINSIZE_FD]!;
          winsize.on('error', () => undefined);
          const input = (data: Buffer | string) => {
            const msg = control(data);
            if (msg?.type === 'signal' && msg.signal && SIGNALS.has(msg.signal))
              child.kill(msg.signal as NodeJS.Signals);
            else if (msg?.type === 'resize' && msg.rows !== undefined)
              winsize.write(`${msg.rows} ${msg.cols}\n`);
            else if (msg === undefined) child.stdin!.write(data);
          };
          socket.off('message', buffer);
          for (const d of early) input(d);
          socket.on('message', input);
          child.stdin!.on('error', () => undefined);
          child.stdout!.on('data', (d: Buffer) => socket.send(d));
          child.stderr!.on('data', (d: Buffer) => socket.send(d));
          child.on('close', (code) => {
            socket.send(JSON.stringify({ type: 'exit', exitCode: code ?? 1 }));
            socket.close(1000, 'exited');
          });
          socket.on('close', () => {
            if (child.exitCode === null) child.kill('SIGHUP');
          });
        },
        (err) => refuse(socket, err),
      );
    },
  );

  app.get<{ Params: { name: string } }>(
    '/containers/:name/console',
    {
      websocket: true,
      preValidation: async (req) => requireRunning(igloo, req.params.name, 'attach to'),
      schema: {
        summary: "Websocket: init's console (one client at a time, as igloo console)",
        params: {
          type: 'object',
          required: ['name'],
          properties: { name: { type: 'string' } },
        },
      },
    },
    (socket, req) => {
      const { name } = req.params;
      const early: Array<Buffer | string> = [];
      const buffer = (d: Buffer | string) => early.push(d);
      socket.on('message', buffer);
      requireRunning(igloo, name, 'attach to')
        .then(async () => {
          const { connect } = await import('node:net');
          const conn = connect(igloo.paths(name).consoleSocket);
          conn.on('error', (err) =>
            refuse(
              socket,
              new IglooError('ESYS', `Cannot attach to the console of "${name}": ${err.message}`, {
                op: 'console',
                subject: name,
              }),
            ),
          );
          // The monitor's console has no window channel: a resize is taken
          // (never typed into the console) and has no effect.
          const input = (d: Buffer | string) => {
            if (control(d) === undefined) conn.write(d);
          };
          socket.off('message', buffer);
          for (const d of early) input(d);
          socket.on('message', input);
          conn.on('data', (d) => socket.send(d));
          conn.on('close', () => socket.close(1000, 'console closed'));
          socket.on('close', () => conn.destroy());
        })
        .catch((err: unknown) => refuse(socket, err));
    },
  );
}
