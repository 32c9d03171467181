/**
 * Checkpoint and restore with CRIU, and moving a container through an
 * archive (export / import-container). Root only: CRIU needs
 * CAP_CHECKPOINT_RESTORE and more.
 *
 * Any container is checkpointable, with its pty console too: the monitor
 * holds the console's master outside the dumped tree, so the slave and its
 * /dev/console bind are dumped as external (consoleOf) and restore hands
 * criu a new pty's slave in their place (igloo-helper restore --console).
 * With `console null` nothing is external. docs/criu.md has the details.
 *
 * Restore runs `igloo-helper restore`: the helper becomes a child subreaper,
 * runs `criu restore -d --restore-sibling --root ROOTFS` as its child, and
 * stays as the restored init's monitor (exit file, reaping), as after start.
 *
 * Trust (docs/criu.md, "Trust"): CRIU images are programs with credentials
 * and namespaces, and criu restore runs as root; so a checkpoint is signed
 * by the host when it is made (an HMAC under root's key, host/criu.ts) and
 * restore refuses any checkpoint whose signature this host cannot verify:
 * hand-made, edited, or made for another container. An archive is unpacked
 * in the target container's user namespace (host/container-archive.ts),
 * its config reduced to what create writes (core/config/import.ts), and its
 * checkpoint kept only when signed here. Exports are 0600 (they hold process
 * memory) and written through a private temporary directory.
 */
