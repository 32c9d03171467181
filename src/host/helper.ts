/**
 * The one door between TypeScript and igloo-helper (src/native,
 * PROTOCOL.md). Every caller spawns the helper here, reads its lines with
 * one parser and turns its ERROR records into IglooErrors with one mapping:
 *
 * - launch plans and the zygote (native/spawn.ts): sync lines on fd 4;
 * - restore (lifecycle/checkpoint.ts): READY or ERROR on fd 4;
 * - idmap-check (lifecycle/idmapped.ts), xattrs and shift (host/xattrs.ts),
 *   --version (host/check.ts): one-shot modes that print a line on stdout.
 *
 * It lives in host/, not native/, because host code calls the helper too
 * (image layers set xattrs, `igloo check` asks its version) and host/ may
 * not import from native/. native/spawn.ts builds the launch protocol on it.
 */
import {
  spawn,
  type ChildProcess,
  type ChildProcessWithoutNullStreams,
  type SpawnOptions,
} from 'node:child_process';
import { constants as osConstants } from 'node:os';
import type { Readable } from 'node:stream';
import { IglooError } from '../core/errors.ts';
import { errnoHint } from './errno.ts';
import { helperPath } from './install.ts';

/* ---- spawning ----------------------------------------------------------- */

/** Starts `igloo-helper ARGS...`: the only place that spawns it. */
export function spawnHelper(args: readonly string[], options: SpawnOptions): ChildProcess {
  return spawn(helperPath(), args, options);
}

/** The helper could not be started at all (the 'error' event of its spawn). */
export function spawnFailure(err: Error, what: string): IglooError {
  return new IglooError('EHOST', `Cannot ${what}: cannot run the helper: ${err.message}`, {
    op: what,
    hint: 'npm run build',
  });
}

export interface HelperToolResult {
  /** The exit code; null if a signal ended it. */
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs one of the helper's one-shot modes (`--version`, `idmap-check`,
 * `xattrs`, `shift`) to its end, INPUT on its stdin, and collects what it
 * printed. Rejects only if it could not be started (spawnFailure for WHAT);
 * a non-zero exit is the caller's to judge.
 */
