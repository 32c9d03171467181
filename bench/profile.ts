/**
 * Where igloo's time goes: runs `igloo run -- /bin/true`, `igloo run --name`
 * and `igloo exec` as the unprivileged test user under strace (process
 * events only: execve, clone, exit) and prints a timeline per process, so
 * node starts, helper spawns, newuidmap/newgidmap execs and the gaps
 * between them are visible. Run as root (creates and removes igloo-bench):
 *
 *   IGLOO_DIST=/tmp/x-dist node --import tsx bench/profile.ts
 *
 * strace slows every syscall it stops on, so the absolute times are higher
 * than without it; compare phases, not totals (bench/run.ts has those).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  Cleanup,
  assertRangeFree,
  createUser,
  delegate,
  type TestUser,
} from '../test/support/host.ts';
import { killIdRange } from './cleanup.ts';

const repo = new URL('..', import.meta.url).pathname.replace(/\/$/, '');

function asUser(user: TestUser, argv: string[]): { status: number | null; stderr: string } {
  const r = spawnSync(
    'setpriv',
    [
      `--reuid=${user.uid}`,
      `--regid=${user.gid}`,
      '--init-groups',
      'env',
      '-i',
      `HOME=${user.home}`,
      'PATH=/usr/sbin:/usr/bin:/sbin:/bin',
      ...argv,
    ],
    { encoding: 'utf8', cwd: '/' },
  );
  return { status: r.status, stderr: r.stderr };
}

interface Event {
  t: number;
  pid: number;
  what: string;
}

/** Reads strace -f -ttt output into execs and exits with times relative to the first line. */
function parse(log: string): Event[] {
  const events: Event[] = [];
  let t0 = 0;
  for (const line of readFileSync(log, 'utf8').split('\n')) {
    const m = /^(\d+)\s+(\d+\.\d+) (.*)$/.exec(line);
    if (!m) continue;
    const t = Number(m[2]) * 1000;
    if (!t0) t0 = t;
    const rest = m[3]!;
    const exec = /^execve\("([^"]+)", \[(.*?)\]/.exec(rest);
    if (exec && !rest.includes('= -1')) {
      const args = exec[2]!.replace(/"/g, '').split(', ').slice(0, 4).join(' ');
      events.push({ t: t - t0, pid: Number(m[1]), what: `exec ${args}` });
    } else if (/^\+\+\+ exited/.test(rest) && events.some((e) => e.pid === Number(m[1]))) {
      // exits of processes that exec'd (not of node's threads)
      events.push({
        t: t - t0,
        pid: Number(m[1]),
        what: rest.replace(/\+\+\+ /, '').replace(/ \+\+\+/, ''),
      });
    }
  }
  return events;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0)
    throw new Error('run as root: it creates the test user igloo-bench');
  const cleanup = new Cleanup();
  try {
    const work = mkdtempSync('/tmp/igloo-profile-');
    chmodSync(work, 0o755);
    cleanup.add(`remove ${work}`, () => rmSync(work, { recursive: true, force: true }));
    const dist = join(work, 'dist');
    cpSync(process.env.IGLOO_DIST ?? join(repo, 'dist'), dist, { recursive: true });
    spawnSync('chmod', ['-R', 'a+rX', dist]);
    assertRangeFree(14_000_000, 1_000_000);
    const user = createUser(cleanup, 'igloo-bench');
    await delegate(user, 14_000_000, 1_000_000);
    cleanup.add('kill igloo-bench processes', () => {
      spawnSync('pkill', ['-KILL', '-u', 'igloo-bench']);
    });
    cleanup.add('kill processes of the test id range', () => {
      killIdRange(14_000_000, 1_000_000);
    });
    const cli = join(dist, 'igloo.mjs');
    const igloo = (...args: string[]) => [process.execPath, cli, ...args];
    const setup = [
      igloo('create', 'prof-run'),
      igloo('create', 'prof-exec', '--init', '/bin/sleep 2147483647'),
      igloo('start', 'prof-exec'),
    ];
    for (const s of setup) {
      const r = asUser(user, s);
      if (r.status !== 0) throw new Error(`${s.join(' ')}: ${r.stderr}`);
    }
    const cases: Array<[string, string[]]> = [
      ['igloo run -- /bin/true', igloo('run', '--', '/bin/true')],
      [
        'igloo run --name prof-run -- /bin/true',
        igloo('run', '--name', 'prof-run', '--', '/bin/true'),
      ],
      ['igloo exec prof-exec -- /bin/true', igloo('exec', 'prof-exec', '--', '/bin/true')],
    ];
    for (const [label, argv] of cases) {
      asUser(user, argv); // warm the page cache
      const log = join(user.home, 'strace.log');
      // strace runs as root and drops to the user itself (-u): a traced
      // process started by the user would lose newuidmap's setuid bit.
      const traced = spawnSync(
        'strace',
        [
          '-f',
          '-ttt',
          '-q',
          '-s',
          '80',
          '-e',
          'trace=execve',
          '-o',
          log,
          '-u',
          user.name,
          '--',
          'env',
          '-i',
          `HOME=${user.home}`,
          'PATH=/usr/sbin:/usr/bin:/sbin:/bin',
          ...argv,
        ],
        { encoding: 'utf8', cwd: '/' },
      );
      const r = { status: traced.status, stderr: traced.stderr };
      if (r.status !== 0) throw new Error(`${label}: ${r.stderr}`);
      const events = parse(log);
      process.stdout.write(
        `\n== ${label}  (under strace; total ${events.at(-1)?.t.toFixed(1)} ms)\n`,
      );
      for (const e of events)
        process.stdout.write(
          `${e.t.toFixed(1).padStart(8)} ms  pid ${String(e.pid).padEnd(7)} ${e.what}\n`,
        );
    }
    asUser(user, igloo('destroy', '--force', 'prof-exec'));
    asUser(user, igloo('destroy', 'prof-run'));
  } finally {
    await cleanup.run();
  }
}

await main();
