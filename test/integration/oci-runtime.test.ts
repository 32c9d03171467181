/**
 * igloo-runc driven directly, as an engine drives it, on bundles this test
 * makes (a busybox rootfs). An engine is the subreaper of what the runtime
 * leaves running (conmon, the containerd shim); here a small python
 * "engine" plays that part: it is a child subreaper, runs each igloo-runc
 * command it is sent, and reaps the containers' processes once they end.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  Cleanup,
  createUser,
  delegate,
  procStatus,
  requireRoot,
  stagedCli,
  tempDir,
  type TestUser,
} from '../support/host.ts';

/** config.json as the tests edit it: any JSON. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Cfg = any;

const cleanup = new Cleanup();
let runc: string;
let work: string;
let rootEngine: Engine;

/** The engine: a subreaper that runs igloo-runc commands sent as JSON lines. */
const ENGINE_PY = String.raw`
import ctypes, json, os, shutil, subprocess, sys, tempfile
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
def reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
# The runtime's stdout and stderr are files, not pipes: a container created
# by it keeps them (they are its stdio), and a pipe would never reach EOF.
n = 0
tmp = tempfile.mkdtemp(prefix='igloo-oci-engine-')
for line in sys.stdin:
    req = json.loads(line)
    n += 1
    out_path = req.get('log') or '%s/out.%d' % (tmp, n)
    err_path = '%s/err.%d' % (tmp, n)
    with open(out_path, 'ab') as out, open(err_path, 'wb') as err:
        try:
            code = subprocess.Popen(req['argv'], stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=err, env=req.get('env')).wait()
        except OSError as x:
            err.write(str(x).encode())
            code = 127
    reap()
    o = b'' if req.get('log') else open(out_path, 'rb').read()
    e = open(err_path, 'rb').read()
    print(json.dumps({'code': code, 'stdout': o.decode(errors='replace'),
                      'stderr': e.decode(errors='replace')}), flush=True)
reap()
shutil.rmtree(tmp)
`;
import { until } from '../support/wait.ts';

/** A tiny console-socket receiver: gets the pty master by SCM_RIGHTS, types CMD, prints what comes back. */
const CONSOLE_PY = String.raw`
import array, os, socket, sys, select

path, cmd = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path); s.listen(1)
print('listening', flush=True)
c, _ = s.accept()
fds = array.array('i')
msg, anc, _, _ = c.recvmsg(64, socket.CMSG_LEN(fds.itemsize))
for level, kind, data in anc:
    fds.frombytes(data[:fds.itemsize])
print('name', msg.decode(), flush=True)
m = fds[0]
os.write(m, cmd.encode())
out = b''
while True:
    r, _, _ = select.select([m], [], [], 10)
    if not r: break
    try: d = os.read(m, 4096)
    except OSError: break
    if not d: break
    out += d
print('out', repr(out.decode(errors='replace')), flush=True)
`;

interface Reply {
  code: number;
  stdout: string;
  stderr: string;
}

class Engine {
  private readonly child: ChildProcessWithoutNullStreams;
  private buf = '';
  private waiting: ((r: Reply) => void)[] = [];
  constructor(
    script: string,
    readonly as: TestUser | 'root',
    private readonly root: string,
    private readonly env: Record<string, string> = {},
  ) {
    const argv =
      as === 'root' ? ['python3', script] : ['runuser', '-u', as.name, '--', 'python3', script];
    this.child = spawn(argv[0]!, argv.slice(1), { stdio: 'pipe' });
    this.child.stdout.setEncoding('utf8').on('data', (d: string) => {
      this.buf += d;
      let i;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 1);
        this.waiting.shift()?.(JSON.parse(line) as Reply);
      }
    });
    this.child.stderr.on('data', (d) => process.stderr.write(d));
  }
  get pid(): number {
    return this.child.pid!;
  }
  /** Runs `igloo-runc --root ROOT ARGS...`; with LOG, its stdout (the container's, for create) goes there. */
  run(args: readonly string[], log?: string): Promise<Reply> {
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      const env = { PATH: process.env.PATH!, ...this.env };
      this.child.stdin.write(
        `${JSON.stringify({ argv: [runc, '--root', this.root, ...args], log, env })}\n`,
      );
    });
  }
  async ok(args: readonly string[], log?: string): Promise<Reply> {
    const r = await this.run(args, log);
    assert.equal(r.code, 0, `igloo-runc ${args.join(' ')}: ${r.stderr}`);
    return r;
  }
  async state(id: string): Promise<{ status: string; pid: number; id: string; bundle: string }> {
    return JSON.parse((await this.ok(['state', id])).stdout);
  }
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.child.on('close', () => resolve());
      this.child.stdin.end();
    });
  }
}

