/**
 * igloo as an OCI runtime (runc's verbs): create, start, state, kill,
 * delete, exec, ps, list. A container is a LaunchPlan of the same helper as
 * igloo's own (core/oci/plan.ts); `create` leaves its process waiting at the
 * exec fifo and exits, as does a detached `exec`, so the engine's subreaper
 * (conmon, the containerd shim) is the parent of what runs: no igloo
 * monitor stays. State: store.ts.
 *
 * When real root runs a config without a user namespace, the container's
 * root is host root, as with runc: that is the config's choice.
 */
import {
  constants as fsConstants,
  closeSync,
  fstatSync,
  openSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { IglooError } from '../../core/errors.ts';
import {
  readOciConfig,
  readOciProcess,
  type OciLaunch,
  type OciProcess,
} from '../../core/oci/config.ts';
import { planOciCreate, planOciExec } from '../../core/oci/plan.ts';
import { ociState, type OciRecord, type OciState } from '../../core/oci/state.ts';
import type { NamespaceKind } from '../../core/config/model.ts';
import { errnoOf, sysError } from '../../host/errno.ts';
import { uniqueSuffix } from '../../host/files.ts';
import { processStartTime } from '../../host/proc.ts';
import { runHelper } from '../../native/spawn.ts';
import { runHooks } from './hooks.ts';
import {
  ensureOciRoot,
  listIds,
  ociDirs,
  readRecord,
  stateOf,
  statusOf,
  withOciLock,
  writeRecord,
  type Logger,
  type OciDirs,
} from './store.ts';
import { freezeCgroup, removeCgroup, setUpCgroup, updateCgroup } from './cgroups.ts';

export type { Logger } from './store.ts';

export interface RuntimeContext {
  readonly root: string;
  readonly log: Logger;
}

const MAX_CONFIG = 4 << 20;

/** A file of the caller's (config.json, process.json), not a FIFO or a device, size-capped. */
function readJsonFile(path: string, what: string): unknown {
  let fd: number;
  try {
    fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
  } catch (err) {
    throw sysError(
      err,
      `read ${what}`,
      path,
      errnoOf(err) === 'ENOENT' ? `Write ${what} there (igloo-runc spec)` : undefined,
    );
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.size > MAX_CONFIG)
      throw new IglooError(
        'EUNSAFE',
        `Cannot read ${what} ${path}: not a regular file of at most 4 MiB`,
        {
          op: `read ${what}`,
          path,
          hint: 'Give a regular JSON file',
        },
      );
    const text = readFileSync(fd, 'utf8');
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new IglooError('EPARSE', `Cannot read ${what} ${path}: ${(err as Error).message}`, {
        op: `read ${what}`,
        path,
        hint: 'Fix the JSON',
      });
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes PID to PATH atomically: a new file beside it (O_EXCL|O_NOFOLLOW),
 * renamed over PATH. rename() replaces a symlink at PATH itself, never
 * what it points to.
 */
export function writePidFile(path: string, pid: number): void {
  const abs = resolve(path);
  const tmp = join(dirname(abs), `.${uniqueSuffix()}.pid`);
  try {
    const fd = openSync(
      tmp,
      fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW,
      0o644,
    );
    try {
      writeSync(fd, String(pid));
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, abs);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // not made
    }
    throw sysError(err, 'write pid file', abs, 'Give a --pid-file in a directory you may write');
  }
}

function owner(): string {
  try {
    return userInfo().username;
  } catch {
    return String(process.geteuid?.() ?? 0);
  }
}

function killQuietly(pid: number, signal: NodeJS.Signals | number = 'SIGKILL'): void {
  try {
    process.kill(pid, signal);
  } catch {
    // gone
  }
}

/** Checks that every linux.devices entry names the same device node on the host (it is bound from there). */
function checkDevices(launch: OciLaunch): void {
  for (const d of launch.devices) {
    let ok = false;
    try {
      const st = statSync(d.path);
      const type = st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : st.isFIFO() ? 'p' : '';
      const major = Number((BigInt(st.rdev) >> 8n) & 0xfffn);
      const minor = Number((BigInt(st.rdev) & 0xffn) | ((BigInt(st.rdev) >> 12n) & 0xfff00n));
      ok =
        (type === d.type || (d.type === 'u' && type === 'c')) &&
        (d.type === 'p' || (major === d.major && minor === d.minor));
    } catch {
      ok = false;
    }
    if (!ok)
      throw new IglooError(
        'ENOTSUP',
        `Invalid OCI config linux.devices: ${d.path} (${d.type} ${d.major}:${d.minor}) is not a device node of the host`,
        {
          op: 'create',
          path: d.path,
          subject: 'linux.devices',
          hint: 'igloo-runc binds devices from the host (it makes no device nodes): give one the host has at the same path',
        },
      );
  }
}

export interface CreateOptions {
  readonly id: string;
  readonly bundle: string;
  readonly pidFile?: string;
  readonly consoleSocket?: string;
}

export async function ociCreate(ctx: RuntimeContext, opts: CreateOptions): Promise<OciState> {
  const d = ociDirs(ctx.root, opts.id);
  const bundle = resolve(opts.bundle);
  const configPath = join(bundle, 'config.json');
  const launch = readOciConfig(readJsonFile(configPath, 'config.json'), configPath, { bundle });
  checkDevices(launch);
  if (launch.process.terminal && opts.consoleSocket === undefined)
    throw new IglooError(
      'EINVAL',
      'Cannot create: process.terminal is true but no --console-socket was given',
      {
        op: 'create',
        subject: opts.id,
        hint: 'Give --console-socket PATH (the engine gets the pty there), or set process.terminal to false',
      },
    );
  if (!launch.process.terminal && opts.consoleSocket !== undefined)
    ctx.log('warning', '--console-socket is ignored: process.terminal is false');
  await ensureOciRoot(ctx.root);
  try {
    await mkdir(d.dir, { mode: 0o700 });
  } catch (err) {
    if (errnoOf(err) === 'EEXIST')
      throw new IglooError('EEXIST', `container with id exists: ${opts.id}`, {
        op: 'create',
        subject: opts.id,
        hint: `igloo-runc delete ${opts.id} first, or pick another id`,
      });
    throw sysError(err, 'create', d.dir);
  }
  let pid = 0;
  let cgroup: ReturnType<typeof setUpCgroup> = undefined;
  try {
    cgroup = setUpCgroup(launch, opts.id, ctx.log);
    const consoleSocket =
      opts.consoleSocket === undefined ? undefined : resolve(opts.consoleSocket);
    const plan = planOciCreate(launch, {
      gate: d.fifo,
      ...(consoleSocket !== undefined && { consoleSocket }),
      ...(cgroup && { cgroups: cgroup.procs }),
    });
    const result = await runHelper(plan, `create container ${opts.id}`);
    pid = result.pid;
    const start = await processStartTime(pid);
    if (start === undefined)
      throw new IglooError(
        'ESYS',
        `Cannot create ${opts.id}: its process ${pid} ended before start`,
        {
          op: 'create',
          subject: opts.id,
        },
      );
    if (launch.process.oomScoreAdj !== undefined) {
      try {
        writeFileSync(`/proc/${pid}/oom_score_adj`, String(launch.process.oomScoreAdj));
      } catch (err) {
        throw sysError(
          err,
          'set oomScoreAdj',
          `/proc/${pid}/oom_score_adj`,
          'Lowering it needs root (CAP_SYS_RESOURCE)',
        );
      }
    }
    const record: OciRecord = {
      id: opts.id,
      bundle,
      pid,
      start,
      created: new Date().toISOString(),
      owner: owner(),
      launch,
      ...(cgroup && { cgroup: cgroup.rel, cgroupDirs: cgroup.dirs }),
    };
    await writeRecord(d, record);
    const state = ociState(record, 'created');
    await runHooks('createRuntime', launch.hooks.createRuntime, state);
    await runHooks('prestart', launch.hooks.prestart, state);
    if (opts.pidFile !== undefined) writePidFile(opts.pidFile, pid);
    return state;
  } catch (err) {
    // Rollback: nothing of the container stays (its process, its directory).
    if (pid > 0) killQuietly(pid);
    rmSync(d.dir, { recursive: true, force: true });
    if (cgroup) await removeCgroup(cgroup.rel).catch(() => undefined);
    throw err;
  }
}

function recordOf(ctx: RuntimeContext, id: string): { d: OciDirs; record: OciRecord } {
  const d = ociDirs(ctx.root, id);
  return { d, record: readRecord(d, id) };
}

export async function ociStart(ctx: RuntimeContext, id: string): Promise<void> {
  const { d } = recordOf(ctx, id);
  await withOciLock(d, async () => {
    const record = readRecord(d, id);
    const status = statusOf(d, record);
    if (status !== 'created')
      throw new IglooError('ESTATE', `Cannot start ${id}: it is ${status}, not created`, {
        op: 'start',
        subject: id,
        hint: status === 'stopped' ? `igloo-runc delete ${id}` : 'A container starts once',
      });
    let fd: number;
    try {
      // Non-blocking: it opens only while a reader holds the fifo (the
      // container's process, waiting); not following a link planted there.
      fd = openSync(d.fifo, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK | fsConstants.O_NOFOLLOW);
    } catch (err) {
      throw sysError(
        err,
        'start',
        d.fifo,
        errnoOf(err) === 'ENXIO'
          ? 'The container process is gone: delete it'
          : 'The exec fifo was replaced: delete the container',
      );
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFIFO() || st.uid !== (process.geteuid?.() ?? 0))
        throw new IglooError(
          'EUNSAFE',
          `Cannot start ${id}: ${d.fifo} is not the container's exec fifo`,
          {
            op: 'start',
            path: d.fifo,
            hint: `igloo-runc delete --force ${id}`,
          },
        );
      writeSync(fd, '0');
    } finally {
      closeSync(fd);
    }
    unlinkSync(d.fifo);
  });
  const record = readRecord(d, id);
  try {
    await runHooks('poststart', record.launch.hooks.poststart, ociState(record, 'running'));
  } catch (err) {
    ctx.log('warning', (err as Error).message);
  }
}

