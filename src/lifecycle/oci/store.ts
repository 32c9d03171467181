/**
 * igloo-runc's state on disk: ROOT (--root; /run/igloo-runc for root,
 * $XDG_RUNTIME_DIR/igloo-runc for users, 0700) holds one directory per
 * container id (0700) with state.json (written atomically under
 * ROOT/ID/state.json.lock) and, until `start`, exec.fifo (made by the
 * helper; PROTOCOL.md `gate`). Ids are checked (core/oci/state.ts) before
 * they become a path.
 */
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { IglooError } from '../../core/errors.ts';
import { parseProcStat } from '../../core/proc-stat.ts';
import {
  checkOciId,
  ociState,
  ociStatus,
  type OciRecord,
  type OciState,
  type OciStatus,
} from '../../core/oci/state.ts';
import { replaceFileAtomically, withFileLock } from '../../host/files.ts';
import { ensurePrivateDir } from '../paths.ts';

/** A warning or debug line for the log (--log) or stderr; the CLI decides where. */
export type Logger = (level: 'debug' | 'info' | 'warning', msg: string) => void;

export function defaultOciRoot(env: NodeJS.ProcessEnv = process.env): string {
  const uid = process.geteuid?.() ?? 0;
  if (uid === 0) return '/run/igloo-runc';
  const xdg = env.XDG_RUNTIME_DIR;
  if (xdg) return join(xdg, 'igloo-runc');
  throw new IglooError('EINVAL', 'Cannot find a state directory: XDG_RUNTIME_DIR is not set', {
    op: 'find root',
    hint: 'Give --root DIR (a directory only you may write), or set XDG_RUNTIME_DIR',
  });
}

export interface OciDirs {
  readonly root: string;
  readonly dir: string;
  readonly state: string;
  readonly fifo: string;
}

export function ociDirs(root: string, id: string): OciDirs {
  const dir = join(root, checkOciId(id));
  return { root, dir, state: join(dir, 'state.json'), fifo: join(dir, 'exec.fifo') };
}

export async function ensureOciRoot(root: string): Promise<void> {
  await ensurePrivateDir(root);
}

export function notFound(id: string): IglooError {
  return new IglooError('ENOENT', `container ID does not exist: ${id}`, {
    op: 'find container',
    subject: id,
    hint: 'igloo-runc list shows the containers under this --root',
  });
}

/** The record of ID; ENOENT "container ID does not exist" when there is none. */
export function readRecord(d: OciDirs, id: string): OciRecord {
  let text: string;
  try {
    const st = lstatSync(d.state);
    if (!st.isFile() || st.size > 4 << 20) throw new Error('not a regular file');
    text = readFileSync(d.state, 'utf8');
  } catch {
    throw notFound(id);
  }
  try {
    return JSON.parse(text) as OciRecord;
  } catch (err) {
    throw new IglooError('EPARSE', `Cannot read the state of ${id}: ${d.state} is not JSON`, {
      op: 'read state',
      path: d.state,
      hint: `igloo-runc delete --force ${id}`,
      cause: err,
    });
  }
}

export async function writeRecord(d: OciDirs, record: OciRecord): Promise<void> {
  await replaceFileAtomically(d.state, `${JSON.stringify(record)}\n`, {
    mode: 0o600,
    durable: false,
  });
}

export function withOciLock<T>(d: OciDirs, fn: () => Promise<T>): Promise<T> {
  return withFileLock(d.state, fn);
}

function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Whether the freezer of the container's cgroups says FROZEN. */
function frozen(record: OciRecord): boolean {
  for (const dir of record.cgroupDirs ?? []) {
    for (const file of ['freezer.state', 'cgroup.freeze']) {
      try {
        const v = readFileSync(join(dir, file), 'utf8').trim();
        if (v === 'FROZEN' || v === '1') return true;
      } catch {
        // not this hierarchy's file
      }
    }
  }
  return false;
}

export function statusOf(d: OciDirs, record: OciRecord): OciStatus {
  let stat;
  try {
    stat = parseProcStat(readFileSync(`/proc/${record.pid}/stat`, 'utf8'));
  } catch {
    stat = undefined;
  }
  return ociStatus(record, { stat, fifo: exists(d.fifo), frozen: frozen(record) });
}

export function stateOf(d: OciDirs, record: OciRecord): OciState {
  return ociState(record, statusOf(d, record));
}

/** Every container id under ROOT (directories with a state.json). */
export function listIds(root: string): string[] {
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return [];
  }
  return names
    .filter((n) => /^[A-Za-z0-9_+.-]+$/.test(n) && exists(join(root, n, 'state.json')))
    .sort();
}