const BUSYBOX = ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p))!;

/** A bundle: a busybox rootfs and `igloo-runc spec`'s config with CHANGE applied. */
function bundle(name: string, change: (c: Cfg) => void, owner?: TestUser): string {
  const dir = join(work, name);
  const rootfs = join(dir, 'rootfs');
  for (const d of ['bin', 'proc', 'dev', 'sys', 'tmp', 'etc'].map((d) => join(rootfs, d)))
    mkdirSync(d, { recursive: true });
  copyFileSync(BUSYBOX, join(rootfs, 'bin/busybox'));
  chmodSync(join(rootfs, 'bin/busybox'), 0o755);
  for (const a of [
    'sh',
    'id',
    'ls',
    'cat',
    'sleep',
    'echo',
    'mkdir',
    'hostname',
    'readlink',
    'wc',
    'mknod',
  ])
    symlinkSync('busybox', join(rootfs, 'bin', a));
  const spec = spawnSync(runc, ['spec', '--bundle', dir], { encoding: 'utf8' });
  assert.equal(spec.status, 0, spec.stderr);
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  config.process.terminal = false;
  config.process.args = ['sleep', '1000'];
  config.root.readonly = false;
  change(config);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  if (owner) spawnSync('chown', ['-R', `${owner.uid}:${owner.gid}`, dir]);
  return dir;
}

before(async () => {
  requireRoot();
  // stagedCli is the staged dist/igloo.mjs: igloo-runc is beside it, in bin/
  runc = join(dirname(stagedCli(cleanup)), 'bin/igloo-runc');
  work = tempDir(cleanup, 'igloo-oci-', 0o755);
  writeFileSync(join(work, 'engine.py'), ENGINE_PY);
  writeFileSync(join(work, 'console.py'), CONSOLE_PY);
  rootEngine = new Engine(join(work, 'engine.py'), 'root', join(work, 'state'));
  cleanup.add('stop the root engine', () => rootEngine.close());
  cleanup.add('delete every container', async () => {
    for (const id of (await rootEngine.run(['list', '-q'])).stdout.split('\n').filter(Boolean))
      await rootEngine.run(['delete', '--force', id]);
  });
});
after(() => cleanup.run());