export function ociStateOf(ctx: RuntimeContext, id: string): OciState {
  const { d, record } = recordOf(ctx, id);
  return stateOf(d, record);
}

/** The host pids of the container's processes: init's pid namespace (or init alone without one). */
export function containerPids(record: OciRecord): number[] {
  const own =
    record.launch.create.includes('pid') || record.launch.joins.some((j) => j.kind === 'pid');
  let ns: string;
  try {
    ns = readlinkSync(`/proc/${record.pid}/ns/pid`);
  } catch {
    return [];
  }
  if (!own) return [record.pid];
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readlinkSync(`/proc/${name}/ns/pid`) === ns) pids.push(Number(name));
    } catch {
      // gone, or not ours to see
    }
  }
  return pids.sort((a, b) => a - b);
}

export function ociKill(ctx: RuntimeContext, id: string, signal: number, all: boolean): void {
  const { d, record } = recordOf(ctx, id);
  const status = statusOf(d, record);
  if (status === 'stopped')
    throw new IglooError('ESTATE', `Cannot kill ${id}: container not running`, {
      op: 'kill',
      subject: id,
      hint: `igloo-runc delete ${id}`,
    });
  const pids = all ? containerPids(record) : [record.pid];
  for (const pid of pids) {
    // A pid is signalled only while it is still the same process (init: its start time).
    if (pid === record.pid && statusOf(d, record) === 'stopped') continue;
    killQuietly(pid, signal);
  }
}