import { execFile, spawn } from 'node:child_process';
import { constants as fsConstants, createReadStream } from 'node:fs';
import {
  chmod,
  lchown,
  lstat,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type { Socket } from 'node:net';
import { Parser, type ReadEntry } from 'tar';
import { formatConfig } from '../core/config/file.ts';
import { reduceImportedConfig, type RefusedKey } from '../core/config/import.ts';
import { validateName } from '../core/config/name.ts';
import { archiveMember, EXPORT_MANIFEST } from '../core/criu/archive.ts';
import { CONSOLE_KEY, type CheckpointFacts } from '../core/criu/signature.ts';
import { remapUsernsImage } from '../core/criu/userns-image.ts';
import { IglooError } from '../core/errors.ts';
import {
  chooseSlice,
  intersectRanges,
  outsideRanges,
  sliceMap,
  toOutside,
  validateMap,
  type IdMaps,
  type IdRange,
} from '../core/idmap/index.ts';
import {
  checkpointFiles,
  checkpointSignedHere,
  requireCriu,
  criuEnv,
  sha256Hex,
  signCheckpoint,
  type CriuInfo,
} from '../host/criu.ts';
import { IMPORT_REPORT } from '../host/container-archive.ts';
import { sysError } from '../host/errno.ts';
import { withFileLock } from '../host/files.ts';
import { helperReason, onHelperLines, parseHelperLine, spawnHelper } from '../host/helper.ts';
import { processStartTime } from '../host/proc.ts';
import { readDelegation } from '../host/subid.ts';
import { readUntrustedText, withPrivateTempDir } from '../host/untrusted.ts';
import { nestingMounts, type Igloo } from './containers.ts';
import { refuseOverlay } from './idmapped.ts';
import { ensurePrivateDir } from './paths.ts';
import { liveState, readConfig, removeRunDir, withContainerLock, writeState } from './store.ts';
import { writePreparedExec } from './prepared-plans.ts';
import { loadSeccompProfile } from '../host/seccomp.ts';

const runFile = promisify(execFile);

/** Options for every dump and restore (see docs/criu.md). */
const COMMON = [
  '--tcp-established',
  '--file-locks',
  '--link-remap',
  '--ext-mount-map',
  'auto',
  '--enable-external-sharing',
  '--enable-external-masters',
  // igloo puts no container in a cgroup of its own: leave cgroups alone
  // (otherwise a child is refused with "cg: No set 1 found").
  '--manage-cgroups=ignore',
];
const MANIFEST = 'igloo-checkpoint.json';

interface CheckpointManifest {
  readonly version: 1;
  readonly name: string;
  readonly createdAt: string;
  readonly criu: string;
  readonly idmap: IdMaps;
  readonly leftRunning: boolean;
  /** The console pty, dumped as external (see consoleOf). */
  readonly console?: { readonly key: string };
  /** The directory of the container it was made (or moved) for. */
  readonly container?: string;
  /** SHA-256 of that container's config file then. */
  readonly config?: string;
  /** HMAC-SHA256 under the host's key (core/criu/signature.ts). */
  readonly mac?: string;
}

/** What the signature covers, from a manifest, the files and the container. */
async function factsOf(
  m: CheckpointManifest,
  dir: string,
  container: string,
  configText: string,
): Promise<CheckpointFacts> {
  return {
    container,
    config: sha256Hex(configText),
    name: m.name,
    createdAt: m.createdAt,
    criu: m.criu,
    idmap: m.idmap,
    leftRunning: m.leftRunning,
    ...(m.console && { console: m.console.key }),
    files: await checkpointFiles(dir),
  };
}

/** Writes the manifest of DIR, signed for CONTAINER (whose config is CONFIGTEXT). */
async function signAndWrite(
  dir: string,
  m: CheckpointManifest,
  container: string,
  configText: string,
): Promise<void> {
  const { mac: _old, ...rest } = m;
  const unsigned: CheckpointManifest = { ...rest, container, config: sha256Hex(configText) };
  const mac = signCheckpoint(await factsOf(unsigned, dir, container, configText));
  const path = join(dir, MANIFEST);
  await rm(path, { force: true });
  await writeFile(path, JSON.stringify({ ...unsigned, mac }, null, 2) + '\n', {
    mode: 0o600,
    flag: 'wx',
  });
}

/**
 * Why this host will not restore the checkpoint in DIR into the container
 * at CONTAINER (config text CONFIGTEXT), or undefined when its signature holds.
 */
async function untrusted(
  m: CheckpointManifest,
  dir: string,
  container: string,
  configText: string,
): Promise<string | undefined> {
  if (typeof m.mac !== 'string' || typeof m.container !== 'string' || typeof m.config !== 'string')
    return 'it is not signed by this host (made by hand, by an older igloo, or elsewhere)';
  // First the proof over what the manifest claims, then whether the claims fit here.
  let facts: CheckpointFacts;
  try {
    facts = { ...(await factsOf(m, dir, m.container, '')), config: m.config };
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
  if (!checkpointSignedHere(facts, m.mac))
    return 'its signature does not match: an image or its manifest was changed, added or removed since this host made it, or another host signed it';
  if (m.container !== container)
    return `it was made for another container (${m.container}), not ${container}`;
  if (m.config !== sha256Hex(configText)) return 'the container config changed since it was made';
  return undefined;
}

/**
 * The container's console, as CRIU names it: `tty[RDEV:DEV]` of the pty
 * slave bound on /dev/console (hex, as criu prints them). Its master is
 * held by the monitor, outside the dumped tree, so the slave is dumped as
 * external (`--external tty[..]`, and its /dev/console bind mount
 * `--external mnt[/dev/console]:console`); restore hands criu a new pty's
 * slave for both (igloo-helper restore --console). undefined: no pty
 * console (started with console null).
 */
async function consoleOf(pid: number): Promise<{ key: string; rdev: number } | undefined> {
  const mounts = await readFile(`/proc/${pid}/mountinfo`, 'utf8').catch(() => '');
  const bound = mounts
    .split('\n')
    .some((l) => l.split(' ')[4] === '/dev/console' && / - devpts /.test(l));
  if (!bound) return undefined;
  const st = await stat(`/proc/${pid}/root/dev/console`, { bigint: true });
  // glibc's major(): bits 8-19 and 32-43
  const major = Number(((st.rdev >> 8n) & 0xfffn) | ((st.rdev >> 32n) & ~0xfffn));
  if (!st.isCharacterDevice() || major < 136 || major > 143) return undefined;
  return { key: `tty[${st.rdev.toString(16)}:${st.dev.toString(16)}]`, rdev: Number(st.rdev) };
}

function requireRoot(op: string, name: string): void {
  if ((process.geteuid?.() ?? 0) !== 0) {
    throw new IglooError('EPERM', `Cannot ${op} "${name}": CRIU needs root`, {
      op,
      subject: name,
      hint: 'Checkpoint and restore need root (CRIU uses ptrace, /proc/PID/map_files and namespaces of every kind); run it as root, for containers that root owns',
    });
  }
}

/** The last "Error" lines of a criu log, for messages. */
async function criuErrors(log: string): Promise<string> {
  const text = await readFile(log, 'utf8').catch(() => '');
  const lines = text
    .split('\n')
    .filter((l) => /Error \(/.test(l) && !/RLIMIT_NOFILE for self/.test(l))
    .map((l) => l.replace(/^\(\d+\.\d+\)\s*/, '').trim());
  return lines.slice(-3).join('; ') || 'no error in its log';
}

export function defaultCheckpointDir(igloo: Igloo, name: string): string {
  return join(igloo.paths(name).dir, 'checkpoint');
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** PID and its descendants (what criu dumps), host pids. */
async function processTree(pid: number): Promise<number[]> {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    const tasks = await readdir(`/proc/${out[i]}/task`).catch(() => [] as string[]);
    for (const t of tasks) {
      const kids = await readFile(`/proc/${out[i]}/task/${t}/children`, 'utf8').catch(() => '');
      for (const k of kids.split(/\s+/).filter(Boolean)) out.push(Number(k));
    }
  }
  return out;
}

/**
 * CRIU (4.2) cannot dump a process holding /dev/tty when the console is an
 * external terminal ("ctty inheritance detected sid/pgrp 1, no PTY peer
 * with sid/pgrp needed": it wants the pty of that session among the dumped
 * files). Busybox ash opens /dev/tty when it is an interactive shell with
 * job control as pid 1, for example. Refused before anything is frozen.
 * Only /dev/tty of a process whose controlling terminal is the console
 * (CONSOLERDEV: its device number, as /proc/PID/stat's tty_nr gives it): a pty
 * made inside the container (sshd, tmux) is dumped whole, /dev/tty with it.
 */
async function refuseDevTty(name: string, init: number, consoleRdev: number): Promise<void> {
  for (const pid of await processTree(init)) {
    const stat7 = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    const ttyNr = Number(stat7.slice(stat7.lastIndexOf(')') + 2).split(' ')[4]);
    if (ttyNr !== consoleRdev) continue;
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      const st = await stat(`/proc/${pid}/fd/${fd}`).catch(() => undefined);
      // /dev/tty is character device 5:0
      if (!st?.isCharacterDevice() || st.rdev !== 0x500) continue;
      const comm = (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '?')).trim();
      throw new IglooError(
        'ESTATE',
        `Cannot checkpoint "${name}": process ${pid} (${comm}) holds /dev/tty (fd ${fd}), which CRIU cannot dump with the console outside the container`,
        {
          op: 'checkpoint',
          subject: name,
          hint: 'Nothing was frozen. Run interactive shells under init (busybox init, getty) rather than as init itself, or start the container with console null; see docs/criu.md',
        },
      );
    }
  }
}

/**
 * Dumps the running container NAME into DIR (default: its directory's
 * `checkpoint`). Without leaveRunning the container is stopped by the dump
 * (state "stopped", last exit "checkpointed"). A failed dump leaves it
 * running and the previous checkpoint in place.
 */
export async function checkpoint(
  igloo: Igloo,
  name: string,
  opts: { dir?: string; leaveRunning?: boolean; timeoutSeconds?: number } = {},
): Promise<{ dir: string; seconds: number; bytes: number }> {
  validateName(name);
  requireRoot('checkpoint', name);
  const paths = igloo.paths(name);
  const config = await readConfig(paths, name);
  await refuseOverlay(paths, name, 'checkpoint');
  const criu = await requireCriu(`checkpoint "${name}"`);
  const dir = opts.dir ?? defaultCheckpointDir(igloo, name);
  return withContainerLock(paths, async () => {
    const state = await liveState(paths);
    if (state.status !== 'running' || state.pid === undefined) {
      throw new IglooError(
        'ESTATE',
        `Cannot checkpoint "${name}": it is not running (it is ${state.status})`,
        {
          op: 'checkpoint',
          subject: name,
          hint: `Start it (checkpointable) first; see docs/criu.md`,
        },
      );
    }
    const tty = await consoleOf(state.pid);
    if (tty) await refuseDevTty(name, state.pid, tty.rdev);
    await mkdir(dirname(dir), { recursive: true, mode: 0o700 });
    return withPrivateTempDir(dir, async (priv) => {
      const tmp = join(priv, 'checkpoint');
      // 0755: criu opens some images after it has taken the container's ids.
      await mkdir(tmp, { mode: 0o755 });
      const args = [
        'dump',
        '-t',
        String(state.pid),
        '-D',
        tmp,
        ...COMMON,
        ...(tty ? ['--external', tty.key, '--external', 'mnt[/dev/console]:console'] : []),
        ...(opts.leaveRunning ? ['--leave-running'] : []),
        '-v4',
        '-o',
        'dump.log',
      ];
      const t0 = process.hrtime.bigint();
      try {
        await runFile(criu.path, args, {
          env: criuEnv(),
          timeout: (opts.timeoutSeconds ?? 60) * 1000,
          killSignal: 'SIGTERM',
        });
      } catch (err) {
        const why = await criuErrors(join(tmp, 'dump.log'));
        const alive = (await liveState(paths)).status === 'running';
        const log = join(paths.dir, 'dump-failed.log');
        await rename(join(tmp, 'dump.log'), log).catch(() => undefined);
        await rm(tmp, { recursive: true, force: true });
        const killed = (err as { killed?: boolean }).killed === true;
        throw new IglooError(
          'ESYS',
          `Cannot checkpoint "${name}": criu dump ${killed ? 'timed out' : 'failed'}: ${why}; the container is ${alive ? 'still running' : 'no longer running'}`,
          {
            op: 'checkpoint',
            subject: name,
            path: log,
            hint: /tty/.test(why)
              ? `A terminal of the container could not be dumped (see docs/criu.md, "Console"); the whole log: ${log}`
              : `See the whole log: ${log}`,
          },
        );
      }
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const manifest: CheckpointManifest = {
        version: 1,
        name,
        createdAt: new Date().toISOString(),
        criu: criu.version,
        idmap: config.idmap,
        leftRunning: opts.leaveRunning === true,
        ...(tty && { console: { key: tty.key } }),
      };
      await signAndWrite(tmp, manifest, paths.dir, await readFile(paths.config, 'utf8'));
      await rm(dir, { recursive: true, force: true });
      await rename(tmp, dir);
      if (!opts.leaveRunning) {
        // criu killed the tree; the monitor writes its exit file and exits.
        for (let i = 0; i < 100 && (await liveState(paths)).status === 'running'; i++)
          await new Promise((r) => setTimeout(r, 20));
        await writeState(paths, {
          version: 1,
          status: 'stopped',
          ...(state.startedAt !== undefined && { startedAt: state.startedAt }),
          lastExit: `checkpointed to ${dir}`,
          stoppedAt: new Date().toISOString(),
        });
      }
      return { dir, seconds, bytes: await dirBytes(dir) };
    });
  });
}

async function dirBytes(dir: string): Promise<number> {
  let n = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    n += e.isDirectory() ? await dirBytes(p) : (await lstat(p)).size;
  }
  return n;
}