describe('igloo-runc as root', () => {
  test('create, state created, start, running, exec, kill, stopped, delete', async () => {
    const b = bundle('life', () => undefined);
    const pidFile = join(work, 'life.pid');
    await rootEngine.ok(['create', '--bundle', b, '--pid-file', pidFile, 'life']);
    const created = await rootEngine.state('life');
    assert.equal(created.status, 'created');
    assert.equal(created.bundle, b);
    assert.equal(Number(readFileSync(pidFile, 'utf8')), created.pid);
    // init waits at the exec fifo: it is still the helper's binary, not sleep
    assert.match(readlinkSync(`/proc/${created.pid}/exe`), /igloo-helper/);
    assert.equal(procStatus(created.pid).PPid, String(rootEngine.pid), 'the engine is its parent');

    await rootEngine.ok(['start', 'life']);
    await until('sleep runs', () => readlinkSync(`/proc/${created.pid}/exe`).endsWith('busybox'));
    assert.equal((await rootEngine.state('life')).status, 'running');
    const again = await rootEngine.run(['start', 'life']);
    assert.notEqual(again.code, 0, 'a container starts once');

    const exec = await rootEngine.ok(['exec', 'life', 'sh', '-c', 'echo $(id -u) $(hostname) $$']);
    const [uid, hostname] = exec.stdout.trim().split(' ');
    assert.equal(uid, '0');
    assert.equal(hostname, 'igloo');
    const ps = JSON.parse((await rootEngine.ok(['ps', '--format', 'json', 'life'])).stdout);
    assert.deepEqual(ps, [created.pid]);

    await rootEngine.ok(['kill', 'life', '9']);
    await until('stopped', async () => (await rootEngine.state('life')).status === 'stopped');
    assert.equal((await rootEngine.state('life')).pid, 0);
    await rootEngine.ok(['delete', 'life']);
    const gone = await rootEngine.run(['state', 'life']);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /container ID does not exist/);
    assert.equal(gone.stderr.trim().split('\n').length, 1, 'one line on stderr');
  });

  test('kill takes names with and without SIG, and delete --force ends a running container', async () => {
    const b = bundle('sig', () => undefined);
    await rootEngine.ok(['create', '--bundle', b, 'sig']);
    await rootEngine.ok(['start', 'sig']);
    const { pid } = await rootEngine.state('sig');
    await rootEngine.ok(['kill', 'sig', 'SIGCONT']);
    await rootEngine.ok(['kill', 'sig', 'cont']);
    const bad = await rootEngine.run(['kill', 'sig', 'SIGNOPE']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /Invalid signal "SIGNOPE"/);
    const refused = await rootEngine.run(['delete', 'sig']);
    assert.equal(refused.code, 1, 'a running container is not deleted without --force');
    await rootEngine.ok(['delete', '--force', 'sig']);
    assert.ok(!existsSync(join(work, 'state/sig')));
    await until('init is reaped', () => !existsSync(`/proc/${pid}`));
  });

  test('cgroups: resources applied, pause and resume, update, a devices cgroup, removed by delete', async () => {
    const b = bundle('cg', (c) => {
      c.linux.resources = { pids: { limit: 64 }, devices: [{ allow: false, access: 'rwm' }] };
    });
    await rootEngine.ok(['create', '--bundle', b, 'cg']);
    await rootEngine.ok(['start', 'cg']);
    const { pid } = await rootEngine.state('cg');
    const cgroupOf = (controller: string) =>
      readFileSync(`/proc/${pid}/cgroup`, 'utf8')
        .split('\n')
        .find((l) => l.split(':')[1]!.split(',').includes(controller))!
        .split(':')[2]!;
    const pidsDir = join('/sys/fs/cgroup/pids', cgroupOf('pids'));
    assert.equal(cgroupOf('pids'), '/igloo-runc/cg');
    assert.equal(readFileSync(join(pidsDir, 'pids.max'), 'utf8').trim(), '64');
    await rootEngine.ok(['pause', 'cg']);
    assert.equal((await rootEngine.state('cg')).status, 'paused');
    await rootEngine.ok(['resume', 'cg']);
    assert.equal((await rootEngine.state('cg')).status, 'running');
    await rootEngine.ok(['update', '--pids-limit', '99', 'cg']);
    assert.equal(readFileSync(join(pidsDir, 'pids.max'), 'utf8').trim(), '99');
    const res = join(work, 'res.json');
    writeFileSync(res, JSON.stringify({ pids: { limit: 77 } }));
    await rootEngine.ok(['update', `--resources=${res}`, 'cg']);
    assert.equal(readFileSync(join(pidsDir, 'pids.max'), 'utf8').trim(), '77');
    // no user namespace, CAP_MKNOD: the devices cgroup still refuses a disk node
    const mknod = await rootEngine.run(['exec', 'cg', 'mknod', '/tmp/disk', 'b', '8', '0']);
    assert.notEqual(mknod.code, 0);
    assert.match(mknod.stdout + mknod.stderr, /Operation not permitted/);
    await rootEngine.ok(['delete', '--force', 'cg']);
    assert.ok(!existsSync(pidsDir), 'the cgroup is removed');
  });

  test('the console socket gets the pty master, named, from the container', async () => {
    const b = bundle('tty', (c) => {
      c.process.terminal = true;
      c.process.args = ['sh'];
    });
    const sock = join(work, 'tty.sock');
    const receiver = spawn(
      'python3',
      [join(work, 'console.py'), sock, 'echo uid=$(id -u) tty=$(readlink /proc/self/fd/0); exit\n'],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    receiver.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    cleanup.add('stop the console receiver', () => void receiver.kill());
    await until('the receiver listens', () => out.includes('listening'));
    const noSocket = await rootEngine.run(['create', '--bundle', b, 'tty']);
    assert.equal(noSocket.code, 1);
    assert.match(noSocket.stderr, /--console-socket/);
    assert.ok(!existsSync(join(work, 'state/tty')), 'a refused create leaves no state');
    await rootEngine.ok(['create', '--bundle', b, '--console-socket', sock, 'tty']);
    assert.match(out, /name \/dev\/pts\/\d+/);
    await rootEngine.ok(['start', 'tty']);
    await until('the receiver read the answer', () => out.includes('out '), 15_000);
    assert.match(out, /uid=0 tty=\/dev\/pts\/0/);
    await until('stopped', async () => (await rootEngine.state('tty')).status === 'stopped');
    await rootEngine.ok(['delete', 'tty']);
  });

  test('exec --detach writes the pid file and leaves the process to the engine', async () => {
    const b = bundle('det', () => undefined);
    await rootEngine.ok(['create', '--bundle', b, 'det']);
    await rootEngine.ok(['start', 'det']);
    const pidFile = join(work, 'det-exec.pid');
    await rootEngine.ok(['exec', '--detach', '--pid-file', pidFile, 'det', 'sleep', '500']);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    const status = procStatus(pid);
    assert.equal(status.PPid, String(rootEngine.pid), 'reparented to the engine (a subreaper)');
    assert.equal(status.NSpid!.split(/\s+/).length, 2, 'inside the container pid namespace');
    const ps = JSON.parse((await rootEngine.ok(['ps', '--format', 'json', 'det'])).stdout);
    assert.ok(ps.includes(pid));
    await rootEngine.ok(['kill', '--all', 'det', 'KILL']);
    await until('both are gone', () => !existsSync(`/proc/${pid}`));
    await rootEngine.ok(['delete', 'det']);
  });

  test('a namespace joined by path, hooks with the state on stdin, rlimits, masked and read-only paths', async () => {
    const holder = spawn('unshare', ['--net', 'sleep', '600'], { stdio: 'ignore' });
    cleanup.add('stop the netns holder', () => void holder.kill('SIGKILL'));
    await until('the netns exists', () => {
      try {
        return readlinkSync(`/proc/${holder.pid}/ns/net`) !== readlinkSync('/proc/self/ns/net');
      } catch {
        return false;
      }
    });
    const hookOut = join(work, 'hook.json');
    const b = bundle('join', (c) => {
      c.linux.namespaces = c.linux.namespaces.filter((n: Cfg) => n.type !== 'network');
      c.linux.namespaces.push({ type: 'network', path: `/proc/${holder.pid}/ns/net` });
      c.hooks = { prestart: [{ path: '/bin/sh', args: ['sh', '-c', `cat > ${hookOut}`] }] };
      c.process.rlimits = [{ type: 'RLIMIT_NOFILE', hard: 321, soft: 123 }];
    });
    await rootEngine.ok(['create', '--bundle', b, 'join']);
    const st = await rootEngine.state('join');
    assert.equal(
      readlinkSync(`/proc/${st.pid}/ns/net`),
      readlinkSync(`/proc/${holder.pid}/ns/net`),
    );
    const hook = JSON.parse(readFileSync(hookOut, 'utf8'));
    assert.equal(hook.id, 'join');
    assert.equal(hook.pid, st.pid);
    assert.equal(hook.status, 'created');
    await rootEngine.ok(['start', 'join']);
    // a masked file this kernel has (kcore is not built everywhere)
    const masked = ['/proc/kcore', '/proc/keys', '/proc/timer_list', '/proc/sched_debug'].find(
      (p) => existsSync(p),
    )!;
    const r = await rootEngine.run([
      'exec',
      'join',
      'sh',
      '-c',
      `ulimit -n; wc -c < ${masked}; (echo 1 > /proc/sys/kernel/domainname) 2>/dev/null && echo wrote`,
    ]);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines[0], '123', 'RLIMIT_NOFILE soft');
    assert.equal(lines[1]!.trim(), '0', `${masked} is masked`);
    assert.ok(!r.stdout.includes('wrote'), '/proc/sys is read-only');
    await rootEngine.ok(['delete', '--force', 'join']);
  });

  test('linux.seccomp in the OCI form blocks a system call', async () => {
    const log = join(work, 'seccomp.log');
    const b = bundle('scmp', (c) => {
      c.process.args = ['sh', '-c', 'mkdir /tmp/x 2>&1; echo status=$?'];
      c.linux.seccomp = {
        defaultAction: 'SCMP_ACT_ALLOW',
        architectures: ['SCMP_ARCH_X86_64'],
        syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }],
      };
    });
    await rootEngine.ok(['create', '--bundle', b, 'scmp'], log);
    await rootEngine.ok(['start', 'scmp']);
    await until('it ended', async () => (await rootEngine.state('scmp')).status === 'stopped');
    const out = readFileSync(log, 'utf8');
    assert.match(out, /Operation not permitted/);
    assert.match(out, /status=1/);
    assert.ok(!existsSync(join(b, 'rootfs/tmp/x')));
    await rootEngine.ok(['delete', 'scmp']);
  });

  test('bad configs get an error naming the field and leave no state', async () => {
    const cases: [string, (c: Cfg) => void, RegExp][] = [
      ['noargs', (c) => (c.process.args = []), /process\.args/],
      [
        'duprl',
        (c) =>
          (c.process.rlimits = [
            { type: 'RLIMIT_NOFILE', hard: 1, soft: 1 },
            { type: 'RLIMIT_NOFILE', hard: 2, soft: 2 },
          ]),
        /RLIMIT_NOFILE is given twice/,
      ],
      ['timens', (c) => c.linux.namespaces.push({ type: 'time' }), /time namespace/],
      [
        'nsfile',
        (c) =>
          (c.linux.namespaces = c.linux.namespaces.map((n: Cfg) =>
            n.type === 'ipc' ? { type: 'ipc', path: '/proc/self/ns/net' } : n,
          )),
        /is not a ipc namespace/,
      ],
      ['noprog', (c) => (c.process.args = ['/bin/nothing-here']), /nothing-here/],
    ];
    for (const [id, change, message] of cases) {
      const b = bundle(id, change);
      const r = await rootEngine.run(['create', '--bundle', b, id]);
      assert.equal(r.code, 1, id);
      assert.match(r.stderr, message, id);
      assert.ok(!existsSync(join(work, 'state', id)), `${id}: no state left`);
    }
    const badId = await rootEngine.run(['create', '--bundle', work, '../escape']);
    assert.equal(badId.code, 1);
    assert.match(badId.stderr, /Invalid container ID/);
  });
});

