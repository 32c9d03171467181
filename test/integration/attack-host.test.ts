/**
 * Attacks on the seams where host code follows paths inside a rootfs or
 * reads a user's files (issue 13 items 4, 5, 7 and `exec --user`), each
 * performed for real:
 *
 * - an image whose etc/login.defs, etc/subuid and etc/subgid are links to
 *   root's files, made into a nesting container by root;
 * - FIFOs, links, a huge file and a lying state.json in a user's
 *   containers directory, read by root's `igloo ps --all` and `igloo audit`;
 * - another user squatting the victim's old run directory /tmp/igloo-run-UID;
 * - a running container swapping its /etc/passwd for a link to a host file
 *   and for a FIFO while root runs `igloo exec --user`.
 *
 * Root's containers live in directories of the test's own (IGLOO_DATA_DIR),
 * never /var/lib/igloo. Commands that used to hang run with a timeout.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  Cleanup,
  assertRangeFree,
  createUser,
  delegate,
  ensureRootDelegation,
  igloo,
  requireRoot,
  runAs,
  stagedCli,
  tempDir,
  type TestUser,
} from '../support/host.ts';

const cleanup = new Cleanup();
const VICTIM_RANGE = 31_000_000;
let work: string;
let rootEnv: Record<string, string>;
let victim: TestUser;
let squatter: TestUser;
let linker: TestUser;
const tag = randomBytes(4).toString('hex');

/** A file in /root that only root may read, removed afterwards. */
function rootSecret(name: string, content: string): string {
  const path = `/root/igloo-hostfiles-${name}-${tag}`;
  writeFileSync(path, content, { mode: 0o600 });
  cleanup.add(`remove ${path}`, () => rmSync(path, { force: true }));
  return path;
}

/** Marks `path` for removal (a file root might have been tricked into making). */
function mayAppear(path: string): string {
  cleanup.add(`remove ${path}`, () => rmSync(path, { force: true }));
  return path;
}

async function asRoot(args: string[], timeoutMs = 60_000) {
  return igloo(cleanup, 'root', args, { env: rootEnv, timeoutMs });
}

before(async () => {
  requireRoot();
  assertRangeFree(VICTIM_RANGE, 500_000);
  work = tempDir(cleanup, 'igloo-hostfiles-');
  victim = createUser(cleanup, 'igloo-hostf-victim');
  squatter = createUser(cleanup, 'igloo-hostf-squat');
  linker = createUser(cleanup, 'igloo-hostf-link');
  await delegate(victim, VICTIM_RANGE, 500_000);
  stagedCli(cleanup);
  await ensureRootDelegation(cleanup);
  const rootDirs = join(work, 'root-igloo');
  mkdirSync(rootDirs, { mode: 0o700 });
  rootEnv = { IGLOO_DATA_DIR: join(rootDirs, 'data'), IGLOO_RUN_DIR: join(rootDirs, 'run') };
});
after(() => cleanup.run());

