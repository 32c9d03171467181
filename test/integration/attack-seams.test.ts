/**
 * Attacks on the seams the sixth session added (docs/security.md, seams
 * 15 on), each performed for real by a real user against real containers
 * and a real root server:
 *
 * - root's `igloo serve --users-socket`: the worker it starts for a user
 *   runs as that user, who may ptrace it; the user makes it type into
 *   root's terminal (TIOCSTI through /dev/tty and through fds 0-2), or
 *   takes its IPC channel with root's server (pidfd_getfd) and writes a
 *   line that is not JSON on it, which Node's parser in root's server
 *   throws on, uncaught;
 * - the README's boot-script line that runs `igloo autostart` as a user
 *   (`su - USER`): the user's login (~/.profile) types into the terminal
 *   root runs it from;
 * - descriptors: what init, `igloo exec` (native front and Node) hold
 *   inside a user's container that has a console log and a slirp4netns
 *   sidecar with a port forward (the seams that open host files and
 *   sockets around the container's start): nothing but fds 0-2;
 * - process listings: a container's process whose command line carries a
 *   title change, a status query and a C1 CSI, listed by root's
 *   `igloo ps --all` and the owner's `igloo ps`: shown as text.
 *
 * Root's containers live in directories of the test's own
 * (IGLOO_DATA_DIR), never /var/lib/igloo.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  Cleanup,
  assertRangeFree,
  createUser,
  delegate,
  igloo,
  requireRoot,
  root,
  rootTestEnv,
  runAs,
  stagedCli,
  stagedFront,
  tempDir,
  type TestUser,
} from '../support/host.ts';
import { asUser } from '../support/as-user.ts';
import { startServe } from '../support/serve.ts';

const cleanup = new Cleanup();
const RANGE = 36_000_000;
let work: string;
let mallory: TestUser;
const as = asUser(cleanup, () => mallory);

/** Compiles test/probe/NAME.c (static) into the work directory, runnable by everyone. */
function probe(name: string): string {
  const out = join(work, name);
  const cc = spawnSync('cc', ['-static', '-O2', '-o', out, join(root, `test/probe/${name}.c`)], {
    encoding: 'utf8',
  });
  assert.equal(cc.status, 0, `cc -static ${name}.c: ${cc.stderr}`);
  return out;
}

/** A client that prints the status and body of GET /containers over a unix socket (argv[1]). */
const GET_CLIENT = `require('http').get({ socketPath: process.argv[1], path: '/containers' }, (res) => {
  let t = ''; res.on('data', (d) => (t += d)); res.on('end', () => console.log(res.statusCode + ' ' + t));
}).on('error', (e) => console.log('ERR ' + e.code));`;

/** GET /containers over SOCKET as root (this process). */
function getContainers(socket: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve) => {
    request({ socketPath: socket, path: '/containers' }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    })
      .on('error', (e) => resolve({ status: 0, text: e.message }))
      .end();
  });
}