async function readManifest(dir: string, name: string): Promise<CheckpointManifest> {
  let text: string;
  try {
    text = readUntrustedText(join(dir, MANIFEST), { op: 'read the checkpoint manifest' });
  } catch (err) {
    if (err instanceof IglooError && err.code === 'EUNSAFE') throw err;
    throw new IglooError('ENOENT', `Cannot restore "${name}": no checkpoint in ${dir}`, {
      op: 'restore',
      path: dir,
      subject: name,
      hint: `Make one with: igloo checkpoint ${name}`,
    });
  }
  const bad = (why: string) =>
    new IglooError('EUNSAFE', `Refusing the checkpoint in ${dir}: its manifest ${why}`, {
      op: 'restore',
      path: join(dir, MANIFEST),
      subject: name,
      hint: `Make a new checkpoint: igloo checkpoint ${name}`,
    });
  let m: CheckpointManifest;
  try {
    m = JSON.parse(text) as CheckpointManifest;
  } catch {
    throw bad('is not JSON');
  }
  if (typeof m !== 'object' || m === null || m.version !== 1) throw bad('is not version 1');
  for (const k of ['name', 'createdAt', 'criu'] as const)
    if (typeof m[k] !== 'string') throw bad(`lacks "${k}"`);
  if (typeof m.leftRunning !== 'boolean') throw bad('lacks "leftRunning"');
  try {
    validateMap(m.idmap.uid, 'uid');
    validateMap(m.idmap.gid, 'gid');
  } catch {
    throw bad('has no valid id map');
  }
  if (m.console !== undefined && !CONSOLE_KEY.test(String(m.console?.key)))
    throw bad('names a console that is not a pty (tty[RDEV:DEV])');
  return m;
}

