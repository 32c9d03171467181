/**
 * Attacks on the ways into a running container (issue 13, items 1 and 2),
 * performed for real, as an unprivileged user's container and as root's:
 *
 * - Hijacking `igloo exec` (runc CVE-2016-9962 / CVE-2019-5736 classes):
 *   test/probe/exec-attack.c runs inside as container root, spins
 *   PTRACE_SEIZE on the next pid of the container's pid namespace and, for
 *   each new process, tries PTRACE_SEIZE, PTRACE_ATTACH and opening
 *   /proc/PID/{exe,mem,environ,fd/*} while the process is still igloo's
 *   (its comm is `igloo`/`igloo-helper`, read after each success). 50
 *   execs run meanwhile, through the native front and through the
 *   TypeScript CLI. No success may be recorded, and the attacker must have
 *   seen igloo's process before its execve (the test is not vacuous). The
 *   container runs unconfined (no seccomp filter): the defense is the exec
 *   order and non-dumpability, not the filter. Against the helper before
 *   this change (78ff983) the same attacker seized every exec'd process
 *   before its execve, with the caller's host uid (checked by hand: the old
 *   CLI has no -T, so this file cannot run against it as it is).
 * - Typing into the caller's shell (TIOCSTI): a host shell (`sh -i`, as the
 *   user or root) on a real pty (test/probe/ttyshell.py) runs
 *   `igloo exec C [-T] -- /tiocsti 'touch MARKER'` and
 *   `igloo run --name R [-T] -- /tiocsti ...`; the program pushes the
 *   command into fds 0-2 and /dev/tty. The shell must never run it (MARKER
 *   absent after the shell answered a later command), with the automatic
 *   pty and without (-T), again with no seccomp filter. A one-shot
 *   `igloo run` (front and TypeScript) is its own session leader.
 * - A daemon started through `igloo exec` (its shell exits, it is
 *   reparented to init) is checkpointable (root, CRIU): its session leader
 *   is inside the container.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildBusyboxRootfs } from '../../src/host/busybox-rootfs.ts';
import {
  Cleanup,
  assertRangeFree,
  createUser,
  delegate,
  ensureRootDelegation,
  igloo,
  requireRoot,
  root,
  runAs,
  stagedFront,
  tempDir,
  type TestUser,
} from '../support/host.ts';

const cleanup = new Cleanup();
const RANGE = 14_200_000;
const EXECS = 50;
let user: TestUser;
let work: string;
let base: string;
let rootEnv: Record<string, string>;

type Who = TestUser | 'root';
const envOf = (who: Who): Record<string, string> => (who === 'root' ? rootEnv : {});
const cli = (who: Who, args: string[], env: Record<string, string> = {}) =>
  igloo(cleanup, who, args, { env: { ...envOf(who), ...env } });

async function ok(who: Who, args: string[], env: Record<string, string> = {}) {
  const r = await cli(who, args, env);
  assert.equal(r.status, 0, `igloo ${args.join(' ')}: ${r.stderr}`);
  return r;
}

/** The probe image, owned by `who` (its ids copy it into the container). */
function image(who: Who): string {
  const dir = join(work, `image-${who === 'root' ? 'root' : who.name}`);
  if (!existsSync(dir)) {
    spawnSync('cp', ['-a', base, dir]);
    if (who !== 'root') spawnSync('chown', ['-R', `${who.uid}:${who.gid}`, dir]);
  }
  return dir;
}

/** Creates NAME from the probe image with no seccomp filter; destroyed at cleanup. */
async function create(who: Who, name: string): Promise<void> {
  await ok(who, ['create', name, '--image', image(who), '--init', '/bin/sleep 1000000']);
  cleanup.add(`destroy ${name}`, async () => {
    const d = await cli(who, ['destroy', '--force', name]);
    if (d.status !== 0 && !/No container named/.test(d.stderr)) throw new Error(d.stderr);
  });
  const info = JSON.parse((await ok(who, ['info', name, '--json'])).stdout) as {
    config: { rootfs: string };
  };
  // the config file beside the rootfs: the defense must hold without the filter
  const config = join(info.config.rootfs, '..', 'config');
  assert.ok(existsSync(config), `${config} exists`);
  appendFileSync(config, 'igloo.seccomp = unconfined\n');
}

