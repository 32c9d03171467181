/**
 * igloo logs as a real user: the monitor keeps the console's output in the
 * container's directory (bounded, readable after stop), -f follows it and
 * ends with the container, and the attacks: a container's escaped root
 * cannot put anything in the log's place, the monitor refuses a link or a
 * FIFO there (and writes nothing through it), and a terminal escape in the
 * log reaches a terminal only as text.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  Cleanup,
  assertRangeFree,
  createUser,
  delegate,
  requireRoot,
  runAs,
  spawnAs,
  stagedCli,
  stagedFront,
  type TestUser,
} from '../support/host.ts';
import { asUser } from '../support/as-user.ts';

const cleanup = new Cleanup();
const RANGE = 61_000_000;
let user: TestUser;

const containerDir = (name: string) => join(user.home, '.local/share/igloo/containers', name);
const logFile = (name: string) => join(containerDir(name), 'console.log');

const { ok, run, destroyLater } = asUser(cleanup, () => user);

const logText = (name: string) =>
  existsSync(logFile(name)) ? readFileSync(logFile(name), 'latin1') : '';

/** Waits until the log (past byte FROM) holds PATTERN (the monitor writes it as the pty gives it). */
async function waitForLog(
  name: string,
  pattern: RegExp,
  from = 0,
  timeoutMs = 10_000,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = logText(name).slice(from);
    if (pattern.test(text)) return text;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern} in ${text}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts NAME and waits for its console shell's prompt: what the tests write comes after init's own output. */
async function start(name: string): Promise<void> {
  const from = logText(name).length;
  await ok(['start', name]);
  await waitForLog(name, new RegExp(`@${name}:/\\$ `), from);
}

async function createStarted(name: string, args: string[] = []): Promise<void> {
  destroyLater(name);
  await ok(['create', name]);
  if (args.length) await ok(['start', name, ...args]);
  else await start(name);
}

const toConsole = (name: string, script: string) =>
  ok(['exec', name, '--', '/bin/sh', '-c', `{ ${script}; } > /dev/console`]);

before(async () => {
  requireRoot();
  assertRangeFree(RANGE, 1_000_000);
  user = createUser(cleanup, 'igloo-logs');
  await delegate(user, RANGE, 1_000_000);
  stagedCli(cleanup);
  await createStarted('lg1');
});
after(() => cleanup.run());

