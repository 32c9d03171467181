/**
 * Container engines driving an OCI runtime (issue 16), for
 * test/integration/oci-{podman,containerd}.test.ts and bench/oci.ts:
 *
 * - the runtime under test: dist/bin/igloo-runc (a copy every user can run),
 *   or what IGLOO_OCI_TEST_RUNTIME names (runc, crun or a path) while the
 *   harness is developed against a runtime that already works;
 * - an image the test writes itself: a busybox root filesystem from the
 *   host's static busybox, in a docker-archive that `podman load` and
 *   `ctr images import` both read;
 * - a logging wrapper around the runtime (argv of every call, and the
 *   process/resources JSON it was handed), so a failure shows what the
 *   engine asked for;
 * - podman with private storage (--root/--runroot/--tmpdir, a containers.conf
 *   and storage.conf of the test's own), as root or as a test user;
 * - a containerd of the test's own (root, state and socket in a temporary
 *   directory) with `ctr` bound to it.
 *
 * Everything registers its undo with the test's Cleanup: containers, images,
 * daemons, shims, conmon, mounts, cgroups and directories go even when the
 * test fails.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chownSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmdirSync,
  writeFileSync,
  chmodSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { makeTar, type TarEntry } from './oci.ts';
import {
  root,
  runAs,
  stagedCli,
  tempDir,
  type Cleanup,
  type RunResult,
  type TestUser,
} from './host.ts';

/** The name the engines know the runtime by (containers.conf, the wrapper's file name). */
export const RUNTIME_NAME = 'igloo-runc';

export interface RuntimeUnderTest {
  /** igloo-runc, runc, crun or the path given */
  readonly label: string;
  /** an absolute path every user can run */
  readonly path: string;
}

/** The v2 hierarchy beside the v1 ones on a hybrid host such as this one. */
export const CGROUP2 = '/sys/fs/cgroup/unified';

/**
 * ARGV in a mount namespace of its own without the v2 hierarchy (as root):
 * crun refuses this host's hybrid layout otherwise.
 */
export function withoutCgroup2(argv: readonly string[]): string[] {
  const script = `umount ${CGROUP2} && exec "$@"`;
  return ['unshare', '-m', '--propagation', 'private', 'sh', '-c', script, 'sh', ...argv];
}

/** A private criu new enough for this kernel (scripts/install-criu.sh), put first on the runtime's PATH. */
const PRIVATE_CRIU = '/opt/igloo/criu/bin';

/**
 * The runtime the engine tests drive: dist/bin/igloo-runc from the build
 * (staged where every user can run it), unless IGLOO_OCI_TEST_RUNTIME says
 * otherwise. A missing runtime fails loudly.
 */
export function runtimeUnderTest(cleanup: Cleanup): RuntimeUnderTest {
  const wanted = process.env.IGLOO_OCI_TEST_RUNTIME;
  if (wanted) return hostRuntime(wanted);
  const built = join(process.env.IGLOO_DIST ?? join(root, 'dist'), 'bin', RUNTIME_NAME);
  if (!existsSync(built))
    throw new Error(
      `${built} is missing: build it (node scripts/build.mjs), or name another runtime for a trial run (IGLOO_OCI_TEST_RUNTIME=runc)`,
    );
  return { label: RUNTIME_NAME, path: join(dirname(stagedCli(cleanup)), 'bin', RUNTIME_NAME) };
}

/** runc, crun (found on PATH) or an absolute path. */
export function hostRuntime(nameOrPath: string): RuntimeUnderTest {
  if (nameOrPath.startsWith('/')) {
    if (!existsSync(nameOrPath)) throw new Error(`runtime ${nameOrPath} does not exist`);
    return { label: nameOrPath, path: nameOrPath };
  }
  const found = spawnSync('sh', ['-c', `command -v ${nameOrPath}`], { encoding: 'utf8' });
  const path = found.stdout.trim();
  if (found.status !== 0 || !path)
    throw new Error(`runtime ${nameOrPath} is not installed (scripts/install.sh installs runc)`);
  return { label: nameOrPath, path };
}