/** A running `igloo ...` as WHO whose stdout can be waited on. */
function spawnIgloo(who: Who, args: string[]) {
  const env: Record<string, string> = {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    LANG: 'C.UTF-8',
    ...(who === 'root'
      ? { HOME: '/root', USER: 'root', ...rootEnv }
      : { HOME: who.home, USER: who.name, LOGNAME: who.name }),
  };
  const front = stagedFront(cleanup);
  const [command, argv] =
    who === 'root'
      ? [front, args]
      : [
          'setpriv',
          [`--reuid=${who.uid}`, `--regid=${who.gid}`, '--init-groups', '--', front, ...args],
        ];
  const child = spawn(command, argv, { env, cwd: '/', stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  cleanup.add('kill the attacker', () => void child.kill('SIGKILL'));
  return {
    exited,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    async waitFor(pattern: RegExp, timeoutMs = 20_000): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(stdout)) {
        if (Date.now() > deadline)
          throw new Error(`timed out waiting for ${pattern}; stdout: ${stdout} stderr: ${stderr}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
}

/** Runs COMMAND in a host `sh -i` as WHO on a real pty (test/probe/ttyshell.py). */
function inTtyShell(who: Who, command: string) {
  const env =
    who === 'root' ? { ...rootEnv } : { HOME: who.home, USER: who.name, LOGNAME: who.name };
  return runAs(
    'root',
    [
      'python3',
      join(root, 'test/probe/ttyshell.py'),
      who === 'root' ? 'root' : `${who.uid}:${who.gid}`,
      command,
    ],
    { env, timeoutMs: 120_000 },
  );
}

before(async () => {
  requireRoot();
  assertRangeFree(RANGE, 1_000_000);
  work = tempDir(cleanup, 'igloo-attack-exec-');
  base = join(work, 'base');
  await buildBusyboxRootfs(base, 'attack');
  for (const prog of ['exec-attack', 'tiocsti']) {
    const cc = spawnSync(
      'cc',
      ['-static', '-O2', '-o', join(base, prog), join(root, `test/probe/${prog}.c`)],
      { encoding: 'utf8' },
    );
    assert.equal(cc.status, 0, `cc -static ${prog}.c: ${cc.stderr}`);
  }
  user = createUser(cleanup, 'igloo-exec-atk');
  await delegate(user, RANGE, 1_000_000);
  await ensureRootDelegation(cleanup);
  const rootDirs = join(work, 'root-igloo');
  mkdirSync(rootDirs, { mode: 0o700 });
  rootEnv = { IGLOO_DATA_DIR: join(rootDirs, 'data'), IGLOO_RUN_DIR: join(rootDirs, 'run') };
});
after(() => cleanup.run());

for (const whoName of ['user', 'root'] as const) {
  describe(`attacks on exec and run, ${whoName === 'user' ? "a user's container" : "root's container"}`, () => {
    const who = (): Who => (whoName === 'root' ? 'root' : user);

    test('container root cannot ptrace igloo exec or open its /proc/PID/{exe,mem,fd}', async () => {
      await create(who(), 'atk');
      await ok(who(), ['start', 'atk', '--console', 'null']);
      const attacker = spawnIgloo(who(), [
        'exec',
        'atk',
        '-T',
        '--',
        '/exec-attack',
        String(EXECS),
        '120',
      ]);
      await attacker.waitFor(/^READY \d+$/m);
      for (let i = 0; i < EXECS; i++) {
        // half through the native front (prepared plan), half through Node
        const env: Record<string, string> = i % 2 ? { IGLOO_PREPARED: '0' } : {};
        await ok(who(), ['exec', 'atk', '--', '/bin/true'], env);
      }
      await attacker.waitFor(/^DONE /m, 60_000);
      assert.equal(await attacker.exited, 0, attacker.stderr);
      const out = attacker.stdout;
      assert.doesNotMatch(out, /^HIJACK /m, `the attacker got in:\n${out}`);
      const done = /^DONE handled=(\d+) pre=(\d+) hijacks=(\d+) missed=(\d+)$/m.exec(out);
      assert.ok(done, out);
      const [handled, pre, hijacks] = [Number(done[1]), Number(done[2]), Number(done[3])];
      assert.equal(hijacks, 0, out);
      assert.equal(handled + Number(done[4]), EXECS, out);
      // not vacuous: it reached igloo's process before its execve, and was refused
      assert.ok(pre >= 1, `the attacker never saw igloo's process before its execve:\n${out}`);
      // ... and refused: at least one PTRACE_SEIZE on igloo's own process failed
      // (later attempts on the same pid may find it already exec'd: that is
      // the container's own process, which its root may trace)
      assert.match(out, /^PID \d+ comm=igloo(-helper)? pre=1 seize=EPERM /m, out);
    });

    for (const flag of ['', '-T'] as const) {
      const mode = flag ? 'without a pty (-T)' : 'with the automatic pty';
      test(`igloo exec ${mode}: TIOCSTI cannot type into the caller's shell`, async () => {
        const marker = join(work, `tiocsti-exec-${whoName}${flag}`);
        chmodSync(work, 0o777);
        const r = await inTtyShell(
          who(),
          `${stagedFront(cleanup)} exec atk ${flag} -- /tiocsti 'touch ${marker}'`,
        );
        assert.equal(r.status, 0, r.stdout);
        assert.match(r.stdout, /TIOCSTI-DONE/, r.stdout);
        assert.ok(!existsSync(marker), `the container typed into the shell:\n${r.stdout}`);
        if (flag) {
          // the caller's terminal is the process's fds, never its controlling tty
          assert.match(r.stdout, /TIOCSTI fd0 EPERM tty=- ctty=no/, r.stdout);
          assert.match(r.stdout, /TIOCSTI \/dev\/tty ENXIO/, r.stdout);
        } else {
          assert.match(r.stdout, /TIOCSTI fd0 ok tty=\/dev\/pts\/\d+ ctty=yes/, r.stdout);
        }
      });
    }

    for (const flag of ['', '-T'] as const) {
      const mode = flag ? 'without a pty (-T)' : 'with the automatic pty';
      test(`igloo run ${mode}: TIOCSTI cannot type into the caller's shell`, async () => {
        if (flag === '') await create(who(), 'atk-run');
        const marker = join(work, `tiocsti-run-${whoName}${flag}`);
        chmodSync(work, 0o777);
        const r = await inTtyShell(
          who(),
          `${stagedFront(cleanup)} run --name atk-run ${flag} -- /tiocsti 'touch ${marker}'`,
        );
        assert.equal(r.status, 0, r.stdout);
        assert.match(r.stdout, /TIOCSTI-DONE sid=1 pid=1/, r.stdout);
        assert.ok(!existsSync(marker), `the container typed into the shell:\n${r.stdout}`);
        if (flag) assert.match(r.stdout, /TIOCSTI fd0 EPERM tty=- ctty=no/, r.stdout);
      });
    }

    test('a one-shot igloo run is its own session leader (front and Node)', async () => {
      const envs: Array<Record<string, string>> = [{ IGLOO_PREPARED: '0' }, {}, {}];
      for (const env of envs) {
        const r = await ok(who(), ['run', '--', '/bin/cat', '/proc/self/stat'], env);
        // pid 1, session 1: field 6 of /proc/self/stat
        assert.equal(r.stdout.split(' ')[5], '1', r.stdout);
      }
    });
  });
}

