/**
 * Prepared plans: a launch plan made ahead of time, without its command,
 * that the `igloo` command's native front (src/native/front.c) completes
 * and runs without starting Node. `igloo start` prepares the container's
 * exec plans; a one-shot `igloo run` prepares the next one's plan, with a
 * slice of ids reserved for it. The file says when the plan stops holding:
 * the container's init is gone, or a host file it was made from changed.
 *
 *   igloo-prepared 1
 *   kind exec|run
 *   init PID START                          (exec: init's pid and start time)
 *   stamp INO SIZE MTIME_NS CTIME_NS PATH   (any number)
 *   reserve u 0 H N g 0 H N                 (run: the slot's slice)
 *   prefix LEN
 *   <empty line>
 *   <LEN bytes: the plan's records before `exec`><ENVC NUL ENV... NUL>
 *
 * The front adds `exec FILE ARGC ARG...` between the two parts: FILE is the
 * command's first word, as planStart/planExec make it.
 */
import { formatIdmapSpec, parseIdmapSpec, type IdMaps } from '../idmap/index.ts';
import { encodePlan, type LaunchPlan } from './plan.ts';

export type PreparedKind = 'exec' | 'run';

/** A file the plan was made from, as stat(2) saw it (nanosecond times). */
export interface FileStamp {
  readonly path: string;
  readonly ino: bigint;
  readonly size: bigint;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
}

/**
 * The path under which the front checks its own binary: the helper the
 * plan was made for (plans follow the helper's protocol version).
 */
export const SELF_EXE = '/proc/self/exe';

export interface PreparedHeader {
  readonly kind: PreparedKind;
  readonly init?: { readonly pid: number; readonly start: number };
  readonly stamps: readonly FileStamp[];
  readonly reserve?: IdMaps;
}

function checkLine(what: string, value: string): void {
  if (/[\n\0]/.test(value)) throw new Error(`prepared plan: ${what} contains a newline or NUL`);
}

/**
 * The prepared file for PLAN, whose last step must be `exec` (its command
 * is dropped: the front supplies one).
 */
export function formatPrepared(header: PreparedHeader, plan: LaunchPlan): string {
  const last = plan.steps[plan.steps.length - 1];
  if (last?.op !== 'exec') throw new Error('prepared plan: the last step must be exec');
  const records = encodePlan({ ...plan, steps: plan.steps.slice(0, -1) });
  const env = [String(last.env.length), ...last.env].map((s) => `${s}\0`).join('');
  if (last.env.some((e) => e.includes('\0')))
    throw new Error('prepared plan: an environment entry contains NUL');
  const lines = ['igloo-prepared 1', `kind ${header.kind}`];
  if (header.init) lines.push(`init ${header.init.pid} ${header.init.start}`);
  for (const s of header.stamps) {
    checkLine('a stamped path', s.path);
    if (s.path.length === 0) throw new Error('prepared plan: a stamp without a path');
    lines.push(`stamp ${s.ino} ${s.size} ${s.mtimeNs} ${s.ctimeNs} ${s.path}`);
  }
  if (header.reserve) lines.push(`reserve ${formatIdmapSpec(header.reserve)}`);
  lines.push(`prefix ${new TextEncoder().encode(records).length}`, '', '');
  return lines.join('\n') + records + env;
}

/** The header of a prepared file (what TypeScript needs to know of it); throws on a malformed one. */
export function parsePreparedHeader(text: string): PreparedHeader {
  const end = text.indexOf('\n\n');
  if (!text.startsWith('igloo-prepared 1\n') || end < 0)
    throw new Error('not a prepared plan (igloo-prepared 1)');
  let kind: PreparedKind | undefined;
  let init: PreparedHeader['init'];
  let reserve: IdMaps | undefined;
  const stamps: FileStamp[] = [];
  for (const line of text.slice(0, end).split('\n').slice(1)) {
    const [key, ...rest] = line.split(' ');
    const arg = rest.join(' ');
    if (key === 'kind' && (arg === 'exec' || arg === 'run')) kind = arg;
    else if (key === 'init' && /^\d+ \d+$/.test(arg)) {
      const [pid, start] = arg.split(' ').map(Number) as [number, number];
      init = { pid, start };
    } else if (key === 'stamp') {
      const m = /^(\d+) (\d+) (\d+) (\d+) (.+)$/.exec(arg);
      if (!m) throw new Error(`bad stamp line: ${line}`);
      stamps.push({
        ino: BigInt(m[1]!),
        size: BigInt(m[2]!),
        mtimeNs: BigInt(m[3]!),
        ctimeNs: BigInt(m[4]!),
        path: m[5]!,
      });
    } else if (key === 'reserve') reserve = parseIdmapSpec(arg, { path: 'prepared plan' });
    else if (key !== 'prefix') throw new Error(`unknown line in a prepared plan: ${line}`);
  }
  if (!kind) throw new Error('a prepared plan without its kind');
  return { kind, stamps, ...(init && { init }), ...(reserve && { reserve }) };
}

/** Whether two stamps describe the same unchanged file. */
export function sameStamp(a: FileStamp, b: FileStamp): boolean {
  return (
    a.path === b.path &&
    a.ino === b.ino &&
    a.size === b.size &&
    a.mtimeNs === b.mtimeNs &&
    a.ctimeNs === b.ctimeNs
  );
}