// ---------------------------------------------------------------------------
// The image

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** A busybox root filesystem as one layer: the host's static busybox and a link per applet. */
export function busyboxLayer(): Buffer {
  const busybox = readFileSync('/bin/busybox');
  const listed = spawnSync('/bin/busybox', ['--list-full'], { encoding: 'utf8' });
  if (listed.status !== 0) throw new Error(`busybox --list-full: ${listed.stderr}`);
  const entries: TarEntry[] = [];
  const dirs = ['bin/', 'sbin/', 'usr/', 'usr/bin/', 'usr/sbin/', 'etc/', 'root/', 'var/'];
  for (const d of [...dirs, 'dev/', 'proc/', 'sys/', 'run/'])
    entries.push({ path: d, type: 'dir', mode: d === 'root/' ? 0o700 : 0o755 });
  entries.push({ path: 'tmp/', type: 'dir', mode: 0o1777 });
  entries.push({ path: 'bin/busybox', data: busybox, mode: 0o755 });
  for (const applet of listed.stdout.split('\n').filter(Boolean)) {
    if (applet === 'bin/busybox' || !dirs.includes(`${dirname(applet)}/`)) continue;
    const depth = applet.split('/').length - 1;
    entries.push({ path: applet, type: 'symlink', linkpath: `${'../'.repeat(depth)}bin/busybox` });
  }
  entries.push({
    path: 'etc/passwd',
    data: 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n',
  });
  entries.push({ path: 'etc/group', data: 'root:x:0:\nnogroup:x:65534:\n' });
  return makeTar(entries);
}

/**
 * A docker-archive (`docker save` layout) of the busybox layer, tagged TAG
 * (localhost/NAME:TAG): podman load and ctr images import both read it.
 */
export function busyboxArchive(tag: string): Buffer {
  const layer = busyboxLayer();
  const arch = process.arch === 'x64' ? 'amd64' : process.arch;
  const config = JSON.stringify({
    architecture: arch,
    os: 'linux',
    config: { Env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['/bin/sh'] },
    rootfs: { type: 'layers', diff_ids: [`sha256:${sha256(layer)}`] },
  });
  const configName = `${sha256(config)}.json`;
  return makeTar([
    { path: `${sha256(layer)}/`, type: 'dir' },
    { path: `${sha256(layer)}/layer.tar`, data: layer },
    { path: configName, data: config },
    {
      path: 'manifest.json',
      data: JSON.stringify([
        { Config: configName, RepoTags: [tag], Layers: [`${sha256(layer)}/layer.tar`] },
      ]),
    },
  ]);
}

// ---------------------------------------------------------------------------
// The logging wrapper

export interface LoggingRuntime {
  /** the script to hand the engine */
  readonly path: string;
  readonly log: string;
  /** one entry per call: the argv after the runtime's name */
  calls(): string[];
  /** the log as text, for failure messages */
  text(): string;
}

/**
 * A script named igloo-runc in DIR that appends its argv (and the JSON of
 * --process / --resources files) to DIR/runtime.log and execs the real
 * runtime, so a failure shows the exact calls. With OWNER the files belong
 * to that user (a rootless engine calls it as them).
 */
export function loggingRuntime(
  dir: string,
  real: RuntimeUnderTest,
  owner?: TestUser,
): LoggingRuntime {
  const path = join(dir, RUNTIME_NAME);
  const log = join(dir, 'runtime.log');
  writeFileSync(
    path,
    `#!/bin/bash
# Logs each call of the engine, then runs ${real.label}. Written by test/support/oci-engines.ts.
log=${JSON.stringify(log)}
{
  printf 'CALL uid=%s' "$(id -u)"
  for a in "$@"; do printf ' %q' "$a"; done
  printf '\\n'
  prev=
  for a in "$@"; do
    case "$prev" in --process|--resources) [ -f "$a" ] && { printf '  %s: ' "$prev"; tr -d '\\n' <"$a"; printf '\\n'; } ;; esac
    case "$a" in --process=*|--resources=*) f="\${a#*=}"; [ -f "$f" ] && { printf '  %s: ' "\${a%%=*}"; tr -d '\\n' <"$f"; printf '\\n'; } ;; esac
    prev="$a"
  done
} >>"$log" 2>/dev/null
[ -d ${PRIVATE_CRIU} ] && export PATH=${PRIVATE_CRIU}:$PATH
exec ${JSON.stringify(real.path)} "$@"
`,
    { mode: 0o755 },
  );
  writeFileSync(log, '', { mode: 0o644 });
  if (owner) {
    chownSync(path, owner.uid, owner.gid);
    chownSync(log, owner.uid, owner.gid);
  }
  const text = () => (existsSync(log) ? readFileSync(log, 'utf8') : '');
  return {
    path,
    log,
    text,
    calls: () =>
      text()
        .split('\n')
        .filter((l) => l.startsWith('CALL '))
        .map((l) => l.replace(/^CALL uid=\d+ /, '')),
  };
}