async function waitGone(d: OciDirs, record: OciRecord, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (statusOf(d, record) === 'stopped') return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return statusOf(d, record) === 'stopped';
}

export async function ociDelete(ctx: RuntimeContext, id: string, force: boolean): Promise<void> {
  const d = ociDirs(ctx.root, id);
  let record: OciRecord;
  try {
    record = readRecord(d, id);
  } catch (err) {
    // A directory left without a record (a create that died): force removes it.
    if (force) {
      rmSync(d.dir, { recursive: true, force: true });
      return;
    }
    throw err;
  }
  const status = statusOf(d, record);
  if (status !== 'stopped') {
    if (!force && status !== 'created')
      throw new IglooError('ESTATE', `Cannot delete ${id}: it is ${status}`, {
        op: 'delete',
        subject: id,
        hint: `Stop it first (igloo-runc kill ${id} KILL), or igloo-runc delete --force ${id}`,
      });
    for (const pid of containerPids(record)) killQuietly(pid, 'SIGKILL');
    if (!(await waitGone(d, record, 5000)))
      throw new IglooError(
        'ESYS',
        `Cannot delete ${id}: its process ${record.pid} is still there after SIGKILL`,
        {
          op: 'delete',
          subject: id,
          hint: 'Its parent must reap it: is the engine (conmon, the shim) alive?',
        },
      );
  }
  rmSync(d.dir, { recursive: true, force: true });
  if (record.cgroup !== undefined) {
    try {
      await removeCgroup(record.cgroup);
    } catch (err) {
      ctx.log('warning', (err as Error).message);
    }
  }
  try {
    await runHooks('poststop', record.launch.hooks.poststop, ociState(record, 'stopped'));
  } catch (err) {
    ctx.log('warning', (err as Error).message);
  }
}