export function runHelperTool(
  args: readonly string[],
  what: string,
  input = '',
): Promise<HelperToolResult> {
  return new Promise((resolve, reject) => {
    const child = spawnHelper(args, {
      stdio: ['pipe', 'pipe', 'pipe'],
    }) as ChildProcessWithoutNullStreams;
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (err) => reject(spawnFailure(err, what)));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

/** The helper's path and what `igloo-helper --version` says. */
export async function helperVersion(): Promise<{ path: string; version: string }> {
  const path = helperPath();
  const what = `ask ${path} its version`;
  const { code, stdout, stderr } = await runHelperTool(['--version'], what);
  if (code !== 0) {
    throw new IglooError('EHOST', `Cannot ${what}: it exited ${code ?? 'on a signal'}`, {
      op: what,
      path,
      ...(stderr.trim() && { subject: stderr.trim() }),
      hint: 'npm run build',
    });
  }
  return { path, version: stdout.trim() };
}

/* ---- lines -------------------------------------------------------------- */

/** An ERROR record: step INDEX of the plan (0: the plan or the mode itself) failed. */
export interface HelperErrorLine {
  readonly kind: 'ERROR';
  readonly index: number;
  readonly op: string;
  readonly errno: string;
  readonly message: string;
}

/** One line the helper writes: on fd 4 (sync), or on stdout for the one-shot modes. */
export type HelperLine =
  /** The process has exec'd (start, exec) or been restored; its host pid. */
  | { readonly kind: 'READY'; readonly pid: number }
  /** foreground/exec: how the process ended, "exited N" or "signaled NAME". */
  | { readonly kind: 'EXIT'; readonly status: string }
  | HelperErrorLine
  /** Test-only (smoke-test.py): a plan without id maps; the helper waits for MAPPED. */
  | { readonly kind: 'PID'; readonly pid: number }
  /** The zygote's abstract socket name. */
  | { readonly kind: 'ZYGOTE'; readonly name: string }
  /** idmap-check: whether the directory's file system can be idmapped here. */
  | { readonly kind: 'IDMAP'; readonly ok: true }
  | { readonly kind: 'IDMAP'; readonly ok: false; readonly errno: string; readonly message: string }
  /** shift: how many files changed owner. */
  | { readonly kind: 'SHIFTED'; readonly count: number }
  | { readonly kind: 'unknown'; readonly line: string };

/** Parses one line (without its \n) of the helper's output. */
export function parseHelperLine(line: string): HelperLine {
  const space = line.indexOf(' ');
  const rest = space < 0 ? '' : line.slice(space + 1);
  switch (space < 0 ? line : line.slice(0, space)) {
    case 'READY':
      return { kind: 'READY', pid: Number(rest) };
    case 'EXIT':
      return { kind: 'EXIT', status: rest };
    case 'ERROR': {
      const m = /^(\d+) (\S+) (\S+) (.*)$/.exec(rest);
      if (m) return { kind: 'ERROR', index: Number(m[1]), op: m[2]!, errno: m[3]!, message: m[4]! };
      // Out of format: still a failure, reported as it came.
      return {
        kind: 'ERROR',
        index: 0,
        op: 'helper',
        errno: 'EIO',
        message: `the helper said "${line}"`,
      };
    }
    case 'PID':
      return { kind: 'PID', pid: Number(rest) };
    case 'ZYGOTE':
      if (/^\S+$/.test(rest)) return { kind: 'ZYGOTE', name: rest };
      break;
    case 'IDMAP': {
      if (rest === 'ok') return { kind: 'IDMAP', ok: true };
      const m = /^(\S+) (.*)$/.exec(rest);
      if (m) return { kind: 'IDMAP', ok: false, errno: m[1]!, message: m[2]! };
      break;
    }
    case 'SHIFTED':
      if (/^\d+$/.test(rest)) return { kind: 'SHIFTED', count: Number(rest) };
      break;
  }
  return { kind: 'unknown', line };
}

/** Calls onLine with each line of STREAM (without its \n) as it arrives. */
export function onHelperLines(stream: Readable, onLine: (line: string) => void): void {
  let buffer = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      onLine(line);
    }
  });
}

/** The shell's exit code for an EXIT status ("exited 3": 3, "signaled SIGKILL": 137). */
export function exitCodeOf(status: string): number {
  const exited = /^exited (\d+)$/.exec(status);
  if (exited) return Number(exited[1]);
  const signal = /^signaled (\S+)$/.exec(status)?.[1] ?? '';
  const number = (osConstants.signals as Record<string, number>)[signal] ?? Number(signal.slice(3));
  return 128 + (Number.isInteger(number) ? number : 0);
}

/* ---- errors ------------------------------------------------------------- */

/** What went wrong, in words, for a message that names the operation itself. */
export function helperReason(error: HelperErrorLine): string {
  if (error.op === 'idmap' && error.errno !== 'ENOENT') return `cannot map ids: ${error.message}`;
  return error.message;
}

/**
 * An ERROR record as an IglooError: "Cannot WHAT: REASON", with the step's
 * op and errno, and a hint saying what to do.
 */
export function helperError(error: HelperErrorLine, what: string): IglooError {
  const { op, errno } = error;
  const message = `Cannot ${what}: ${helperReason(error)}`;
  if (op === 'idmap') {
    // newuidmap/newgidmap refused the map, or is missing.
    const kind = error.message.startsWith('newgidmap') ? 'gid' : 'uid';
    return errno === 'ENOENT'
      ? new IglooError('EHOST', message, {
          op: 'map ids',
          subject: `new${kind}map`,
          hint: 'apt-get install uidmap',
        })
      : new IglooError('ENOTDELEGATED', message, {
          op: 'map ids',
          errno,
          hint: `The map must use only ids delegated to you in /etc/sub${kind} (see igloo subid ls)`,
        });
  }
  const hint = errnoHint(errno, 'step');
  return new IglooError(errno === 'ENOENT' ? 'ENOENT' : 'ESYS', message, {
    op: `${what}: ${op}`,
    errno,
    ...(hint !== undefined && { hint }),
  });
}