describe('nesting setup never writes through an image link (item 4)', () => {
  test("root's create --nesting leaves root's files alone and makes nothing outside the rootfs", async () => {
    const secretText = 'root only: must not change\n';
    const secret = rootSecret('secret', secretText);
    const subuidTarget = mayAppear(`/root/igloo-hostfiles-subuid-${tag}`);
    const subgidTarget = mayAppear(`/root/igloo-hostfiles-subgid-${tag}`);
    const image = join(work, 'evil-image');
    mkdirSync(join(image, 'etc'), { recursive: true });
    mkdirSync(join(image, 'root'), { mode: 0o700 });
    symlinkSync(secret, join(image, 'etc/login.defs'));
    symlinkSync(subuidTarget, join(image, 'etc/subuid'));
    symlinkSync(subgidTarget, join(image, 'etc/subgid'));
    cleanup.add('destroy hf-nest', async () => {
      await asRoot(['destroy', 'hf-nest', '--force']);
    });
    const r = await asRoot(['create', 'hf-nest', '--image', image, '--nesting']);
    assert.equal(r.status, 0, r.stderr);
    // Root's files: untouched, and nothing new next to them.
    assert.equal(readFileSync(secret, 'utf8'), secretText);
    assert.equal(lstatSync(secret).mode & 0o777, 0o600);
    assert.equal(existsSync(subuidTarget), false, `${subuidTarget} was created by root`);
    assert.equal(existsSync(subgidTarget), false, `${subgidTarget} was created by root`);
    // The links resolved as the container sees them: inside its own rootfs,
    // in files owned by the container's root, not by host root.
    const info = JSON.parse((await asRoot(['info', 'hf-nest', '--json'])).stdout) as {
      config: { rootfs: string; idmap: { uid: Array<{ inside: number; outside: number }> } };
    };
    const rootfs = info.config.rootfs;
    const containerRoot = info.config.idmap.uid.find((e) => e.inside === 0)!.outside;
    assert.ok(lstatSync(join(rootfs, 'etc/login.defs')).isSymbolicLink());
    const defs = join(rootfs, secret);
    assert.match(readFileSync(defs, 'utf8'), /^SUB_UID_MIN\t65536$/m);
    for (const made of [defs, join(rootfs, subuidTarget), join(rootfs, 'usr/local/bin/igloo')])
      assert.equal(lstatSync(made).uid, containerRoot, `${made} belongs to the container's root`);
  });
});