export interface ExecOptions {
  readonly id: string;
  /** process.json (`--process F`), or undefined to take args and the flags below. */
  readonly processFile?: string;
  readonly args: readonly string[];
  readonly tty?: boolean;
  readonly cwd?: string;
  readonly env?: readonly string[];
  /** uid[:gid] */
  readonly user?: string;
  readonly additionalGids?: readonly number[];
  readonly detach: boolean;
  readonly pidFile?: string;
  readonly consoleSocket?: string;
}

function execProcess(base: OciProcess, opts: ExecOptions): OciProcess {
  if (opts.processFile !== undefined) {
    const path = resolve(opts.processFile);
    return readOciProcess(readJsonFile(path, 'process.json'), path);
  }
  if (opts.args.length === 0)
    throw new IglooError('EINVAL', `Cannot exec in ${opts.id}: no command`, {
      op: 'exec',
      subject: opts.id,
      hint: 'Give the command after the id, or --process FILE',
    });
  let { uid, gid } = base;
  if (opts.user !== undefined) {
    const m = /^(\d+)(?::(\d+))?$/.exec(opts.user);
    if (!m)
      throw new IglooError(
        'EINVAL',
        `Invalid --user "${opts.user}": give UID or UID:GID (numbers)`,
        {
          op: 'exec',
          subject: opts.user,
          hint: 'e.g. --user 1000:1000',
        },
      );
    uid = Number(m[1]);
    gid = m[2] !== undefined ? Number(m[2]) : gid;
  }
  const env = [...base.env];
  for (const e of opts.env ?? []) {
    const key = e.split('=')[0];
    const i = env.findIndex((x) => x.split('=')[0] === key);
    if (i >= 0) env[i] = e;
    else env.push(e);
  }
  return {
    ...base,
    terminal: opts.tty ?? false,
    args: opts.args,
    env,
    cwd: opts.cwd ?? base.cwd,
    uid,
    gid,
    groups: opts.additionalGids ?? base.groups,
  };
}