describe('checkpoint', () => {
  test('a daemon started with `igloo exec C -- sh -c "CMD &"` is checkpointable (root)', async () => {
    // The exec'd shell exits; its child is reparented to init and keeps the
    // shell's session: that session must be one inside the container
    // (before: "A session leader of N is outside of its pid namespace").
    await ok('root', ['start', 'atk-run', '--console', 'null']);
    await ok('root', [
      'exec',
      'atk-run',
      '--',
      '/bin/sh',
      '-c',
      'sleep 1000 </dev/null >/dev/null 2>&1 &',
    ]);
    // beside root's data directory: restore takes checkpoints only from a
    // directory only root can write (the TIOCSTI tests made `work` 0777)
    const dir = join(dirname(rootEnv.IGLOO_DATA_DIR!), 'ckpt');
    rmSync(dir, { recursive: true, force: true });
    const r = await cli('root', ['checkpoint', 'atk-run', '--dir', dir]);
    assert.equal(r.status, 0, `igloo checkpoint: ${r.stderr}`);
    await ok('root', ['restore', 'atk-run', '--dir', dir]);
    const ps = await ok('root', ['exec', 'atk-run', '--', '/bin/ps', '-o', 'comm']);
    assert.match(ps.stdout, /^sleep$/m, ps.stdout);
  });
});