/**
 * The checkpoint directory must be root's and writable by nobody else, as
 * its parent: otherwise someone could swap an image between the signature
 * check and criu reading it.
 */
async function requirePrivateDir(dir: string, name: string): Promise<void> {
  for (const d of [dir, dirname(dir)]) {
    const st = await lstat(d).catch(() => undefined);
    if (!st) continue; // readManifest says "no checkpoint"
    if (!st.isDirectory() || st.uid !== 0 || (st.mode & 0o022) !== 0)
      throw new IglooError(
        'EUNSAFE',
        `Refusing the checkpoint in ${dir}: ${d} is not a directory of root's that only root can write`,
        {
          op: 'restore',
          path: d,
          subject: name,
          hint: "Keep checkpoints in a directory only root can write (the default is the container's own)",
        },
      );
  }
}

function sameMap(a: IdMaps, b: IdMaps): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Restores NAME from DIR. The container must not be running; its rootfs is
 * the one the images refer to (same paths inside). The helper stays as the
 * monitor of the restored init.
 */
export async function restore(
  igloo: Igloo,
  name: string,
  opts: { dir?: string } = {},
): Promise<{ pid: number; seconds: number }> {
  validateName(name);
  requireRoot('restore', name);
  const paths = igloo.paths(name);
  const config = await readConfig(paths, name);
  const criu = await requireCriu(`restore "${name}"`);
  const dir = opts.dir ?? defaultCheckpointDir(igloo, name);
  return withContainerLock(paths, async () => {
    const state = await liveState(paths);
    if (state.status === 'running') {
      throw new IglooError(
        'ESTATE',
        `Cannot restore "${name}": it is running (init is pid ${state.pid})`,
        {
          op: 'restore',
          subject: name,
          hint: `Stop it first: igloo stop ${name}`,
        },
      );
    }
    await ensurePrivateDir(igloo.dirs.run);
    await removeRunDir(paths);
    // Under the lock, just before criu: only a checkpoint this host made for it.
    await requirePrivateDir(dir, name);
    const manifest = await readManifest(dir, name);
    const why = await untrusted(manifest, dir, paths.dir, await readFile(paths.config, 'utf8'));
    if (why !== undefined) {
      throw new IglooError('EUNSAFE', `Cannot restore "${name}" from ${dir}: ${why}`, {
        op: 'restore',
        path: dir,
        subject: name,
        hint: `igloo restores only checkpoints this host made for this container (see docs/criu.md, "Trust"); start it afresh (igloo start ${name}) or make a new checkpoint`,
      });
    }
    if (!sameMap(manifest.idmap, config.idmap)) {
      throw new IglooError(
        'ESTATE',
        `Cannot restore "${name}" from ${dir}: the checkpoint was made with another id map`,
        {
          op: 'restore',
          path: dir,
          subject: name,
          hint: 'The checkpoint holds the user namespace maps it was dumped with (import-container rewrites them when it moves a container); make a new checkpoint, or start it afresh: igloo start NAME',
        },
      );
    }
    await mkdir(paths.rundir, { mode: 0o700 });
    // criu writes its log there: never through a link left in its place
    await rm(join(dir, 'restore.log'), { force: true });
    const t0 = process.hrtime.bigint();
    let pid: number;
    try {
      const consoleArgs = manifest.console
        ? [
            '--console',
            manifest.console.key,
            String(toOutside(config.idmap.uid, 0, 'uid')),
            String(toOutside(config.idmap.gid, 0, 'gid')),
          ]
        : [];
      pid = await runRestoreHelper(criu, paths.rundir, consoleArgs, [
        'restore',
        '-D',
        dir,
        '-d',
        '--restore-sibling',
        '--root',
        config.rootfs,
        '--pidfile',
        join(paths.rundir, 'restore.pid'),
        ...COMMON,
        '-v4',
        '-o',
        'restore.log',
      ]);
    } catch (err) {
      await removeRunDir(paths);
      const why = await criuErrors(join(dir, 'restore.log'));
      throw new IglooError(
        'ESYS',
        `Cannot restore "${name}" from ${dir}: ${err instanceof Error ? err.message : String(err)}: ${why}`,
        {
          op: 'restore',
          path: join(dir, 'restore.log'),
          subject: name,
          hint: `See the whole log: ${join(dir, 'restore.log')}`,
        },
      );
    }
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const pidStart = (await processStartTime(pid)) ?? 0;
    await writeState(paths, {
      version: 1,
      status: 'running',
      pid,
      pidStart,
      startedAt: new Date().toISOString(),
    });
    // igloo exec without Node, as after a start (a speed-up only)
    await writePreparedExec(paths, await loadSeccompProfile(config), {
      pid,
      start: pidStart,
    }).catch(() => undefined);
    return { pid, seconds };
  });
}