// ---------------------------------------------------------------------------
// A terminal

export interface PtyStep {
  /** text typed on the terminal */
  send?: string;
  /** a regular expression the transcript must show (after what earlier steps saw) */
  expect?: string;
}

const PTY_DRIVER = String.raw`
import json, os, pty, re, select, sys, time
steps, timeout = json.loads(sys.argv[1]), float(sys.argv[2])
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[3], sys.argv[3:])
out, at = b"", 0
def more(deadline):
    global out
    left = deadline - time.monotonic()
    if left <= 0:
        return False
    r, _, _ = select.select([fd], [], [], left)
    if not r:
        return False
    try:
        data = os.read(fd, 65536)
    except OSError:
        data = b""
    if not data:
        return None
    out += data
    return True
status = 0
try:
    for step in steps:
        if "send" in step:
            os.write(fd, step["send"].encode())
        if "expect" in step:
            pat, deadline = re.compile(step["expect"].encode()), time.monotonic() + timeout
            while True:
                m = pat.search(out, at)
                if m:
                    at = m.end()
                    break
                got = more(deadline)
                if not got:
                    raise TimeoutError(step["expect"] + (" (the terminal closed)" if got is None else ""))
    deadline = time.monotonic() + timeout
    while more(deadline):
        pass
    _, st = os.waitpid(pid, os.WNOHANG)
    while _ == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
        _, st = os.waitpid(pid, os.WNOHANG)
    if _ == 0:
        raise TimeoutError("the command to exit")
    status = os.waitstatus_to_exitcode(st)
except TimeoutError as e:
    sys.stderr.write("ptydrive: timed out waiting for %s\n" % e)
    try:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    except OSError:
        pass
    status = 124
sys.stdout.write(out.decode(errors="replace"))
sys.exit(status if status >= 0 else 128 - status)
`;

/**
 * Runs ARGV as USER on a new pty (its controlling terminal), typing and
 * waiting as STEPS say, then waits for it to exit. Status 124: a step timed
 * out (stderr says which). stdout is the transcript.
 */
export function ptyDrive(
  user: TestUser | 'root',
  argv: readonly string[],
  steps: readonly PtyStep[],
  opts: { env?: Record<string, string>; timeoutS?: number } = {},
): Promise<RunResult> {
  const timeoutS = opts.timeoutS ?? 30;
  return runAs(
    user,
    ['python3', '-c', PTY_DRIVER, JSON.stringify(steps), String(timeoutS), ...argv],
    { env: opts.env, timeoutMs: (timeoutS * (steps.length + 2) + 10) * 1000 },
  );
}

// ---------------------------------------------------------------------------
// Host leftovers

/** Mount points at or below DIR, deepest first (from this mount namespace). */
function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m): m is string => !!m && (m === dir || m.startsWith(`${dir}/`)))
    .map((m) => m.replace(/\\040/g, ' '))
    .sort((a, b) => b.length - a.length);
}

/** Lazily unmounts everything at or below DIR; throws if something stays. */
export function unmountUnder(dir: string): void {
  for (const m of mountsUnder(dir)) spawnSync('umount', ['-l', m]);
  const left = mountsUnder(dir);
  if (left.length) throw new Error(`still mounted under ${dir}: ${left.join(', ')}`);
}