describe("root's ps --all and audit read a user's files safely (item 5)", () => {
  let containers: string;

  before(() => {
    containers = join(squatter.home, '.local/share/igloo/containers');
    const plant = (name: string, files: Record<string, string | 'fifo'>) => {
      const dir = join(containers, name);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      for (const [file, content] of Object.entries(files)) {
        if (content === 'fifo') spawnSync('mkfifo', [join(dir, file)]);
        else writeFileSync(join(dir, file), content);
      }
    };
    const config = (name: string) =>
      [
        `igloo.name = ${name}`,
        `igloo.rootfs = ${join(containers, name, 'rootfs')}`,
        'igloo.idmap = b 0 31600000 65536',
        '',
      ].join('\n');
    const pid1Start = readFileSync('/proc/1/stat', 'utf8').split(') ')[1]!.split(' ')[19];
    plant('hf-fifo-state', { config: config('hf-fifo-state'), 'state.json': 'fifo' });
    plant('hf-fifo-config', { config: 'fifo' });
    plant('hf-huge', { config: config('hf-huge'), 'state.json': ' '.repeat(2 << 20) });
    plant('hf-pid1', {
      config: config('hf-pid1'),
      'state.json': JSON.stringify({
        version: 1,
        status: 'running',
        pid: 1,
        pidStart: Number(pid1Start),
      }),
    });
    symlinkSync('/var/lib', join(containers, 'hf-link'));
    spawnSync('chown', ['-R', `${squatter.uid}:${squatter.gid}`, join(squatter.home, '.local')]);
    // Another user's whole containers directory is a link to a root-only place.
    const linkData = join(linker.home, '.local/share/igloo');
    mkdirSync(linkData, { recursive: true });
    symlinkSync('/root', join(linkData, 'containers'));
    spawnSync('chown', ['-R', '-h', `${linker.uid}:${linker.gid}`, join(linker.home, '.local')]);
  });

  test('igloo ps --all finishes and reports each broken container', async () => {
    const ps = await igloo(cleanup, 'root', ['ps', '--all', '--json'], { timeoutMs: 30_000 });
    assert.equal(ps.signal, null, `igloo ps --all hung (killed): ${ps.stderr}`);
    assert.equal(ps.status, 0, ps.stderr);
    const doc = JSON.parse(ps.stdout) as {
      processes: Array<{ pid: number; container: { name: string | null; owner: string | null } }>;
      broken?: Array<{ owner: string; name: string | null; reason: string }>;
    };
    const broken = (name: string | null, owner = squatter.name) =>
      doc.broken?.find((b) => b.owner === owner && b.name === name)?.reason ?? '';
    assert.match(broken('hf-fifo-state'), /FIFO/);
    assert.match(broken('hf-huge'), /more than/);
    assert.match(broken('hf-pid1'), /not (a|this) container's init/);
    assert.match(broken('hf-link'), /symbolic link/);
    assert.match(broken(null, linker.name), /symbolic link/);
    // pid 1 is not shown as anybody's container.
    const init = doc.processes.find((p) => p.pid === 1);
    assert.notEqual(init?.container.name, 'hf-pid1');
    // The text form says so on stderr, and still lists.
    const text = await igloo(cleanup, 'root', ['ps', '--all'], { timeoutMs: 30_000 });
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stderr, /skipped igloo-hostf-squat's container hf-fifo-state \(broken\)/);
  });

  test('igloo audit --user finishes and reports the unsafe files', async () => {
    const r = await igloo(cleanup, 'root', ['audit', '--user', squatter.name, '--json'], {
      timeoutMs: 30_000,
    });
    assert.equal(r.signal, null, `igloo audit hung (killed): ${r.stderr}`);
    const doc = JSON.parse(r.stdout) as {
      findings: Array<{ check: string; subject: string; message: string }>;
    };
    const find = (check: string, subject: string) =>
      doc.findings.find((f) => f.check === check && f.subject === subject)?.message ?? '';
    assert.match(find('unsafe-file', 'container hf-fifo-config'), /config: .*FIFO/);
    assert.match(find('unsafe-file', 'container hf-fifo-state'), /state\.json: .*FIFO/);
    assert.match(find('unsafe-file', 'container hf-huge'), /more than/);
    assert.match(find('unsafe-file', 'container hf-link'), /symbolic link/);
    assert.match(find('foreign-state-pid', 'container hf-pid1'), /pid 1/);
    const linked = await igloo(cleanup, 'root', ['audit', '--user', linker.name, '--json'], {
      timeoutMs: 30_000,
    });
    assert.equal(linked.signal, null, linked.stderr);
    const ldoc = JSON.parse(linked.stdout) as {
      findings: Array<{ check: string; message: string }>;
    };
    assert.ok(
      ldoc.findings.some((f) => f.check === 'unsafe-file' && /symbolic link/.test(f.message)),
      linked.stdout,
    );
  });
});

describe('run directory squatting (item 7)', () => {
  test("another user's /tmp/igloo-run-UID does not stop the victim's run, start and exec", async () => {
    const old = `/tmp/igloo-run-${victim.uid}`;
    rmSync(old, { recursive: true, force: true });
    cleanup.add(`remove ${old}`, () => rmSync(old, { recursive: true, force: true }));
    const m = await runAs(squatter, ['mkdir', '-m', '0755', old]);
    assert.equal(m.status, 0, m.stderr);
    assert.equal(lstatSync(old).uid, squatter.uid);
    const run = await igloo(cleanup, victim, ['run', '--', '/bin/sh', '-c', 'echo ran-$((6*7))']);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /ran-42/);
    cleanup.add('destroy hf-sq', async () => {
      await igloo(cleanup, victim, ['destroy', 'hf-sq', '--force']);
    });
    for (const args of [
      ['create', 'hf-sq'],
      ['start', 'hf-sq'],
    ]) {
      const r = await igloo(cleanup, victim, args);
      assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
    }
    // exec through the native front finds its prepared plan in the new run directory.
    const runDir = join(victim.home, '.cache/igloo/run');
    assert.ok(existsSync(join(runDir, 'hf-sq', 'prepared-exec')), 'prepared exec plan');
    const st = lstatSync(runDir);
    assert.ok(st.isDirectory() && st.uid === victim.uid && (st.mode & 0o077) === 0);
    const e = await igloo(cleanup, victim, [
      'exec',
      'hf-sq',
      '--',
      '/bin/sh',
      '-c',
      'echo in-$((6*7))',
    ]);
    assert.equal(e.status, 0, e.stderr);
    assert.match(e.stdout, /in-42/);
    assert.equal((await igloo(cleanup, victim, ['stop', 'hf-sq', '--timeout', '2'])).status, 0);
    // The squatter's directory holds nothing of the victim's.
    assert.deepEqual(spawnSync('ls', ['-A', old], { encoding: 'utf8' }).stdout, '');
  });

  test('a run directory others may write to is refused, with the fix', async () => {
    const runDir = join(victim.home, '.cache/igloo/run');
    chmodSync(runDir, 0o777);
    try {
      const r = await igloo(cleanup, victim, ['start', 'hf-sq']);
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /others may write to it/);
      assert.match(r.stderr, /chmod 700/);
    } finally {
      chmodSync(runDir, 0o700);
    }
  });
});