/** Spawns `igloo-helper restore RUNDIR CRIU ARGS...`; resolves with READY's pid. */
function runRestoreHelper(
  criu: CriuInfo,
  rundir: string,
  consoleArgs: string[],
  args: string[],
): Promise<number> {
  const child = spawnHelper(['restore', ...consoleArgs, rundir, criu.path, ...args], {
    stdio: ['ignore', 'ignore', 'pipe', 'ignore', 'pipe'],
    detached: true,
    env: criuEnv(),
  });
  const sync = child.stdio[4] as Socket;
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => void (stderr += d.toString()));
  return new Promise<number>((resolve, reject) => {
    let done = false;
    // The first line says it all: READY, or ERROR (the caller names the operation).
    onHelperLines(sync, (line) => {
      if (done) return;
      done = true;
      const answer = parseHelperLine(line);
      if (answer.kind === 'READY' && Number.isInteger(answer.pid)) {
        child.unref();
        (child.stderr as Socket).unref?.();
        sync.destroy();
        resolve(answer.pid);
      } else {
        reject(
          new Error((answer.kind === 'ERROR' ? helperReason(answer) : line) || 'the helper failed'),
        );
      }
    });
    child.on('exit', (code) => {
      if (!done) {
        done = true;
        reject(new Error(`the restore helper exited ${code}${stderr ? `: ${stderr.trim()}` : ''}`));
      }
    });
    child.on('error', (e) => {
      if (!done) {
        done = true;
        reject(e);
      }
    });
  });
}

/* ---- export / import --------------------------------------------------- */

interface ExportManifest {
  readonly version: 1;
  readonly name: string;
  readonly idmap: IdMaps;
  readonly exportedAt: string;
  readonly checkpoint: boolean;
}

/** Runs tar with its output on FD; rejects with its first error line. */
function tarTo(fd: number, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('tar', args, { stdio: ['ignore', fd, 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => void (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(stderr.trim().split('\n')[0] || `exit ${code}`)),
    );
  });
}

/**
 * Writes one tar archive: igloo-export.json, config, rootfs/ (numeric host
 * ids, shifted on import) and checkpoint/ (if the container has one). The
 * archive holds process memory: it is made 0600 in a private temporary
 * directory beside FILE (nothing is ever opened by a guessable name there)
 * and renamed onto FILE, which replaces a link planted there rather than
 * following it.
 */
