/**
 * Checkpoint and restore with CRIU. Root only: CRIU needs
 * CAP_CHECKPOINT_RESTORE and more. Moving a container through an archive
 * (export / import-container) is lifecycle/transfer.ts; the manifest and
 * its signature, lifecycle/checkpoint-manifest.ts.
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
 * hand-made, edited, or made for another container.
 */
import { refuseUncheckpointableNet } from './network.ts';
import { execFile } from 'node:child_process';
import { lstat, mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type { Socket } from 'node:net';
import { validateName } from '../core/config/name.ts';
import { IglooError } from '../core/errors.ts';
import { toOutside } from '../core/idmap/index.ts';
import { requireCriu, criuEnv, type CriuInfo } from '../host/criu.ts';
import { fileSystemFull } from '../host/disk.ts';
import { helperReason, onHelperLines, parseHelperLine, spawnHelper } from '../host/helper.ts';
import { processStartTime } from '../host/proc.ts';
import { loadSeccompProfile } from '../host/seccomp.ts';
import { failpoint } from '../host/failpoint.ts';
import { withPrivateTempDir } from '../host/untrusted.ts';
import {
  defaultCheckpointDir,
  readManifest,
  requireRoot,
  sameMap,
  signAndWrite,
  untrusted,
  type CheckpointManifest,
} from './checkpoint-manifest.ts';
import { refuseOverlay } from './idmapped.ts';
import type { Igloo } from './igloo.ts';
import { checkpointCgroupArgs, restoreCgroupArgs, withFallbackLimits } from './limits.ts';
import { ensurePrivateDir } from './paths.ts';
import { writePreparedExec } from './prepared-plans.ts';
import { liveState, readConfig, removeRunDir, withContainerLock, writeState } from './store.ts';

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
  // and --manage-cgroups: soft for a container with a cgroup, else ignore
  // (limits.ts checkpointCgroupArgs / restoreCgroupArgs; without a cgroup
  // of its own, soft refuses a child with "cg: No set 1 found").
];

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

/** The last "Error" lines of a criu log, for messages. */
async function criuErrors(log: string): Promise<string> {
  const text = await readFile(log, 'utf8').catch(() => '');
  const lines = text
    .split('\n')
    .filter((l) => /Error \(/.test(l) && !/RLIMIT_NOFILE for self/.test(l))
    .map((l) => l.replace(/^\(\d+\.\d+\)\s*/, '').trim());
  return lines.slice(-3).join('; ') || 'no error in its log';
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
  refuseUncheckpointableNet(config, 'checkpoint');
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
    const cgroupArgs = await checkpointCgroupArgs(igloo, name, config);
    const tty = await consoleOf(state.pid);
    if (tty) await refuseDevTty(name, state.pid, tty.rdev);
    await mkdir(dirname(dir), { recursive: true, mode: 0o700 });
    // What a checkpoint killed before its end left beside DIR (the container lock is held).
    for (const e of await readdir(dirname(dir)))
      if (e.startsWith(`.${basename(dir)}.igloo-`))
        await rm(join(dirname(dir), e), { recursive: true, force: true });
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
        ...cgroupArgs,
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
        // on a full disk CRIU's own log is cut short too: say so from the file system
        const full = fileSystemFull(tmp);
        const why = full
          ? `no space left on device (ENOSPC) for the images in ${dirname(dir)}`
          : await criuErrors(join(tmp, 'dump.log'));
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
            hint: full
              ? `Free some space on the file system of ${dirname(dir)} (df -h ${dirname(dir)}), or checkpoint elsewhere with --dir; nothing was kept but the log ${log}`
              : /tty/.test(why)
                ? `A terminal of the container could not be dumped (see docs/criu.md, "Console"); the whole log: ${log}`
                : `See the whole log: ${log}`,
          },
        );
      }
      failpoint('checkpoint-dumped');
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
      failpoint('checkpoint-renamed');
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
  refuseUncheckpointableNet(config, 'restore');
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
    const cgroup = await restoreCgroupArgs(igloo, name, config, manifest.name);
    await mkdir(paths.rundir, { mode: 0o700 });
    failpoint('restore-rundir-made');
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
        ...cgroup.args,
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
    failpoint('restore-ready');
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const pidStart = (await processStartTime(pid)) ?? 0;
    await writeState(paths, {
      version: 1,
      status: 'running',
      pid,
      pidStart,
      startedAt: new Date().toISOString(),
    });
    // igloo exec without Node, as after a start (a speed-up only): into
    // the container's cgroups, or with RLIMIT_NPROC where it has none
    const runnable = await loadSeccompProfile(config);
    await writePreparedExec(paths, cgroup.procs ? runnable : withFallbackLimits(runnable), {
      pid,
      start: pidStart,
      ...(cgroup.procs && { cgroups: cgroup.procs }),
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