describe('igloo logs', () => {
  test("keeps the console's output in the container's directory, readable after stop", async () => {
    await toConsole('lg1', 'echo first-line; echo second-line');
    await waitForLog('lg1', /second-line/);
    const st = statSync(logFile('lg1'));
    assert.equal(st.uid, user.uid, "the log is the owner's");
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal(statSync(containerDir('lg1')).mode & 0o777, 0o700);
    const all = await ok(['logs', 'lg1']);
    assert.match(all.stdout, /first-line\r?\nsecond-line/);
    const tail = await ok(['logs', 'lg1', '--tail', '1']);
    assert.match(tail.stdout, /^second-line\r?\n$/);
  });

  test('-f prints what comes and ends when the container stops; the log stays', async () => {
    const follow = spawnAs(user, [stagedFront(cleanup), 'logs', 'lg1', '-f', '--tail', '1']);
    try {
      await follow.waitFor(/second-line/);
      await toConsole('lg1', 'echo followed-line');
      await follow.waitFor(/followed-line/);
      await ok(['stop', 'lg1', '--timeout', '5']);
      assert.equal(await follow.exited, 0, follow.stderr);
    } finally {
      follow.child.kill('SIGKILL');
    }
    const r = await ok(['logs', 'lg1']);
    assert.match(r.stdout, /followed-line/, 'readable after stop');
    const stopped = await ok(['logs', 'lg1', '-f']);
    assert.match(stopped.stdout, /followed-line/, '-f on a stopped container prints and ends');
  });

  test('a terminal escape in the log reaches a terminal only as text (a pipe gets the bytes)', async () => {
    await start('lg1');
    // a title change, a cursor-position query (the terminal would type its answer) and C1 CSI
    await toConsole('lg1', String.raw`printf 'evil:\033]0;pwned\007:\033[6n:\302\2332J:end\n'`);
    await waitForLog('lg1', /:end/);
    const piped = await ok(['logs', 'lg1', '--tail', '1']);
    assert.ok(piped.stdout.includes('\x1b]0;pwned\x07'), 'a pipe gets the bytes as they are');
    // script(1) gives the command a pty, as a user's terminal would
    const tty = await runAs(user, [
      'script',
      '-qec',
      `${stagedFront(cleanup)} logs lg1 --tail 1`,
      '/dev/null',
    ]);
    assert.equal(tty.status, 0, tty.stderr);
    assert.match(tty.stdout, /evil:\^\[\]0;pwned\^G:\^\[\[6n:<U\+009B>2J:end/);
    assert.ok(
      !tty.stdout.includes('\x1b'),
      `no ESC reaches the terminal: ${JSON.stringify(tty.stdout)}`,
    );
    assert.ok(!tty.stdout.includes('\u009b'), 'no C1 CSI either');
    await ok(['stop', 'lg1', '--timeout', '5']);
  });

  test("the container's escaped root cannot put anything in the log's place", async () => {
    const info = JSON.parse((await ok(['info', 'lg1', '--json'])).stdout) as {
      config: { idmap: { uid: Array<{ outside: number }> } };
    };
    const escaped = info.config.idmap.uid[0]!.outside;
    const as = (cmd: string) =>
      spawnSync(
        'setpriv',
        [`--reuid=${escaped}`, `--regid=${escaped}`, '--clear-groups', '--', '/bin/sh', '-c', cmd],
        { encoding: 'utf8' },
      );
    const victim = join(user.home, 'victim');
    writeFileSync(victim, 'untouched\n');
    const before = readFileSync(logFile('lg1'));
    for (const cmd of [
      `ln -sf ${victim} ${logFile('lg1')}`,
      `rm -f ${logFile('lg1')}`,
      `echo injected >> ${logFile('lg1')}`,
      `mv ${logFile('lg1')} ${logFile('lg1')}.x`,
    ]) {
      const r = as(cmd);
      assert.notEqual(r.status, 0, `${cmd} must fail as the container's root`);
      assert.match(r.stderr, /Permission denied/);
    }
    assert.deepEqual(readFileSync(logFile('lg1')), before);
    assert.equal(readFileSync(victim, 'utf8'), 'untouched\n');
  });

  test('the monitor refuses a link, a FIFO or a second link in its place and writes nothing through it', async () => {
    const victim = join(user.home, 'victim');
    writeFileSync(victim, 'untouched\n');
    const saved = readFileSync(logFile('lg1'));
    const plant = (what: 'link' | 'fifo' | 'hardlink') => {
      rmSync(logFile('lg1'), { force: true });
      const r =
        what === 'link'
          ? (symlinkSync(victim, logFile('lg1')), { status: 0, stderr: '' })
          : what === 'fifo'
            ? spawnSync('mkfifo', [logFile('lg1')], { encoding: 'utf8' })
            : spawnSync('ln', [victim, logFile('lg1')], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      spawnSync('chown', ['-h', `${user.uid}:${user.gid}`, logFile('lg1'), victim]);
    };
    for (const what of ['link', 'fifo', 'hardlink'] as const) {
      plant(what);
      const r = await run(['start', 'lg1']);
      assert.notEqual(r.status, 0, `start must refuse a ${what}`);
      assert.match(r.stderr, /console\.log/, r.stderr);
      assert.equal(
        readFileSync(victim, 'utf8'),
        'untouched\n',
        `nothing written through a ${what}`,
      );
      const state = JSON.parse((await ok(['info', 'lg1', '--json'])).stdout) as {
        state: { status: string };
      };
      assert.notEqual(state.state.status, 'running', `no container runs after a refused ${what}`);
    }
    rmSync(logFile('lg1'), { force: true });
    writeFileSync(logFile('lg1'), saved);
    spawnSync('chown', [`${user.uid}:${user.gid}`, logFile('lg1')]);
    await ok(['start', 'lg1']);
    await ok(['stop', 'lg1', '--timeout', '5']);
    assert.ok(lstatSync(logFile('lg1')).isFile());
  });

  test('the log is bounded: past 1 MiB it becomes console.log.1 and a new one begins', async () => {
    await start('lg1');
    await toConsole(
      'lg1',
      "dd if=/dev/zero bs=1024 count=1600 2>/dev/null | tr '\\0' a; echo; echo tail-mark",
    );
    const deadline = Date.now() + 30_000;
    while (
      !/tail-mark/.test(existsSync(logFile('lg1')) ? readFileSync(logFile('lg1'), 'latin1') : '')
    ) {
      assert.ok(Date.now() < deadline, 'the monitor wrote the whole output');
      await new Promise((r) => setTimeout(r, 100));
    }
    const older = statSync(`${logFile('lg1')}.1`).size;
    const current = statSync(logFile('lg1')).size;
    assert.ok(older <= 1024 * 1024 && current <= 1024 * 1024, `${older} + ${current}`);
    assert.ok(older + current >= 1600 * 1024, 'nothing of the last 1 MiB is lost');
    const r = await ok(['logs', 'lg1', '--tail', '1']);
    assert.match(r.stdout, /^tail-mark\r?\n$/);
    await ok(['stop', 'lg1', '--timeout', '5']);
  });

  test('bad input changes nothing: an unknown container, a container started without a console', async () => {
    const r = await run(['logs', 'no-such']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /No container named "no-such"/);
    assert.equal(existsSync(containerDir('no-such')), false);
    await createStarted('lg2', ['--console', 'null']);
    const none = await run(['logs', 'lg2']);
    assert.equal(none.status, 1);
    assert.match(none.stderr, /No console output kept for "lg2"/);
    assert.match(none.stderr, /--console null/);
    assert.equal(existsSync(logFile('lg2')), false);
  });
});