export async function exportContainer(
  igloo: Igloo,
  name: string,
  file: string,
): Promise<{ file: string; checkpoint: boolean }> {
  validateName(name);
  requireRoot('export', name);
  const paths = igloo.paths(name);
  const config = await readConfig(paths, name);
  await refuseOverlay(paths, name, 'export');
  const state = await liveState(paths);
  if (state.status === 'running') {
    throw new IglooError('ESTATE', `Cannot export "${name}": it is running`, {
      op: 'export',
      subject: name,
      hint: `Checkpoint it first (igloo checkpoint ${name}): that stops it and keeps its processes in the archive`,
    });
  }
  const hasCheckpoint = await exists(join(defaultCheckpointDir(igloo, name), MANIFEST));
  const manifest: ExportManifest = {
    version: 1,
    name,
    idmap: config.idmap,
    exportedAt: new Date().toISOString(),
    checkpoint: hasCheckpoint,
  };
  await withPrivateTempDir(file, async (priv) => {
    await writeFile(join(priv, EXPORT_MANIFEST), JSON.stringify(manifest, null, 2) + '\n', {
      mode: 0o600,
      flag: 'wx',
    });
    const tmp = join(priv, 'archive.tar');
    const out = await open(
      tmp,
      fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW,
      0o600,
    );
    try {
      await tarTo(out.fd, [
        '--create',
        '--file',
        '-',
        '--numeric-owner',
        '--xattrs',
        '--acls',
        '-C',
        priv,
        EXPORT_MANIFEST,
        '-C',
        paths.dir,
        'config',
        'rootfs',
        ...(hasCheckpoint ? ['checkpoint'] : []),
      ]);
      await out.chmod(0o600);
      await out.sync();
    } catch (err) {
      throw new IglooError(
        'ESYS',
        `Cannot export "${name}" to ${file}: tar failed: ${(err as Error).message.split('\n')[0]}`,
        {
          op: 'export',
          path: file,
          subject: name,
          hint: 'Check that the directory of FILE is writable and has space',
        },
      );
    } finally {
      await out.close();
    }
    try {
      await rename(tmp, file);
    } catch (err) {
      throw sysError(err, 'move the archive onto', file);
    }
  });
  return { file, checkpoint: hasCheckpoint };
}

function overlaps(a: readonly IdRange[], b: readonly IdRange[]): boolean {
  return a.some((x) => b.some((y) => x.start < y.start + y.count && y.start < x.start + x.count));
}

function within(a: readonly IdRange[], b: readonly IdRange[]): boolean {
  return a.every((x) =>
    b.some((y) => x.start >= y.start && x.start + x.count <= y.start + y.count),
  );
}

/**
 * Moves the checkpoint in DIR from map FROM to TO: CRIU recreates the user
 * namespace from its userns images (host ids); every other id in the images
 * is inside the namespace and stays (see core/criu/userns-image.ts).
 */
async function remapCheckpoint(dir: string, from: IdMaps, to: IdMaps): Promise<void> {
  const images = (await readdir(dir)).filter((f) => /^userns-\d+\.img$/.test(f));
  if (images.length === 0) {
    throw new IglooError('EINVAL', `Cannot move the checkpoint in ${dir}: it has no userns image`, {
      op: 'import-container',
      path: dir,
      hint: 'The checkpoint is damaged; start the container afresh',
    });
  }
  for (const f of images) {
    const img = await readFile(join(dir, f));
    const { mode } = await lstat(join(dir, f));
    await rm(join(dir, f));
    await writeFile(join(dir, f), remapUsernsImage(img, from, to), {
      mode: mode & 0o644,
      flag: 'wx',
    });
  }
}

function notAnArchive(file: string, why: string): IglooError {
  return new IglooError(
    'EINVAL',
    `Cannot import ${file}: it is not an archive made by igloo export (${why})`,
    {
      op: 'import-container',
      path: file,
      hint: 'Make one with: igloo export NAME FILE',
    },
  );
}

/**
 * Copies the archive FILE (a regular file: never a FIFO or a device that
 * never ends) into TO, a file of root's private directory: everything after
 * reads that copy, which nobody else can change meanwhile.
 */
async function copyArchive(file: string, to: string): Promise<void> {
  let src;
  try {
    src = await open(file, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK | fsConstants.O_NOCTTY);
  } catch (err) {
    throw sysError(err, 'read the archive', file);
  }
  try {
    const st = await src.stat();
    if (!st.isFile()) throw notAnArchive(file, 'it is not a regular file');
    const dst = await open(
      to,
      fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW,
      0o600,
    );
    try {
      const buf = Buffer.allocUnsafe(1 << 20);
      for (;;) {
        const { bytesRead } = await src.read(buf, 0, buf.length, null);
        if (bytesRead === 0) break;
        let off = 0;
        while (off < bytesRead) off += (await dst.write(buf, off, bytesRead - off)).bytesWritten;
      }
    } finally {
      await dst.close();
    }
  } finally {
    await src.close();
  }
}

