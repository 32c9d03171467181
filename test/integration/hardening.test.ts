/**
 * The hardening every container gets, proved from inside and from outside,
 * for an unprivileged user and for root: test/probe/probe.c runs as a
 * container's init (through `igloo start`) and through `igloo exec`, both
 * started by a caller holding an extra descriptor (fd 7), and must report
 * every check ok: among them the filter's denies (a real TIOCSTI into a pty
 * that is the probe's controlling terminal, also with high bits in cmd and
 * through the i386 ABI; no new user namespace, clone3 ENOSYS, io_uring, bpf,
 * the new mount API) and what must keep working (tty ioctls, mount of a
 * tmpfs). From outside: a symlink in the rootfs cannot redirect a
 * mount to the host, containers take no kernel keys, and newuidmap refuses
 * a map outside the user's delegation.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  appendFileSync,
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
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
  stagedCli,
  tempDir,
  type TestUser,
} from '../support/host.ts';

const cleanup = new Cleanup();
const RANGE = 12_000_000;
let user: TestUser;
let work: string;
let rootEnv: Record<string, string>;

/** Every check the probe makes; each must be reported, and ok. */
const CHECKS = [
  'fds',
  'seccomp',
  'no_new_privs',
  'capbnd',
  'mknod',
  'masked:/proc/kcore',
  'masked:/proc/keys',
  'masked:/proc/timer_list',
  'masked:/proc/sched_debug',
  'masked:/proc/latency_stats',
  'masked:/proc/timer_stats',
  'masked:/proc/sysrq-trigger',
  'masked:/proc/acpi',
  'masked:/proc/scsi',
  'masked:/proc/asound',
  'masked:/sys/firmware',
  'readonly:/proc/sys',
  'readonly:/proc/irq',
  'readonly:/proc/bus',
  'proc_sys_write',
  'keyctl',
  'keyctl_join_session',
  'add_key',
  'request_key',
  'keyctl_i386',
  'finit_module_i386',
  'keyctl_x32',
  'open_by_handle_at',
  'init_module',
  'finit_module',
  'delete_module',
  'kexec_load',
  'nested_userns',
  'clone_newuser',
  'clone3',
  'io_uring_setup',
  'bpf',
  'perf_event_open',
  'userfaultfd',
  'personality',
  'personality_query',
  'vsock',
  'fsopen',
  'mount_tmpfs',
  'tiocsti',
  'tiocsti_high',
  'tiocsti_i386',
  'tioclinux',
  'tty_input_empty',
  'tty_ioctls',
];

function assertProbe(output: string, where: string): void {
  const lines = output.trim().split('\n');
  const seen = lines.map((l) => l.split(' ')[1]);
  assert.deepEqual(seen, CHECKS, `${where}: the probe reported every check\n${output}`);
  for (const l of lines) assert.match(l, /^ok /, `${where}: ${l}`);
}

type Who = TestUser | 'root';
const envOf = (who: Who) => (who === 'root' ? rootEnv : {});
const cli = (who: Who, args: string[]) => igloo(cleanup, who, args, { env: envOf(who) });

/** Runs igloo as `who` from a shell that holds /etc/hostname open as fd 7. */
function withFd7(who: Who, args: string[]) {
  return runAs(
    who,
    [
      'sh',
      '-c',
      'exec 7</etc/hostname; exec "$@"',
      'sh',
      process.execPath,
      stagedCli(cleanup),
      ...args,
    ],
    { env: envOf(who) },
  );
}

interface Info {
  state: { status: string; pid?: number };
  config: { rootfs: string; idmap: { uid: Array<{ outside: number }> } };
}
async function info(who: Who, name: string): Promise<Info> {
  const r = await cli(who, ['info', name, '--json']);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Info;
}

/** A busybox image with the probe in it, owned by `who` (its ids copy it into the container). */
function image(who: Who, base: string): string {
  const dir = join(work, `image-${who === 'root' ? 'root' : who.name}`);
  spawnSync('cp', ['-a', base, dir]);
  if (who !== 'root') spawnSync('chown', ['-R', `${who.uid}:${who.gid}`, dir]);
  return dir;
}

