/**
 * Test fixtures that touch the real host: test users (always named igloo-…),
 * their delegated ranges, temporary directories, and running the built CLI as
 * a given user. Every creator registers its own undo with a Cleanup, and
 * tests call cleanup.run() in an after() hook, so a failing test still
 * removes what it made.
 */
import { execFile, spawn, spawnSync, type SpawnOptions } from 'node:child_process';
import {
  mkdtempSync,
  rmSync,
  chmodSync,
  cpSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);
export const root = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');

/** Undo actions run in reverse order; errors are collected, not swallowed. */
export class Cleanup {
  private readonly undo: Array<{ what: string; fn: () => void | Promise<void> }> = [];
  add(what: string, fn: () => void | Promise<void>): void {
    this.undo.push({ what, fn });
  }
  async run(): Promise<void> {
    const errors: string[] = [];
    while (this.undo.length) {
      const { what, fn } = this.undo.pop()!;
      try {
        await fn();
      } catch (err) {
        errors.push(`${what}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    if (errors.length) throw new Error(`cleanup failed:\n${errors.join('\n')}`);
  }
}

/** Fails loudly (never skips) when the suite is not run as root. */
export function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new Error(
      'integration tests must run as root (CI does): they create users and containers',
    );
  }
}

export function tempDir(cleanup: Cleanup, prefix = 'igloo-test-', mode = 0o755): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, mode);
  cleanup.add(`remove ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface TestUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
}

function idOf(flag: '-u' | '-g', name: string): number {
  return Number(spawnSync('id', [flag, name], { encoding: 'utf8' }).stdout.trim());
}

/** Removes lines for `name` from the real /etc/subuid and /etc/subgid. */
function dropSubidLines(name: string, uid: number): void {
  for (const path of ['/etc/subuid', '/etc/subgid']) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      continue;
    }
    const kept = text
      .split('\n')
      .filter((l) => !l.startsWith(`${name}:`) && !l.startsWith(`${uid}:`));
    if (kept.join('\n') !== text)
      spawnSync('sh', ['-c', `cat > ${path}.igloo-test && mv ${path}.igloo-test ${path}`], {
        input: kept.join('\n'),
      });
  }
}

/**
 * Creates a real user. useradd is told not to allocate subordinate ids, so
 * the test decides the delegation. The user and any /etc/subuid and
 * /etc/subgid lines it gets are removed by cleanup.
 */
export function createUser(cleanup: Cleanup, name: string): TestUser {
  if (!name.startsWith('igloo-')) throw new Error(`test users are named igloo-…, not ${name}`);
  // A leftover from a crashed run would make useradd fail: remove it first.
  if (spawnSync('id', [name]).status === 0) {
    const uid = idOf('-u', name);
    spawnSync('pkill', ['-KILL', '-u', name]);
    spawnSync('userdel', ['-r', '-f', name], { stdio: 'ignore' });
    dropSubidLines(name, uid);
  }
  const homeParent = tempDir(cleanup, 'igloo-home-');
  const home = join(homeParent, name);
  const r = spawnSync(
    'useradd',
    ['-K', 'SUB_UID_COUNT=0', '-K', 'SUB_GID_COUNT=0', '-m', '-d', home, '-s', '/bin/sh', name],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`useradd ${name} failed: ${r.stderr}`);
  const user = { name, uid: idOf('-u', name), gid: idOf('-g', name), home };
  cleanup.add(`remove user ${name}`, () => {
    spawnSync('pkill', ['-KILL', '-u', name]);
    const d = spawnSync('userdel', ['-f', name], { encoding: 'utf8' });
    if (d.status !== 0 && d.status !== 6) throw new Error(`userdel ${name}: ${d.stderr}`);
    dropSubidLines(name, user.uid);
    // igloo's runtime directory when there is no XDG_RUNTIME_DIR
    rmSync(`/tmp/igloo-run-${user.uid}`, { recursive: true, force: true });
  });
  return user;
}

/** Adds `name:start:count` to the real /etc/subuid and /etc/subgid (removed by the user's cleanup). */
export async function delegate(user: TestUser, start: number, count: number): Promise<void> {
  await execFileP('usermod', [
    '--add-subuids',
    `${start}-${start + count - 1}`,
    '--add-subgids',
    `${start}-${start + count - 1}`,
    user.name,
  ]);
}

/**
 * A copy of dist/ that every user can read and run (the clone itself may
 * sit under a directory other users cannot enter, such as /root).
 */
let staged: string | undefined;
export function stagedCli(cleanup: Cleanup): string {
  if (!staged) {
    const dir = tempDir(cleanup, 'igloo-dist-');
    // verbatim: bin/igloo stays a link to ../libexec/igloo-helper in the copy
    cpSync(process.env.IGLOO_DIST ?? join(root, 'dist'), dir, {
      recursive: true,
      verbatimSymlinks: true,
    });
    spawnSync('chmod', ['-R', 'a+rX', dir]);
    staged = join(dir, 'igloo.mjs');
    cleanup.add('forget staged cli', () => {
      staged = undefined;
    });
  }
  return staged;
}

export interface RunResult {
  readonly status: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command as `user` (via setpriv, with a clean login-like environment), or as root. */
export function runAs(
  user: TestUser | 'root',
  argv: readonly string[],
  opts: { env?: Record<string, string>; input?: string; timeoutMs?: number; cwd?: string } = {},
): Promise<RunResult> {
  const base: Record<string, string> = {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    LANG: 'C.UTF-8',
  };
  let command: string;
  let args: string[];
  if (user === 'root') {
    Object.assign(base, { HOME: '/root', USER: 'root' });
    command = argv[0]!;
    args = argv.slice(1);
  } else {
    Object.assign(base, { HOME: user.home, USER: user.name, LOGNAME: user.name });
    command = 'setpriv';
    args = [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups', '--', ...argv];
  }
  const spawnOpts: SpawnOptions = {
    env: { ...base, ...opts.env },
    cwd: opts.cwd ?? '/',
    stdio: ['pipe', 'pipe', 'pipe'],
  };
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, spawnOpts);
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr });
    });
    // A command that exits before reading its input closes the pipe: not an error.
    child.stdin!.on('error', () => undefined);
    child.stdin!.end(opts.input ?? '');
  });
}