/** igloo-export.json of the archive at FILE (capped, checked). */
async function readExportManifest(file: string, shown: string): Promise<ExportManifest> {
  const text = await new Promise<string>((resolve, reject) => {
    const parser = new Parser({ strict: true });
    const input = createReadStream(file);
    let found = false;
    const done = (err: Error | undefined, value = '') => {
      if (found) return;
      found = true;
      input.destroy();
      if (err) reject(err);
      else resolve(value);
    };
    parser.on('entry', (entry: ReadEntry) => {
      if (found || archiveMember(entry.path).kind !== 'manifest') return entry.resume();
      if (entry.type !== 'File' || (entry.size ?? 0) > 1 << 20) {
        entry.resume();
        return done(notAnArchive(shown, `${EXPORT_MANIFEST} is not a small regular file`));
      }
      const chunks: Buffer[] = [];
      entry.on('data', (c: Buffer) => chunks.push(c));
      entry.on('end', () => done(undefined, Buffer.concat(chunks).toString('utf8')));
    });
    parser.on('warn', (code: string, message: string) => {
      if (code === 'TAR_BAD_ARCHIVE' || code === 'TAR_ABORT') done(notAnArchive(shown, message));
    });
    parser.on('error', (err: Error) => done(notAnArchive(shown, err.message)));
    parser.on('end', () => done(notAnArchive(shown, `no ${EXPORT_MANIFEST}`)));
    input.on('error', (err) => done(err));
    input.pipe(parser);
  });
  let m: ExportManifest;
  try {
    m = JSON.parse(text) as ExportManifest;
  } catch {
    throw notAnArchive(shown, `${EXPORT_MANIFEST} is not JSON`);
  }
  if (typeof m !== 'object' || m === null || m.version !== 1)
    throw notAnArchive(shown, `${EXPORT_MANIFEST} is not version 1`);
  if (typeof m.name !== 'string') throw notAnArchive(shown, 'its manifest has no name');
  try {
    validateMap(m.idmap.uid, 'uid');
    validateMap(m.idmap.gid, 'gid');
  } catch (err) {
    throw notAnArchive(shown, `its id map: ${(err as Error).message}`);
  }
  return m;
}

export interface ImportResult {
  name: string;
  idmap: IdMaps;
  remapped: boolean;
  /** A checkpoint this host signed came with it: igloo restore NAME. */
  checkpoint: boolean;
  /** Why the archive's checkpoint was not accepted (restore refuses it). */
  checkpointRefused?: string;
  /** Lines of the archive's config that were not applied (core/config/import.ts). */
  refused: RefusedKey[];
  /** Archive members not unpacked (device nodes, unknown entry types, xattrs). */
  skipped: string[];
}

/**
 * Unpacks an archive made by export into a new container NAME (default:
 * the exported name). Keeps the exported id slice when it is free and
 * delegated here; otherwise allocates a new slice. The archive is untrusted:
 * unpacked by the new container's root in its user namespace (files land on
 * its ids, no device nodes), its config reduced to what create writes, its
 * checkpoint kept only if this host signed it (then moved to the new slice
 * and signed again for the new container).
 */