async function waitFor(what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

before(async () => {
  requireRoot();
  assertRangeFree(RANGE, 1_000_000);
  work = tempDir(cleanup, 'igloo-seams-');
  mallory = createUser(cleanup, 'igloo-seams-mal');
  await delegate(mallory, RANGE, 1_000_000);
});
after(() => cleanup.run());

describe("root's users socket", () => {
  test("a user's worker cannot type into the terminal root serves from", async () => {
    const inject = probe('worker-inject');
    const dir = tempDir(cleanup, 'igloo-seams-root-', 0o700);
    const env = rootTestEnv(dir, 37_000_000);
    const shared = tempDir(cleanup, 'igloo-seams-sock-', 0o755);
    const usersSocket = join(shared, 'users.sock');
    const marker = join(work, 'typed-into-roots-shell');
    // root's interactive shell on a real pty runs the server in the foreground
    const shell = runAs(
      'root',
      [
        'python3',
        join(root, 'test/probe/ttyshell.py'),
        'root',
        `${process.execPath} ${stagedCli(cleanup)} serve --socket ${join(dir, 'root.sock')} --users-socket ${usersSocket}; printf 'TIOCSTI-%s\\n' DONE`,
      ],
      { env, timeoutMs: 120_000 },
    );
    let attack = { status: null as number | null, stdout: '', stderr: '' };
    try {
      await waitFor('the users socket', () => existsSync(usersSocket));
      attack = await runAs(mallory, [inject, 'tty', usersSocket, `touch ${marker}`]);
    } finally {
      // the server is root's shell's foreground job: its end gives the shell back
      const ppid = /^WORKER \d+ ppid=(\d+) /m.exec(attack.stdout);
      if (ppid) process.kill(Number(ppid[1]), 'SIGTERM');
    }
    const transcript = await shell;
    const seen = `${attack.stdout}${attack.stderr}\nroot's terminal:\n${transcript.stdout}`;
    assert.equal(attack.status, 0, `the attack itself failed:\n${seen}`);
    assert.match(attack.stdout, /^INJECT-DONE$/m, seen);
    assert.equal(transcript.status, 0, seen);
    assert.ok(!existsSync(marker), `the user typed into root's shell:\n${seen}`);
    // the worker has no controlling terminal, and no terminal among its fds
    const worker = /^WORKER (\d+) ppid=\d+ tty_nr=(\d+) sid=(\d+)$/m.exec(attack.stdout);
    assert.ok(worker, seen);
    assert.equal(worker[2], '0', `the worker has root's terminal as its own:\n${seen}`);
    assert.equal(worker[3], worker[1], `the worker is in root's session:\n${seen}`);
    // the worker is not the user's to trace: it took the user's ids after it started
    assert.match(attack.stdout, /^INJECT attach EPERM$/m, seen);
  });
});

describe("root's users socket, its channel", () => {
  test("a user cannot bring root's server down through their worker's channel", async () => {
    const inject = probe('worker-inject');
    const dir = tempDir(cleanup, 'igloo-seams-root-', 0o700);
    const shared = tempDir(cleanup, 'igloo-seams-sock-', 0o755);
    const usersSocket = join(shared, 'users.sock');
    const server = await startServe(
      cleanup,
      'root',
      ['--socket', join(dir, 'root.sock'), '--users-socket', usersSocket],
      rootTestEnv(dir, 37_000_000),
    );
    const attack = await runAs(mallory, [inject, 'ipc', usersSocket]);
    const seen = () => `${attack.stdout}${attack.stderr}\nserver: ${server.session.stderr}`;
    assert.equal(attack.status, 0, `the attack itself failed:\n${seen()}`);
    assert.match(attack.stdout, /^INJECT-DONE$/m, seen());
    // root's server still serves root and the user, on the same socket
    assert.equal((await getContainers(usersSocket)).status, 200, seen());
    const again = await runAs(mallory, [process.execPath, '-e', GET_CLIENT, usersSocket]);
    assert.match(again.stdout, /^200 /, `${again.stdout}${again.stderr}\n${seen()}`);
    assert.equal(server.session.child.exitCode, null, `root's server died:\n${seen()}`);
    assert.match(attack.stdout, /^IPC EPERM$/m, seen());
  });
});

describe("root's users socket, its path", () => {
  test('a link or a FIFO a user planted there: refused, nothing followed or removed', async () => {
    const dir = tempDir(cleanup, 'igloo-seams-root-', 0o700);
    const sticky = tempDir(cleanup, 'igloo-seams-sticky-', 0o1777);
    const victim = join(work, 'root-only');
    writeFileSync(victim, 'root only\n', { mode: 0o600 });
    const link = join(sticky, 'link.sock');
    const fifo = join(sticky, 'fifo.sock');
    for (const argv of [
      ['ln', '-s', victim, link],
      ['mkfifo', fifo],
    ]) {
      const r = await runAs(mallory, argv);
      assert.equal(r.status, 0, `${argv.join(' ')}: ${r.stderr}`);
    }
    for (const planted of [link, fifo]) {
      const r = await runAs(
        'root',
        [
          process.execPath,
          stagedCli(cleanup),
          'serve',
          '--socket',
          join(dir, 'root.sock'),
          '--users-socket',
          planted,
        ],
        { env: rootTestEnv(dir, 37_000_000), timeoutMs: 30_000 },
      );
      assert.equal(r.status, 1, `serve on ${planted}: ${r.status} ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, new RegExp(`${planted}: a file that is not a socket`), r.stderr);
    }
    assert.ok(lstatSync(link).isSymbolicLink() && lstatSync(fifo).isFIFO(), 'both left in place');
    const st = statSync(victim);
    assert.equal(readFileSync(victim, 'utf8'), 'root only\n');
    assert.deepEqual([st.uid, st.mode & 0o7777], [0, 0o600]);
  });
});

describe('autostart from a boot script', () => {
  test("the README's line runs a user's login without root's terminal", async () => {
    const tiocsti = probe('tiocsti');
    const marker = join(work, 'typed-by-a-profile');
    // mallory's login pushes a command into every terminal it can reach
    writeFileSync(join(mallory.home, '.profile'), `${tiocsti} 'touch ${marker}'\n`);
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const line = /^([^\n#]*\bsu - anna -c 'igloo autostart'[^\n#]*?)[ \t]+# anna's/m.exec(readme);
    assert.ok(line, 'the README shows the boot-script line for a user (su - anna ...)');
    const command = line[1]!
      .replace('anna', mallory.name)
      .replace("'igloo autostart'", `'${stagedFront(cleanup)} autostart'`);
    const transcript = await runAs(
      'root',
      ['python3', join(root, 'test/probe/ttyshell.py'), 'root', command],
      { timeoutMs: 120_000 },
    );
    const seen = `${command}\n${transcript.stdout}`;
    assert.equal(transcript.status, 0, seen);
    assert.match(transcript.stdout, /No container is marked igloo.autostart/, seen);
    assert.ok(!existsSync(marker), `mallory's login typed into root's shell:\n${seen}`);
    assert.match(transcript.stdout, /TIOCSTI \/dev\/tty ENXIO/, seen);
    for (const fd of ['fd0', 'fd1', 'fd2'])
      assert.doesNotMatch(transcript.stdout, new RegExp(`TIOCSTI ${fd} ok`), seen);
  });
});

/** `ls -l DIR` of /proc/…/fd inside NAME: fd -> target. */
async function fdsInside(name: string, dir: string, env: Record<string, string> = {}) {
  const r = await as.ok(['exec', '-T', name, '--', '/bin/ls', '-l', dir], env);
  const fds = new Map<number, string>();
  for (const m of r.stdout.matchAll(/ (\d+) -> (.*)$/gm)) fds.set(Number(m[1]), m[2]!);
  assert.ok(fds.size > 0, `no descriptors listed in ${dir}:\n${r.stdout}${r.stderr}`);
  return { fds, shown: r.stdout };
}

describe("a user's container holds no descriptor of the host's", () => {
  test('init and exec (front and Node), with a console log and a sidecar', async () => {
    const name = 'seams-fds';
    as.destroyLater(name);
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    await as.ok(['create', name, '--net', 'user', '-p', `127.0.0.1:${port}:80`]);
    await as.ok(['start', name]);
    const home = join(mallory.home, '.local/share/igloo/containers', name);
    assert.ok(existsSync(join(home, 'console.log')), 'the monitor keeps a console log');
    const init = await fdsInside(name, '/proc/1/fd/');
    assert.deepEqual([...init.fds.keys()].sort(), [0, 1, 2], `init holds:\n${init.shown}`);
    for (const env of [{}, { IGLOO_PREPARED: '0' }] as Array<Record<string, string>>) {
      const self = await fdsInside(name, '/proc/self/fd/', env);
      // ls's own descriptor on the directory it lists, besides 0-2
      const extra = [...self.fds].filter(([fd]) => fd > 2);
      assert.ok(
        extra.length <= 1 && extra.every(([, target]) => /^\/proc\/\d+\/fd$/.test(target)),
        `an exec'd process holds (${JSON.stringify(env)}):\n${self.shown}`,
      );
    }
  });
});

describe('process listings', () => {
  test("a container's escape sequences reach root's and the owner's igloo ps only as text", async () => {
    const name = 'seams-esc';
    as.destroyLater(name);
    await as.ok(['create', name, '--net', 'private']);
    await as.ok(['start', name]);
    // a title change, a status query (the terminal types its answer into its input), a C1 CSI
    const payload = `"$(printf '\\033]2;owned\\007\\033[6n\\302\\2336n')"`;
    await as.ok([
      'exec',
      '-T',
      name,
      '--',
      '/bin/sh',
      '-c',
      `/bin/sh -c 'sleep 1000; true' esc-probe ${payload} >/dev/null 2>&1 &`,
    ]);
    // and an entry of the owner's directory whose name is a title change: reported as broken
    const planted = join(mallory.home, '.local/share/igloo/containers', 'x\u001b]2;owned\u0007');
    const ln = await runAs(mallory, ['ln', '-s', '/nonexistent', planted]);
    assert.equal(ln.status, 0, ln.stderr);
    cleanup.add('remove the planted entry', () => rmSync(planted, { force: true }));
    const rootEnv = rootTestEnv(tempDir(cleanup, 'igloo-seams-root-', 0o700), 37_000_000);
    const shown = 'esc-probe ?]2;owned??[6n?6n';
    for (const [who, args] of [
      ['root', ['ps', '--all']],
      [mallory, ['ps']],
    ] as const) {
      let out = '';
      let err = '';
      const deadline = Date.now() + 15_000;
      for (;;) {
        const r = await igloo(cleanup, who, args, who === 'root' ? { env: rootEnv } : {});
        assert.equal(r.status, 0, r.stderr);
        out = r.stdout;
        err = r.stderr;
        if (out.includes('esc-probe') || Date.now() > deadline) break;
      }
      const seen = `igloo ${args.join(' ')} as ${who === 'root' ? 'root' : who.name}:\n${JSON.stringify(out)}\n${JSON.stringify(err)}`;
      assert.ok(out.includes(shown), seen);
      if (who === 'root') assert.ok(err.includes('container x?]2;owned? (broken)'), seen);
      for (const raw of ['\u001b', '\u0007', '\u009b'])
        assert.ok(!out.includes(raw) && !err.includes(raw), seen);
    }
  });
});
