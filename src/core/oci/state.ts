/**
 * The OCI runtime's state (pure): container ids, the record igloo-runc keeps
 * per container (state.json in ROOT/ID), the state JSON the spec defines
 * (`igloo-runc state`), how the status follows from init's pid, its start
 * time and the exec fifo, and signals as engines name them.
 */
import { IglooError } from '../errors.ts';
import type { ProcStat } from '../proc-stat.ts';
import { OCI_VERSION, type OciLaunch } from './config.ts';

export type OciStatus = 'creating' | 'created' | 'running' | 'paused' | 'stopped';

/** What igloo-runc writes in ROOT/ID/state.json (atomically, under ROOT/ID/lock). */
export interface OciRecord {
  readonly id: string;
  readonly bundle: string;
  /** init's host pid and its start time (field 22 of /proc/PID/stat). */
  readonly pid: number;
  readonly start: number;
  /** ISO 8601, when create finished. */
  readonly created: string;
  /** The uid that ran create (runc's `owner` is a name; ours a name when known). */
  readonly owner: string;
  readonly launch: OciLaunch;
  /** The container's cgroup, relative to each hierarchy's root (root's containers), removed by delete. */
  readonly cgroup?: string;
  /** Its directories, one per hierarchy (the freezer is read there). */
  readonly cgroupDirs?: readonly string[];
}

/** The state JSON of the runtime spec, plus runc's rootfs, created and owner. */
export interface OciState {
  readonly ociVersion: string;
  readonly id: string;
  readonly status: OciStatus;
  readonly pid: number;
  readonly bundle: string;
  readonly rootfs: string;
  readonly created: string;
  readonly owner: string;
  readonly annotations?: Readonly<Record<string, string>>;
}

/**
 * Checks an id as runc does: it becomes a path component under --root, so
 * no '/', no '..', not empty; only [A-Za-z0-9_+.-] and at most 1024 bytes.
 */
export function checkOciId(id: string): string {
  if (!/^[A-Za-z0-9_+.-]{1,1024}$/.test(id) || id === '.' || id === '..')
    throw new IglooError(
      'EINVAL',
      `Invalid container ID "${id}": it must be letters, digits and _+.- only`,
      {
        op: 'check id',
        subject: id,
        hint: 'Give an id such as web-1 (no "/", not "." or "..")',
      },
    );
  return id;
}

export interface Liveness {
  /** /proc/PID/stat of the record's pid now, undefined if there is none. */
  readonly stat: ProcStat | undefined;
  /** The exec fifo is still there: start has not released the process. */
  readonly fifo: boolean;
  /** The container's freezer says FROZEN. */
  readonly frozen: boolean;
}

/**
 * The status: a pid whose start time differs is a recycled pid (stopped,
 * never another process), a zombie is stopped too.
 */
export function ociStatus(record: Pick<OciRecord, 'start'>, now: Liveness): OciStatus {
  const s = now.stat;
  if (!s || s.startTime !== record.start || s.state === 'Z' || s.state === 'X') return 'stopped';
  if (now.frozen) return 'paused';
  return now.fifo ? 'created' : 'running';
}

export function ociState(record: OciRecord, status: OciStatus): OciState {
  const annotations = record.launch.annotations;
  return {
    ociVersion: OCI_VERSION,
    id: record.id,
    status,
    pid: status === 'stopped' ? 0 : record.pid,
    bundle: record.bundle,
    rootfs: record.launch.rootfs,
    created: record.created,
    owner: record.owner,
    ...(Object.keys(annotations).length > 0 && { annotations }),
  };
}

/** Linux's signal names on x86, by number (index 0 unused). */
const SIGNALS = [
  '',
  'HUP',
  'INT',
  'QUIT',
  'ILL',
  'TRAP',
  'ABRT',
  'BUS',
  'FPE',
  'KILL',
  'USR1',
  'SEGV',
  'USR2',
  'PIPE',
  'ALRM',
  'TERM',
  'STKFLT',
  'CHLD',
  'CONT',
  'STOP',
  'TSTP',
  'TTIN',
  'TTOU',
  'URG',
  'XCPU',
  'XFSZ',
  'VTALRM',
  'PROF',
  'WINCH',
  'IO',
  'PWR',
  'SYS',
];

/**
 * A signal as engines give it: a number ("15"), a name ("TERM", "SIGTERM",
 * "sigterm"), or SIGRTMIN+N / RTMIN+N. Returns its number.
 */
export function parseSignal(text: string): number {
  const bad = (): never => {
    throw new IglooError('EINVAL', `Invalid signal "${text}"`, {
      op: 'kill',
      subject: text,
      hint: 'Give a number (15) or a name (TERM, SIGKILL)',
    });
  };
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    return n >= 1 && n <= 64 ? n : bad();
  }
  const name = text
    .toUpperCase()
    .replace(/^SIG/, '')
    .replace(/^IOT$/, 'ABRT')
    .replace(/^POLL$/, 'IO')
    .replace(/^CLD$/, 'CHLD');
  const rt = /^RTMIN(?:\+(\d+))?$/.exec(name);
  if (rt) {
    const n = 34 + Number(rt[1] ?? 0);
    return n <= 64 ? n : bad();
  }
  const n = SIGNALS.indexOf(name);
  return n > 0 ? n : bad();
}