/** Host pids whose command line mentions DIR (conmon, shims, daemons the test started). */
export function processesMentioning(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmdline.includes(dir)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

function kill(pids: number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/** Waits (polling) until CHECK holds, or throws WHAT after timeoutMs. */
export async function waitUntil(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Kills what still mentions DIR (SIGTERM, then SIGKILL) and waits until it is gone. */
export async function killProcessesMentioning(dir: string): Promise<void> {
  kill(processesMentioning(dir), 'SIGTERM');
  try {
    await waitUntil(() => processesMentioning(dir).length === 0, `processes of ${dir}`, 3000);
  } catch {
    kill(processesMentioning(dir), 'SIGKILL');
    await waitUntil(() => processesMentioning(dir).length === 0, `processes of ${dir}`, 5000);
  }
}

/**
 * Removes the cgroup REL (e.g. "libpod_parent/libpod-ID") in every v1
 * hierarchy and in the v2 one, killing what is still inside first.
 */
export async function removeCgroup(rel: string): Promise<void> {
  const bases = readdirSync('/sys/fs/cgroup').map((c) => join('/sys/fs/cgroup', c));
  const dirs = bases.map((b) => join(b, rel)).filter((d) => existsSync(d));
  const below = (d: string): string[] =>
    readdirSync(d, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .flatMap((e) => [...below(join(d, e.name)), join(d, e.name)]);
  for (const d of dirs) {
    for (const sub of [...below(d), d]) {
      const procs = join(sub, 'cgroup.procs');
      const pids = existsSync(procs)
        ? readFileSync(procs, 'utf8').split('\n').filter(Boolean).map(Number)
        : [];
      kill(pids, 'SIGKILL');
      await waitUntil(
        () => !existsSync(procs) || readFileSync(procs, 'utf8').trim() === '',
        `the processes of ${sub} to die`,
        5000,
      );
      rmdirSync(sub);
    }
  }
}

// ---------------------------------------------------------------------------
// podman

type Runner = (
  args: readonly string[],
  opts?: { input?: string; timeoutMs?: number },
) => Promise<RunResult>;

/** RUN, throwing with the engine's stderr and the runtime's calls when it fails. */
function checked(engine: string, run: Runner, runtime: LoggingRuntime): Runner {
  return async (args, opts) => {
    const r = await run(args, opts);
    if (r.status !== 0)
      throw new Error(
        `${engine} ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr || r.stdout}\nruntime calls:\n${runtime.text()}`,
      );
    return r;
  };
}

/** The host's hard limit of one resource, as /proc/self/limits shows it. */
function hardLimit(name: string): number {
  const line = readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(name));
  const hard = line?.slice(26).trim().split(/\s+/)[1];
  return hard === undefined || hard === 'unlimited' ? Infinity : Number(hard);
}

export interface Podman {
  readonly dir: string;
  readonly user: TestUser | 'root';
  readonly runtime: LoggingRuntime;
  /** the environment podman runs with (CONTAINERS_CONF and friends) */
  readonly env: Record<string, string>;
  /** `podman GLOBAL-FLAGS --runtime igloo-runc ARGS...` */
  argv(args: readonly string[]): string[];
  /** the same with another runtime (a path: runc, crun, igloo-runc itself, for the bench) */
  argvWith(runtime: string, args: readonly string[]): string[];
  run(args: readonly string[], opts?: { input?: string; timeoutMs?: number }): Promise<RunResult>;
  /** like run, but throws with podman's stderr and the runtime's log when it fails */
  ok(args: readonly string[], opts?: { input?: string; timeoutMs?: number }): Promise<RunResult>;
}

/**
 * A podman of the test's own: storage, run and temporary directories,
 * containers.conf (cgroupfs, file events, no network, rlimits within the
 * host's, igloo-runc = the logging wrapper and listed in
 * runtime_supports_json) and storage.conf in a new directory, owned by USER
 * when rootless (with an XDG_RUNTIME_DIR made here). IMAGE is loaded from the
 * archive the test wrote. Cleanup removes every container, podman's
 * processes (conmon; the rootless pause process), the cgroups of root's
 * containers, the mounts and the directory.
 */
export async function podman(
  cleanup: Cleanup,
  opts: { user: TestUser | 'root'; runtime: RuntimeUnderTest; image: string },
): Promise<Podman> {
  const { user } = opts;
  const dir = tempDir(cleanup, 'igloo-podman-', 0o755);
  const owned = (path: string, mode: number) => {
    mkdirSync(path, { recursive: true, mode });
    chmodSync(path, mode);
    if (user !== 'root') chownSync(path, user.uid, user.gid);
    return path;
  };
  if (user !== 'root') chownSync(dir, user.uid, user.gid);
  const paths = {
    graph: owned(join(dir, 'storage'), 0o700),
    run: owned(join(dir, 'run'), 0o700),
    tmp: owned(join(dir, 'tmp'), 0o700),
    xdg: owned(join(dir, 'xdg'), 0o700),
    volumes: owned(join(dir, 'volumes'), 0o700),
    networks: owned(join(dir, 'networks'), 0o700),
    vartmp: owned(join(dir, 'vartmp'), 0o700),
  };
  const runtime = loggingRuntime(dir, opts.runtime, user === 'root' ? undefined : user);
  // Podman's defaults (nofile 1048576, nproc 4194304 as root) need
  // CAP_SYS_RESOURCE, which root may lack (it does in this project's sandbox):
  // every runtime then fails setrlimit. Stay within the host's hard limits.
  const nofile = Math.min(4096, hardLimit('Max open files'));
  const nproc = Math.min(4096, hardLimit('Max processes'));
  const conf = join(dir, 'containers.conf');
  writeFileSync(
    conf,
    `# written by test/support/oci-engines.ts
[containers]
netns = "none"
log_driver = "k8s-file"
default_ulimits = ["nofile=${nofile}:${nofile}", "nproc=${nproc}:${nproc}"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "${join(dir, 'events.log')}"
static_dir = "${join(paths.graph, 'libpod')}"
tmp_dir = "${paths.tmp}"
volume_path = "${paths.volumes}"
runtime_supports_json = ["${RUNTIME_NAME}", "crun", "runc"]

[engine.runtimes]
${RUNTIME_NAME} = ["${runtime.path}"]

[network]
network_config_dir = "${paths.networks}"
`,
  );
  const storage = join(dir, 'storage.conf');
  writeFileSync(
    storage,
    `[storage]\ndriver = "overlay"\ngraphroot = "${paths.graph}"\nrunroot = "${paths.run}"\n`,
  );
  const registries = join(dir, 'registries.conf');
  writeFileSync(registries, 'unqualified-search-registries = []\n');
  const env: Record<string, string> = {
    CONTAINERS_CONF: conf,
    CONTAINERS_STORAGE_CONF: storage,
    CONTAINERS_REGISTRIES_CONF: registries,
    TMPDIR: paths.vartmp,
    ...(user === 'root' ? {} : { XDG_RUNTIME_DIR: paths.xdg }),
  };
  const global = [
    '--root',
    paths.graph,
    '--runroot',
    paths.run,
    '--tmpdir',
    paths.tmp,
    '--storage-driver',
    'overlay',
    // Rootless, igloo-runc runs as uid 0 of podman's user namespace and keeps
    // its state in $XDG_RUNTIME_DIR/igloo-runc (podman passes no --root), as
    // runc does: oci-podman.test.ts checks it lands there.
  ];
  const argvWith = (rt: string, args: readonly string[]) => [
    'podman',
    ...global,
    '--runtime',
    rt,
    ...args,
  ];
  const argv = (args: readonly string[]) => argvWith(RUNTIME_NAME, args);
  const run = (args: readonly string[], o: { input?: string; timeoutMs?: number } = {}) =>
    runAs(user, argv(args), { env, ...o });
  const self: Podman = {
    dir,
    user,
    runtime,
    env,
    argv,
    argvWith,
    run,
    ok: checked('podman', run, runtime),
  };
  cleanup.add(`podman leftovers in ${dir}`, async () => {
    const ids = (await run(['ps', '-aq', '--no-trunc'])).stdout.split('\n').filter(Boolean);
    await run(['rm', '-af', '-t', '0'], { timeoutMs: 60_000 });
    if (user !== 'root') spawnSync('pkill', ['-KILL', '-u', user.name]); // the pause process
    await killProcessesMentioning(dir); // conmon of a container rm could not stop
    for (const id of ids) await removeCgroup(`libpod_parent/libpod-${id}`);
    unmountUnder(dir);
  });
  const archive = join(dir, 'image.tar');
  writeFileSync(archive, busyboxArchive(opts.image), { mode: 0o644 });
  await self.ok(['load', '-i', archive]);
  return self;
}

// ---------------------------------------------------------------------------
// containerd

export interface Containerd {
  readonly dir: string;
  readonly namespace: string;
  readonly runtime: LoggingRuntime;
  /** the state directory the runtime keeps (ctr run --runc-root) */
  readonly runtimeRoot: string;
  /** `ctr -a SOCKET -n NAMESPACE ARGS...` */
  argv(args: readonly string[]): string[];
  ctr(args: readonly string[], opts?: { input?: string; timeoutMs?: number }): Promise<RunResult>;
  ok(args: readonly string[], opts?: { input?: string; timeoutMs?: number }): Promise<RunResult>;
  /** the flags `ctr run` needs to use the runtime under test, or BINARY (and this test's directories) */
  runFlags(binary?: string): string[];
}

/**
 * A containerd of the test's own, as root: `containerd --config F` with its
 * root, state, sockets and opt directory in a new directory, the CRI plugin
 * off. IMAGE is imported from the archive the test wrote, in a namespace
 * named after the directory. Cleanup kills and deletes every task and
 * container, stops containerd, kills its shims, removes the containers'
 * cgroups (/NAMESPACE in each hierarchy), the mounts and the directory.
 */
export async function containerd(
  cleanup: Cleanup,
  opts: {
    runtime: RuntimeUnderTest;
    image: string;
    /**
     * Runs containerd (so its shims and runtimes) in a mount namespace of
     * its own without /sys/fs/cgroup/unified: crun refuses this host's
     * hybrid layout otherwise (bench/oci.ts).
     */
    hideCgroup2?: boolean;
  },
): Promise<Containerd> {
  const dir = tempDir(cleanup, 'igloo-containerd-', 0o711);
  const namespace = `igloo-test-${dir
    .slice(-6)
    .toLowerCase()
    .replace(/[^a-z0-9]/g, 'x')}`;
  const socket = join(dir, 'containerd.sock');
  const config = join(dir, 'config.toml');
  const runtimeRoot = join(dir, 'runtime-root');
  mkdirSync(runtimeRoot, { mode: 0o700 });
  mkdirSync(join(dir, 'fifo'), { mode: 0o700 });
  writeFileSync(
    config,
    `# written by test/support/oci-engines.ts
version = 2
root = "${join(dir, 'root')}"
state = "${join(dir, 'state')}"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.internal.v1.tracing", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "${socket}"
[ttrpc]
  address = "${socket}.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "${join(dir, 'opt')}"
`,
  );
  const runtime = loggingRuntime(dir, opts.runtime);
  const argv = (args: readonly string[]) => ['ctr', '-a', socket, '-n', namespace, ...args];
  const ctr = (args: readonly string[], o: { input?: string; timeoutMs?: number } = {}) =>
    runAs('root', argv(args), o);
  const logFile = join(dir, 'containerd.log');
  writeFileSync(logFile, '');
  const daemonArgv = [
    'sh',
    '-c',
    'exec containerd --config "$1" >>"$2" 2>&1',
    'sh',
    config,
    logFile,
  ];
  const [command, ...args] = opts.hideCgroup2 ? withoutCgroup2(daemonArgv) : daemonArgv;
  const daemon = spawn(command!, args, {
    stdio: 'ignore',
    detached: true,
  });
  const exited = new Promise<void>((resolve) => daemon.on('exit', () => resolve()));
  let alive = true;
  void exited.then(() => (alive = false));
  cleanup.add(`stop containerd of ${dir}`, async () => {
    if (existsSync(socket)) {
      const tasks = (await ctr(['tasks', 'ls', '-q'])).stdout.split('\n').filter(Boolean);
      for (const t of tasks) await ctr(['tasks', 'kill', '-a', '-s', 'SIGKILL', t]);
      for (const t of tasks) await ctr(['tasks', 'rm', '-f', t]);
      const cs = (await ctr(['containers', 'ls', '-q'])).stdout.split('\n').filter(Boolean);
      if (cs.length) await ctr(['containers', 'rm', ...cs]);
    }
    if (alive) {
      daemon.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (alive) daemon.kill('SIGKILL');
      await exited;
    }
    await killProcessesMentioning(dir); // shims
    await removeCgroup(namespace);
    unmountUnder(dir);
  });
  await waitUntil(
    async () => {
      if (!alive)
        throw new Error(`containerd exited: ${readFileSync(logFile, 'utf8').slice(-2000)}`);
      return existsSync(socket) && (await ctr(['version'])).status === 0;
    },
    `containerd to serve ${socket}`,
    20_000,
  );
  const self: Containerd = {
    dir,
    namespace,
    runtime,
    runtimeRoot,
    argv,
    ctr,
    ok: checked('ctr', ctr, runtime),
    runFlags: (binary = runtime.path) => [
      '--runc-binary',
      binary,
      '--runc-root',
      runtimeRoot,
      '--fifo-dir',
      join(dir, 'fifo'),
    ],
  };
  const archive = join(dir, 'image.tar');
  writeFileSync(archive, busyboxArchive(opts.image));
  await self.ok(['images', 'import', archive]);
  return self;
}

/** The target of /proc/PID/ns/NAME ("pid:[4026531836]"). */
export function nsOf(pid: number, name: string): string {
  return readlinkSync(`/proc/${pid}/ns/${name}`);
}