export async function importContainer(
  igloo: Igloo,
  file: string,
  opts: { name?: string } = {},
): Promise<ImportResult> {
  requireRoot('import', opts.name ?? file);
  const containersDir = join(igloo.dirs.data, 'containers');
  await ensurePrivateDir(igloo.dirs.data);
  await mkdir(containersDir, { recursive: true, mode: 0o700 });
  const owner = await igloo.owner();
  return withFileLock(containersDir, async () => {
    const stage = join(igloo.dirs.data, `.import-${process.pid}-${Date.now().toString(36)}`);
    await mkdir(stage, { mode: 0o700 });
    try {
      const copy = join(stage, 'archive.tar');
      await copyArchive(file, copy);
      const manifest = await readExportManifest(copy, file);
      const name = opts.name ?? manifest.name;
      validateName(name);
      const paths = igloo.paths(name);
      if (await exists(paths.dir)) {
        throw new IglooError(
          'EEXIST',
          `Cannot import ${file} as "${name}": a container of that name exists`,
          {
            op: 'import-container',
            path: paths.dir,
            subject: name,
            hint: 'Give another name: igloo import-container FILE --name NEW',
          },
        );
      }
      const taken: IdRange[] = [];
      for (const other of await igloo.names()) {
        const c = await igloo.config(other).catch(() => undefined);
        if (c) taken.push(...outsideRanges(c.idmap.uid), ...outsideRanges(c.idmap.gid));
      }
      // The claimed map is used only when it is the importer's own: delegated
      // to them, used by none of their containers, and never host id 0.
      const delegation = await readDelegation(owner);
      const want = [...outsideRanges(manifest.idmap.uid), ...outsideRanges(manifest.idmap.gid)];
      const keep =
        !overlaps(want, taken) &&
        !want.some((r) => r.start === 0) &&
        manifest.idmap.uid.some((e) => e.inside === 0) &&
        manifest.idmap.gid.some((e) => e.inside === 0) &&
        within(outsideRanges(manifest.idmap.uid), delegation.uid) &&
        within(outsideRanges(manifest.idmap.gid), delegation.gid);
      let idmap = manifest.idmap;
      if (!keep) {
        // the size the archive asks for, within what create would give
        const size = Math.min(
          Math.max(65536, ...manifest.idmap.uid.map((e) => e.inside + e.count)),
          8 * 65536,
        );
        const slice = chooseSlice(intersectRanges(delegation.uid, delegation.gid), taken, {
          size,
        });
        const map = sliceMap(slice);
        idmap = { uid: map, gid: map };
      }

      // Unpacked by the new container's root, in its user namespace.
      const dest = join(stage, 'container');
      await mkdir(dest, { mode: 0o700 });
      await lchown(copy, toOutside(idmap.uid, 0, 'uid'), toOutside(idmap.gid, 0, 'gid'));
      const tasks = await import('./userns-task.ts');
      try {
        await tasks.runUsernsTask(idmap, owner, {
          kind: 'import-archive',
          archive: copy,
          shown: file,
          dest,
          from: manifest.idmap,
        });
      } catch (err) {
        // the task says why in its report, when it got that far
        const inner = await readReport(dest);
        if (inner?.error) {
          throw new IglooError('EUNSAFE', inner.error, {
            op: 'import-container',
            path: file,
            hint: 'The archive was not made by igloo export, or was changed by hand; nothing was imported',
          });
        }
        throw err;
      }
      await rm(copy, { force: true });
      const report = await readReport(dest);
      const skipped = report?.skipped ?? [];

      // The config: only what create would write.
      const configText = readUntrustedText(join(dest, 'config'), {
        op: 'read the config of the archive',
      });
      const reduced = reduceImportedConfig(configText, {
        name,
        rootfs: paths.rootfs,
        idmap,
        nestingMounts: nestingMounts(),
      });
      const newConfig = formatConfig(reduced.config);
      await rm(join(dest, 'config'), { force: true });
      await writeFile(join(dest, 'config'), newConfig, { mode: 0o644, flag: 'wx' });
      await rm(join(dest, IMPORT_REPORT), { force: true });

      // The checkpoint: only if this host signed it.
      let checkpointOk = false;
      let checkpointRefused: string | undefined;
      const cdir = join(dest, 'checkpoint');
      if (await exists(cdir)) {
        await ownCheckpoint(cdir);
        let m: CheckpointManifest | undefined;
        try {
          m = await readManifest(cdir, name);
        } catch (err) {
          checkpointRefused = err instanceof Error ? err.message : String(err);
        }
        if (m) {
          checkpointRefused =
            m.container === undefined
              ? 'it is not signed by this host (made by hand, by an older igloo, or elsewhere)'
              : !sameMap(m.idmap, manifest.idmap)
                ? 'its id map is not the one the archive claims'
                : await untrusted(m, cdir, m.container, configText);
        }
        if (m && checkpointRefused === undefined) {
          if (!keep) await remapCheckpoint(cdir, manifest.idmap, idmap);
          await signAndWrite(cdir, { ...m, idmap }, paths.dir, newConfig);
          checkpointOk = true;
        }
      }
      await rename(dest, paths.dir);
      await writeState(paths, {
        version: 1,
        status: 'stopped',
        lastExit: `imported from ${file}`,
        stoppedAt: new Date().toISOString(),
      });
      return {
        name,
        idmap,
        remapped: !keep,
        checkpoint: checkpointOk,
        ...(checkpointRefused !== undefined && { checkpointRefused }),
        refused: [...reduced.refused],
        skipped,
      };
    } finally {
      await rm(stage, { recursive: true, force: true });
    }
  });
}

/** The unpacking task's report (written by the container's root: read as untrusted). */
async function readReport(
  dest: string,
): Promise<{ skipped?: string[]; error?: string } | undefined> {
  try {
    const r = JSON.parse(
      readUntrustedText(join(dest, IMPORT_REPORT), { op: 'read the import report' }),
    ) as { skipped?: unknown; error?: unknown };
    return {
      ...(Array.isArray(r.skipped) && { skipped: r.skipped.map(String) }),
      ...(typeof r.error === 'string' && { error: r.error }),
    };
  } catch {
    return undefined;
  }
}

/**
 * The unpacked checkpoint becomes root's: the directory 0755 (criu opens
 * some images after it has taken the container's ids), each image a regular
 * file (anything else is removed and so breaks the signature), mode at most
 * 0644.
 */
async function ownCheckpoint(dir: string): Promise<void> {
  await lchown(dir, 0, 0);
  await chmod(dir, 0o755);
  for (const name of await readdir(dir)) {
    const path = join(dir, name);
    const st = await lstat(path);
    if (!st.isFile()) {
      await rm(path, { recursive: true, force: true });
      continue;
    }
    await lchown(path, 0, 0);
    await chmod(path, st.mode & 0o644);
  }
}