/** Every namespace kind init has of its own (the exec joins them all, user first). */
function namespacesOf(launch: OciLaunch): NamespaceKind[] {
  return [...launch.create, ...launch.joins.map((j) => j.kind)];
}

/** Runs a process in the container; foreground: its exit code, detached: 0 once it runs. */
export async function ociExec(ctx: RuntimeContext, opts: ExecOptions): Promise<number> {
  const { d, record } = recordOf(ctx, opts.id);
  const status = statusOf(d, record);
  if (status !== 'running' && status !== 'created')
    throw new IglooError('ESTATE', `Cannot exec in ${opts.id}: it is ${status}`, {
      op: 'exec',
      subject: opts.id,
      hint: status === 'paused' ? `igloo-runc resume ${opts.id}` : 'Start it first',
    });
  const proc = execProcess(record.launch.process, opts);
  if (proc.terminal && opts.consoleSocket === undefined && opts.detach)
    throw new IglooError(
      'EINVAL',
      `Cannot exec in ${opts.id}: a detached terminal needs --console-socket`,
      {
        op: 'exec',
        subject: opts.id,
        hint: 'Give --console-socket PATH, or leave out --tty',
      },
    );
  const consoleSocket = opts.consoleSocket === undefined ? undefined : resolve(opts.consoleSocket);
  const plan = planOciExec(record.launch, proc, {
    pid: record.pid,
    start: record.start,
    namespaces: namespacesOf(record.launch),
    detach: opts.detach,
    ...(consoleSocket !== undefined && { consoleSocket }),
  });
  const result = await runHelper(plan, `exec in ${opts.id}`, {
    onReady: (pid) => {
      if (opts.pidFile !== undefined) writePidFile(opts.pidFile, pid);
    },
  });
  return opts.detach ? 0 : (result.exitCode ?? 1);
}

export function ociList(ctx: RuntimeContext): OciState[] {
  const out: OciState[] = [];
  for (const id of listIds(ctx.root)) {
    try {
      out.push(ociStateOf(ctx, id));
    } catch {
      // removed meanwhile
    }
  }
  return out;
}

export function ociPs(ctx: RuntimeContext, id: string): number[] {
  const { d, record } = recordOf(ctx, id);
  if (statusOf(d, record) === 'stopped') return [];
  return containerPids(record);
}

/** pause/resume/update/checkpoint/restore: refused with the reason (an unknown id first says it does not exist). */
export function ociUnsupported(
  ctx: RuntimeContext,
  verb: string,
  id: string | undefined,
  why: string,
  hint: string,
): never {
  if (id !== undefined) recordOf(ctx, id);
  throw new IglooError('ENOTSUP', `Cannot ${verb}${id ? ` ${id}` : ''}: ${why}`, {
    op: verb,
    ...(id !== undefined && { subject: id }),
    hint,
  });
}

export async function ociPause(ctx: RuntimeContext, id: string, frozen: boolean): Promise<void> {
  const { d, record } = recordOf(ctx, id);
  const status = statusOf(d, record);
  if (status !== (frozen ? 'running' : 'paused'))
    throw new IglooError('ESTATE', `Cannot ${frozen ? 'pause' : 'resume'} ${id}: it is ${status}`, {
      op: frozen ? 'pause' : 'resume',
      subject: id,
      hint: frozen ? 'Only a running container pauses' : 'Only a paused container resumes',
    });
  await freezeCgroup(record.cgroup, id, frozen);
}

export function ociUpdate(ctx: RuntimeContext, id: string, resources: unknown): void {
  const { d, record } = recordOf(ctx, id);
  if (statusOf(d, record) === 'stopped')
    throw new IglooError('ESTATE', `Cannot update ${id}: it is stopped`, {
      op: 'update',
      subject: id,
      hint: `igloo-runc delete ${id}`,
    });
  updateCgroup(record.cgroup, id, resources, ctx.log);
}