async function create(who: Who, name: string, args: string[]): Promise<void> {
  const r = await cli(who, ['create', name, ...args]);
  assert.equal(r.status, 0, r.stderr);
  cleanup.add(`destroy ${name}`, async () => {
    const d = await cli(who, ['destroy', '--force', name]);
    if (d.status !== 0 && !/No container named/.test(d.stderr)) throw new Error(d.stderr);
  });
}

function keyUsers(text: string): Map<number, string> {
  const out = new Map<number, string>();
  for (const line of text.split('\n')) {
    const m = /^\s*(\d+):\s+(.*)$/.exec(line);
    if (m) out.set(Number(m[1]), m[2]!.trim());
  }
  return out;
}

let base: string;

before(async () => {
  requireRoot();
  assertRangeFree(RANGE, 2_000_000);
  work = tempDir(cleanup, 'igloo-hard-');
  const probe = join(work, 'probe');
  const cc = spawnSync('cc', ['-static', '-O2', '-o', probe, join(root, 'test/probe/probe.c')], {
    encoding: 'utf8',
  });
  assert.equal(cc.status, 0, `cc -static probe.c: ${cc.stderr}`);
  base = join(work, 'base');
  await buildBusyboxRootfs(base, 'probe');
  spawnSync('cp', [probe, join(base, 'probe')]);
  user = createUser(cleanup, 'igloo-hard-user');
  await delegate(user, RANGE, 1_000_000);
  stagedCli(cleanup);
  await ensureRootDelegation(cleanup);
  // root's containers in directories of the test's own, not /var/lib/igloo
  const rootDirs = join(work, 'root-igloo');
  mkdirSync(rootDirs, { mode: 0o700 });
  rootEnv = { IGLOO_DATA_DIR: join(rootDirs, 'data'), IGLOO_RUN_DIR: join(rootDirs, 'run') };
});
after(() => cleanup.run());

for (const whoName of ['user', 'root'] as const) {
  describe(`hardening, as ${whoName === 'user' ? 'an unprivileged user' : 'root'}`, () => {
    const who = (): Who => (whoName === 'root' ? 'root' : user);
    let rootfs = '';

    test('init (igloo start, caller holding fd 7) passes every probe check', async () => {
      await create(who(), 'hard-probe', [
        '--image',
        image(who(), base),
        '--init',
        '/probe --init /probe-init.txt',
      ]);
      const r = await withFd7(who(), ['start', 'hard-probe']);
      assert.equal(r.status, 0, r.stderr);
      const i = await info(who(), 'hard-probe');
      assert.equal(i.state.status, 'running');
      rootfs = i.config.rootfs;
      const report = join(rootfs, 'probe-init.txt');
      for (let n = 0; n < 200 && !existsSync(report); n++)
        await new Promise((res) => setTimeout(res, 50));
      assertProbe(readFileSync(report, 'utf8'), 'init');
      // seen from the host too
      const status = readFileSync(`/proc/${i.state.pid}/status`, 'utf8');
      assert.match(status, /^Seccomp:\s+2$/m);
      assert.match(status, /^NoNewPrivs:\s+1$/m);
      assert.match(status, /^CapBnd:\s+00000100bdfcffff$/m);
    });

    test('igloo exec (caller holding fd 7) passes every probe check', async () => {
      const r = await withFd7(who(), ['exec', 'hard-probe', '--', '/probe']);
      assertProbe(r.stdout, 'exec');
      assert.equal(r.status, 0, r.stderr);
    });

    test('a symlink in the rootfs cannot send a mount target to the host', async () => {
      // /mnt/escape -> /etc: a bind "into" it must land in the rootfs's /etc
      const host = join(work, `bind-src-${whoName}`);
      mkdirSync(host);
      writeFileSync(join(host, 'marker'), 'bound\n');
      chmodSync(host, 0o755);
      const stop = await cli(who(), ['stop', 'hard-probe', '--timeout', '2']);
      assert.equal(stop.status, 0, stop.stderr);
      symlinkSync('/etc', join(rootfs, 'mnt/escape'));
      assert.equal(readlinkSync(join(rootfs, 'mnt/escape')), '/etc');
      const config = join(rootfs, '..', 'config');
      appendFileSync(config, `igloo.mount = ${host} /mnt/escape/igloo-hard-marker ro\n`);
      const r = await cli(who(), ['start', 'hard-probe']);
      assert.equal(r.status, 0, r.stderr);
      const seen = await cli(who(), [
        'exec',
        'hard-probe',
        '--',
        '/bin/cat',
        '/etc/igloo-hard-marker/marker',
      ]);
      assert.equal(seen.stdout, 'bound\n', seen.stderr);
      assert.equal(
        existsSync('/etc/igloo-hard-marker'),
        false,
        "nothing was made in the host's /etc",
      );
      assert.ok(
        existsSync(join(rootfs, 'etc/igloo-hard-marker')),
        "the target is the rootfs's /etc",
      );
    });
  });
}