describe('exec --user never reads a host file through the container (found by reading)', () => {
  test('a container swapping /etc/passwd for a link and for a FIFO: no host file read, no hang', async () => {
    // A passwd line only root can read on the host, with a recognisable uid.
    const fake = rootSecret('fakepw', 'hfevil:x:4242:4242::/:/bin/sh\n');
    cleanup.add('destroy hf-pw', async () => {
      await asRoot(['destroy', 'hf-pw', '--force']);
    });
    const c = await asRoot(['create', 'hf-pw', '--init', '/bin/sh /swap.sh']);
    assert.equal(c.status, 0, c.stderr);
    const info = JSON.parse((await asRoot(['info', 'hf-pw', '--json'])).stdout) as {
      config: { rootfs: string };
    };
    const rootfs = info.config.rootfs;
    // init swaps /etc/passwd, with rename(2), between a regular file and a
    // link to the host's file (as fast as busybox can), or makes it a FIFO.
    writeFileSync(
      join(rootfs, 'swap.sh'),
      [
        'cd /etc',
        'if [ -e /make-fifo ]; then rm -f passwd; mkfifo passwd; exec sleep 100000; fi',
        'cp passwd passwd.real',
        'while :; do',
        '  cp passwd.real p.reg; mv -f p.reg passwd',
        `  ln -sf ${fake} p.lnk; mv -f p.lnk passwd`,
        'done',
        '',
      ].join('\n'),
      { mode: 0o644 },
    );
    assert.equal((await asRoot(['start', 'hf-pw'])).status, 0);
    for (let i = 0; i < 30; i++) {
      const r = await asRoot(['exec', '--user', 'hfevil', 'hf-pw', '--', '/bin/id', '-u'], 20_000);
      assert.equal(r.signal, null, `exec --user hung: ${r.stderr}`);
      assert.doesNotMatch(r.stdout, /4242/, 'exec ran with the uid from the host file');
      assert.notEqual(r.status, 0, 'hfevil exists only in the host file');
    }
    assert.equal((await asRoot(['kill', 'hf-pw', 'SIGKILL'])).status, 0);
    for (let i = 0; i < 100; i++) {
      const s = JSON.parse((await asRoot(['info', 'hf-pw', '--json'])).stdout) as {
        state: { status: string };
      };
      if (s.state.status !== 'running') break;
      await new Promise((res) => setTimeout(res, 100));
    }
    writeFileSync(join(rootfs, 'make-fifo'), '');
    assert.equal((await asRoot(['start', 'hf-pw'])).status, 0);
    let isFifo = false;
    for (let i = 0; i < 100 && !isFifo; i++) {
      isFifo = lstatSync(join(rootfs, 'etc/passwd')).isFIFO();
      if (!isFifo) await new Promise((res) => setTimeout(res, 50));
    }
    assert.ok(isFifo, 'the container made /etc/passwd a FIFO');
    const r = await asRoot(['exec', '--user', 'hfevil', 'hf-pw', '--', '/bin/id', '-u'], 20_000);
    assert.equal(r.signal, null, `exec --user hung on a FIFO: ${r.stderr}`);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /FIFO/);
    await asRoot(['kill', 'hf-pw', 'SIGKILL']);
  });
});