describe('igloo-runc attacks', () => {
  test('a symlinked pid file is replaced, never followed', async () => {
    const victim = join(work, 'victim');
    writeFileSync(victim, 'precious');
    const pidFile = join(work, 'evil.pid');
    symlinkSync(victim, pidFile);
    const b = bundle('pidlink', () => undefined);
    await rootEngine.ok(['create', '--bundle', b, '--pid-file', pidFile, 'pidlink']);
    assert.equal(readFileSync(victim, 'utf8'), 'precious');
    assert.ok(lstatSync(pidFile).isFile());
    assert.equal(Number(readFileSync(pidFile, 'utf8')), (await rootEngine.state('pidlink')).pid);
    await rootEngine.ok(['delete', 'pidlink']);
  });

  test("a console socket path swapped for a link, or for someone else's socket, gets nothing", async () => {
    const b = bundle('ttyswap', (c) => {
      c.process.terminal = true;
      c.process.args = ['sh'];
    });
    const real = join(work, 'other.sock');
    const receiver = spawn('python3', [join(work, 'console.py'), real, 'id\n'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    receiver.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    cleanup.add('stop the second receiver', () => void receiver.kill());
    await until('the receiver listens', () => out.includes('listening'));
    const link = join(work, 'swapped.sock');
    symlinkSync(real, link);
    const r = await rootEngine.run(['create', '--bundle', b, '--console-socket', link, 'ttyswap']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /not a unix socket of uid 0/);
    chownSync(real, 65534, 65534);
    const r2 = await rootEngine.run(['create', '--bundle', b, '--console-socket', real, 'ttyswap']);
    assert.equal(r2.code, 1, "another user's socket is refused");
    assert.ok(!out.includes('name'), 'no pty master was sent');
    assert.ok(!existsSync(join(work, 'state/ttyswap')));
  });

  test('a rootfs whose /proc is a symlink to / mounts nothing on the host', async () => {
    const b = bundle('proclink', () => undefined);
    rmSync(join(b, 'rootfs/proc'), { recursive: true });
    symlinkSync('/', join(b, 'rootfs/proc'));
    writeFileSync('/tmp/igloo-oci-host-marker', 'host');
    cleanup.add('remove the marker', () => rmSync('/tmp/igloo-oci-host-marker', { force: true }));
    const r = await rootEngine.run(['create', '--bundle', b, 'proclink']);
    if (r.code === 0) {
      const e = await rootEngine.run(['exec', 'proclink', 'cat', '/tmp/igloo-oci-host-marker']);
      assert.notEqual(e.stdout, 'host', "the host's files stay out of reach");
      await rootEngine.ok(['delete', '--force', 'proclink']);
    }
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8');
    assert.ok(!mounts.includes(b), "no mount of the container's is in the host's table");
    assert.ok(
      !mounts.split('\n').some((l) => / \/ \/ .* - proc /.test(l)),
      'proc is not mounted over the host root',
    );
  });

  test('a swapped exec fifo is refused by start, and the process stays waiting', async () => {
    const b = bundle('fifo', () => undefined);
    await rootEngine.ok(['create', '--bundle', b, 'fifo']);
    const fifo = join(work, 'state/fifo/exec.fifo');
    const decoy = join(work, 'decoy.fifo');
    spawnSync('mkfifo', [decoy]);
    rmSync(fifo);
    symlinkSync(decoy, fifo);
    const r = await rootEngine.run(['start', 'fifo']);
    assert.equal(r.code, 1);
    const { pid } = await rootEngine.state('fifo');
    assert.match(readlinkSync(`/proc/${pid}/exe`), /igloo-helper/, 'still at the gate');
    await rootEngine.ok(['delete', '--force', 'fifo']);
  });
});

describe('igloo-runc as a user', () => {
  let user: TestUser;
  let engine: Engine;
  const base = 5_100_000;
  before(async () => {
    user = createUser(cleanup, 'igloo-ocirt');
    await delegate(user, base, 65536);
    const xdg = join(work, `xdg-${user.uid}`);
    mkdirSync(xdg, { mode: 0o700 });
    chownSync(xdg, user.uid, user.gid);
    engine = new Engine(join(work, 'engine.py'), user, join(xdg, 'igloo-runc'), {
      XDG_RUNTIME_DIR: xdg,
      HOME: user.home,
    });
    cleanup.add('stop the user engine', () => engine.close());
    cleanup.add("delete the user's containers", async () => {
      for (const id of (await engine.run(['list', '-q'])).stdout.split('\n').filter(Boolean))
        await engine.run(['delete', '--force', id]);
    });
  });

  test('a user namespace with maps from the delegated range, checked by newuidmap', async () => {
    const b = bundle(
      'userns',
      (c) => {
        c.linux.namespaces.push({ type: 'user' });
        c.linux.namespaces = c.linux.namespaces.filter((n: Cfg) => n.type !== 'network');
        c.linux.uidMappings = [{ containerID: 0, hostID: base, size: 65536 }];
        c.linux.gidMappings = [{ containerID: 0, hostID: base, size: 65536 }];
        c.mounts = c.mounts.map((m: Cfg) =>
          m.destination === '/dev/pts'
            ? { ...m, options: m.options.filter((o: string) => o !== 'gid=5') }
            : m,
        );
      },
      user,
    );
    await engine.ok(['create', '--bundle', b, 'un']);
    await engine.ok(['start', 'un']);
    const { pid } = await engine.state('un');
    assert.equal(
      procStatus(pid).Uid!.split(/\s+/)[0],
      String(base),
      'root inside is the first delegated id',
    );
    assert.match(
      readFileSync(`/proc/${pid}/uid_map`, 'utf8'),
      new RegExp(`^\\s*0\\s+${base}\\s+65536`),
    );
    const r = await engine.ok(['exec', 'un', 'id', '-u']);
    assert.equal(r.stdout.trim(), '0');

    // ids the user was not given are refused (newuidmap checks /etc/subuid)
    const stolen = bundle(
      'stolen',
      (c) => {
        c.linux.namespaces.push({ type: 'user' });
        c.linux.namespaces = c.linux.namespaces.filter((n: Cfg) => n.type !== 'network');
        c.linux.uidMappings = [{ containerID: 0, hostID: 0, size: 1 }];
        c.linux.gidMappings = [{ containerID: 0, hostID: 0, size: 1 }];
      },
      user,
    );
    const bad = await engine.run(['create', '--bundle', stolen, 'stolen']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /newuidmap|newgidmap/);
    await engine.ok(['delete', '--force', 'un']);
  });
});