describe('outside the containers', () => {
  test('containers take no kernel keys: /proc/key-users does not grow per container', async () => {
    const read = async () => {
      const r = await runAs(user, ['cat', '/proc/key-users']);
      assert.equal(r.status, 0, r.stderr);
      return keyUsers(r.stdout);
    };
    const before = await read();
    const img = image(user, base);
    const names = ['hard-k1', 'hard-k2', 'hard-k3', 'hard-k4', 'hard-k5'];
    for (const name of names) {
      await create(user, name, [
        '--image',
        img,
        '--init',
        '/bin/sleep 600',
        '--slice-size',
        '65536',
      ]);
      const r = await cli(user, ['start', name]);
      assert.equal(r.status, 0, r.stderr);
      const e = await cli(user, ['exec', name, '--', '/bin/true']);
      assert.equal(e.status, 0, e.stderr);
    }
    const after = await read();
    assert.equal(
      after.get(user.uid),
      before.get(user.uid),
      `the owner's keys: ${after.get(user.uid)}`,
    );
    for (const name of names) {
      const hostRoot = (await info(user, name)).config.idmap.uid[0]!.outside;
      assert.ok(hostRoot >= RANGE && hostRoot < RANGE + 1_000_000, String(hostRoot));
      assert.equal(after.has(hostRoot), false, `no keys for ${name}'s root (host uid ${hostRoot})`);
    }
    for (const name of names) {
      const d = await cli(user, ['destroy', '--force', name]);
      assert.equal(d.status, 0, d.stderr);
    }
  });

  test('newuidmap refuses a map outside the delegation, and accepts one inside', async () => {
    const inNs = (): Promise<{ pid: number; kill: () => void }> =>
      new Promise((resolve, reject) => {
        const child = spawn(
          'setpriv',
          [
            `--reuid=${user.uid}`,
            `--regid=${user.gid}`,
            '--init-groups',
            '--',
            'unshare',
            '--user',
            'sleep',
            '60',
          ],
          { stdio: 'ignore' },
        );
        child.on('error', reject);
        const kill = () => void child.kill('SIGKILL');
        cleanup.add('kill the userns sleeper', kill);
        // wait until unshare has exec'd sleep in its new namespace
        const poll = (n: number) => {
          try {
            if (
              readlinkSync(`/proc/${child.pid}/ns/user`) !== readlinkSync('/proc/self/ns/user') &&
              readFileSync(`/proc/${child.pid}/comm`, 'utf8').trim() === 'sleep'
            )
              return resolve({ pid: child.pid!, kill });
          } catch {
            // not there yet
          }
          if (n > 200) return reject(new Error('unshare --user did not start'));
          setTimeout(() => poll(n + 1), 25);
        };
        poll(0);
      });
    const foreign = await inNs();
    const refused = await runAs(user, ['newuidmap', String(foreign.pid), '0', '13500000', '1']);
    assert.notEqual(refused.status, 0, 'newuidmap must refuse ids outside the delegation');
    assert.match(refused.stderr, /newuidmap/);
    assert.equal(readFileSync(`/proc/${foreign.pid}/uid_map`, 'utf8'), '', 'no map was written');
    foreign.kill();
    const own = await inNs();
    const ok = await runAs(user, ['newuidmap', String(own.pid), '0', String(RANGE + 500_000), '1']);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(
      readFileSync(`/proc/${own.pid}/uid_map`, 'utf8'),
      new RegExp(`^\\s*0\\s+${RANGE + 500_000}\\s+1$`, 'm'),
    );
    own.kill();
  });
});