/**
 * The `igloo` command as users run it: the native front (dist/bin/igloo),
 * which runs prepared exec/run plans itself and hands the rest to igloo.mjs.
 */
export function stagedFront(cleanup: Cleanup): string {
  return join(dirname(stagedCli(cleanup)), 'bin', 'igloo');
}

/** Runs the built igloo command as `user` (through its native front). */
export function igloo(
  cleanup: Cleanup,
  user: TestUser | 'root',
  args: readonly string[],
  opts: Parameters<typeof runAs>[2] = {},
): Promise<RunResult> {
  return runAs(user, [stagedFront(cleanup), ...args], opts);
}

/** A running command as `user`, for interactive tests (console). */
export function spawnAs(user: TestUser | 'root', argv: readonly string[]) {
  const env: Record<string, string> = {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    LANG: 'C.UTF-8',
  };
  const [command, args] =
    user === 'root'
      ? [argv[0]!, argv.slice(1)]
      : ['setpriv', [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups', '--', ...argv]];
  Object.assign(
    env,
    user === 'root' ? { HOME: '/root', USER: 'root' } : { HOME: user.home, USER: user.name },
  );
  const child = spawn(command, args, { env, cwd: '/', stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((resolve) =>
    child.on('close', (code) => resolve(code)),
  );
  return {
    child,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    exited,
    /** Waits until stdout matches, or fails after timeoutMs with what was seen. */
    async waitFor(pattern: RegExp, timeoutMs = 10_000): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(stdout)) {
        if (Date.now() > deadline)
          throw new Error(
            `timed out waiting for ${pattern}; stdout: ${JSON.stringify(stdout)} stderr: ${JSON.stringify(stderr)}`,
          );
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}

/**
 * Drives an `igloo console` session: a shell must answer a command on it,
 * and Ctrl-a q must detach with status 0. The session is killed whatever
 * happens.
 */
export async function expectConsoleAnswers(session: ReturnType<typeof spawnAs>): Promise<void> {
  try {
    session.child.stdin!.write('echo hi-$((40+2))\n');
    await session.waitFor(/hi-42/);
    session.child.stdin!.write('\x01q');
    if ((await session.exited) !== 0)
      throw new Error(`igloo console did not detach cleanly: ${session.stderr}`);
  } finally {
    session.child.kill('SIGKILL');
  }
}

/**
 * An igloo environment of root's own under DIR: private copies of the subid
 * files delegating BASE..BASE+999999 to root, and data and run directories
 * there (so a test never touches /etc/subuid or /var/lib/igloo).
 */
export function rootTestEnv(dir: string, base: number): Record<string, string> {
  writeFileSync(join(dir, 'subuid'), `root:${base}:1000000\n`);
  writeFileSync(join(dir, 'subgid'), `root:${base}:1000000\n`);
  return {
    IGLOO_SUBUID: join(dir, 'subuid'),
    IGLOO_SUBGID: join(dir, 'subgid'),
    IGLOO_DATA_DIR: join(dir, 'data'),
    IGLOO_RUN_DIR: join(dir, 'run'),
  };
}

/** Fails loudly if any subid line already overlaps [start, start+count). */
export function assertRangeFree(start: number, count: number): void {
  for (const path of ['/etc/subuid', '/etc/subgid']) {
    let text = '';
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      const [, s, c] = line.split(':');
      if (!s || !c) continue;
      if (Number(s) < start + count && start < Number(s) + Number(c)) {
        throw new Error(
          `${path} already has ${line}, which overlaps the test's range ${start}+${count}: remove the leftover`,
        );
      }
    }
  }
}

/**
 * Root's containers take their slices from root's own block. The install
 * script grants one; when it is missing, the test adds one and removes it.
 */
export async function ensureRootDelegation(
  cleanup: Cleanup,
  start = 8_000_000,
  count = 1_000_000,
): Promise<void> {
  const has = (path: string) => {
    try {
      return readFileSync(path, 'utf8')
        .split('\n')
        .some((l) => l.startsWith('root:') || l.startsWith('0:'));
    } catch {
      return false;
    }
  };
  if (has('/etc/subuid') && has('/etc/subgid')) return;
  assertRangeFree(start, count);
  // usermod refuses to edit root while root has processes; igloo's own grant does not.
  const granted = await igloo(cleanup, 'root', [
    'subid',
    'grant',
    'root',
    '--start',
    String(start),
    '--count',
    String(count),
  ]);
  if (granted.status !== 0) throw new Error(`cannot grant root a test block: ${granted.stderr}`);
  cleanup.add('revoke root test delegation', async () => {
    const r = await igloo(cleanup, 'root', ['subid', 'revoke', 'root']);
    if (r.status !== 0) throw new Error(r.stderr);
  });
}

/** /proc/PID/status as fields ("NSpid" -> "6900\t1"). */
export function procStatus(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

/** Every live (not zombie) process of the host: pid, real uid and command line. */
export function liveProcesses(): Array<{ pid: number; uid: number; cmdline: string }> {
  const out: Array<{ pid: number; uid: number; cmdline: string }> = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const status = readFileSync(`/proc/${e}/status`, 'utf8');
      if (/^State:\s+[ZX]/m.test(status)) continue;
      const uid = Number(/^Uid:\s+(\d+)/m.exec(status)![1]);
      const cmdline = readFileSync(`/proc/${e}/cmdline`, 'utf8').replace(/\0/g, ' ');
      out.push({ pid: Number(e), uid, cmdline });
    } catch {
      // gone
    }
  }
  return out;
}
