/**
 * The soak (issue 18): a real test user runs N start/stop cycles and N
 * one-shot runs, half through the CLI (the native front, as people type
 * it) and half through the API (the Igloo facade of the built dist/api.mjs,
 * in one long-lived Node process), while M containers stay running and
 * take an exec after every operation. At the end, root checks that the
 * host has the same mounts, that no process (zombie or not) of the user or
 * of its containers' ids is left, that the API process has the same
 * descriptors and a stable heap as after its warm-up, that no container
 * lock or run file is left, and that `igloo audit` finds nothing new.
 *
 *   npm run soak                           SOAK_SCALE=1: 1000 cycles, 1000 runs, 200 kept
 *   SOAK_SCALE=0.02 npm run soak           20/20/4
 *   node --import tsx scripts/soak.ts --cycles 20 --runs 20 --keep 5 [--json]
 *
 * Prints the figures (durations, per-operation latency percentiles,
 * descriptors and heap before/after) and exits 1 if an invariant fails.
 * test/integration/soak.test.ts runs a short one in `npm test`. Needs root
 * and a built dist/ (npm run soak builds it); take /tmp/igloo-itest.lock
 * on a shared machine (it creates a user and a subid block).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type * as Api from '../src/api/index.ts';
import {
  assertRangeFree,
  Cleanup,
  createUser,
  delegate,
  igloo,
  requireRoot,
  root,
  spawnAs,
  stagedCli,
  stagedFront,
  type TestUser,
} from '../test/support/host.ts';

export interface SoakOptions {
  readonly cycles: number;
  readonly runs: number;
  readonly keep: number;
  /** First id of the block the test user gets (count: (keep + 8) slices). */
  readonly base: number;
  readonly user: string;
}

export interface Latency {
  readonly n: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

export interface WorkerReport {
  readonly ms: Record<string, number>;
  readonly latency: Record<string, Latency>;
  readonly fds: { readonly before: string[]; readonly after: string[] };
  readonly heap: { readonly before: number; readonly after: number };
  readonly rss: { readonly before: number; readonly after: number };
}

export interface SoakReport {
  readonly options: SoakOptions;
  readonly worker: WorkerReport;
  readonly totalMs: number;
  /** Invariant violations; empty when the soak passed. */
  readonly problems: string[];
}

const SLICE = 65536;

// ---------------------------------------------------------------- worker (the test user)

function percentiles(samples: number[]): Latency {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) =>
    Math.round(s[Math.min(s.length - 1, Math.floor(q * s.length))]! * 10) / 10;
  return { n: s.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: at(1) };
}

/** The process's descriptors as "FD -> TARGET" (the one readdir used is gone by then). */
function fdsOf(): string[] {
  const out: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      out.push(`${fd} -> ${readlinkSync(`/proc/self/fd/${fd}`)}`);
    } catch {
      // the directory descriptor readdirSync used, closed already
    }
  }
  return out;
}

function heapAfterGc(): { heap: number; rss: number } {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('soak worker: run node with --expose-gc');
  for (let i = 0; i < 3; i++) gc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, rss: m.rss };
}

function cli(front: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(front, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) =>
      code === 0
        ? resolve()
        : reject(new Error(`igloo ${args.join(' ')}: ${code ?? signal}: ${stderr.trim()}`)),
    );
  });
}

async function worker(): Promise<void> {
  const [apiPath, front] = [process.env.SOAK_API!, process.env.SOAK_FRONT!];
  const opts = JSON.parse(process.env.SOAK_OPTIONS!) as SoakOptions;
  const api = (await import(apiPath)) as typeof Api;
  const igloo = new api.Igloo();
  const samples: Record<string, number[]> = {};
  const ms: Record<string, number> = {};
  const timed = async <T>(op: string, fn: () => Promise<T>): Promise<T> => {
    const t = performance.now();
    const r = await fn();
    (samples[op] ??= []).push(performance.now() - t);
    return r;
  };
  const phase = async (name: string, fn: () => Promise<void>) => {
    const t = performance.now();
    await fn();
    ms[name] = Math.round(performance.now() - t);
  };
  const kept = Array.from({ length: opts.keep }, (_, i) => `keep-${i}`);
  let next = 0;
  const execOne = async (i: number) => {
    const name = kept[next++ % kept.length]!;
    if (i % 2 === 0) {
      const r = await timed('exec (api)', () => igloo.exec(name, ['/bin/true']));
      if (r.exitCode !== 0) throw new Error(`exec in ${name}: ${r.status}`);
    } else await timed('exec (cli)', () => cli(front, ['exec', name, '--', '/bin/true']));
  };
  const startStop = async (i: number) => {
    if (i % 2 === 0) {
      await timed('start (api)', () => igloo.start('cycle'));
      await timed('stop (api)', () => igloo.stop('cycle', 5));
    } else {
      await timed('start (cli)', () => cli(front, ['start', 'cycle']));
      await timed('stop (cli)', () => cli(front, ['stop', 'cycle']));
    }
  };
  const runOnce = async (i: number) => {
    if (i % 2 === 0) {
      const r = await timed('run (api)', () => igloo.runEphemeral(['/bin/true']));
      if (r.exitCode !== 0) throw new Error(`run: ${r.status}`);
    } else await timed('run (cli)', () => cli(front, ['run', '--', '/bin/true']));
  };

  await phase('create and start the kept containers', async () => {
    for (const name of kept) {
      await timed('create (api)', () => igloo.create(name));
      await timed('start (api)', () => igloo.start(name));
    }
    await igloo.create('cycle');
  });
  // Warm-up: every kind of call once, so lazily loaded modules, the spare
  // helper and caches are in place before the baseline.
  for (let i = 0; i < 2; i++) {
    await startStop(i);
    await runOnce(i);
    await execOne(i);
  }
  for (const k of Object.keys(samples)) if (!k.startsWith('create')) samples[k] = [];
  const fdsBefore = fdsOf();
  const before = heapAfterGc();

  await phase(`${opts.cycles} start/stop cycles`, async () => {
    for (let i = 0; i < opts.cycles; i++) {
      await startStop(i);
      await execOne(i);
    }
  });
  await phase(`${opts.runs} one-shot runs`, async () => {
    for (let i = 0; i < opts.runs; i++) {
      await runOnce(i);
      await execOne(i);
    }
  });

  const fdsAfter = fdsOf();
  const after = heapAfterGc();
  await phase('stop and destroy', async () => {
    for (const name of kept) {
      await timed('stop (api)', () => igloo.stop(name, 5));
      await timed('destroy (api)', () => igloo.destroy(name));
    }
    await igloo.destroy('cycle');
  });
  api.keepSpareHelper(false);
  const report: WorkerReport = {
    ms,
    latency: Object.fromEntries(
      Object.entries(samples)
        .filter(([, s]) => s.length)
        .map(([k, s]) => [k, percentiles(s)]),
    ),
    fds: { before: fdsBefore, after: fdsAfter },
    heap: { before: before.heap, after: after.heap },
    rss: { before: before.rss, after: after.rss },
  };
  process.stdout.write(`SOAK-REPORT ${JSON.stringify(report)}\n`);
  // Alive until root has looked for leftover processes: its own children
  // (tsx's esbuild) would otherwise be orphans at that moment.
  await new Promise((resolve) => process.stdin.once('data', resolve).once('end', resolve));
  process.stdin.destroy();
}

// ---------------------------------------------------------------- root: setup and invariants

/** The host's mounts, without the ids that change when a line is re-read. */
function hostMounts(): string[] {
  return readFileSync('/proc/1/mountinfo', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [pre, post] = l.split(' - ');
      const f = pre!.split(' ');
      return `${f[4]} ${f[5]} ${post}`;
    })
    .sort();
}

/**
 * Processes (zombies too) whose real or effective uid is UID or in
 * [START, START+COUNT), but EXCEPT (pids) and their children.
 */
function processesOf(uid: number, start: number, count: number, except: number[]): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let status: string;
    try {
      status = readFileSync(`/proc/${pid}/status`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    const uids = /^Uid:\s+(\d+)\s+(\d+)/m.exec(status);
    if (!uids) continue;
    const ours = [Number(uids[1]), Number(uids[2])].some(
      (u) => u === uid || (u >= start && u < start + count),
    );
    const ppid = Number(/^PPid:\s+(\d+)/m.exec(status)?.[1]);
    if (ours && !except.includes(Number(pid)) && !except.includes(ppid)) {
      const name = /^Name:\s+(.*)$/m.exec(status)?.[1];
      const state = /^State:\s+(.*)$/m.exec(status)?.[1];
      out.push(`${pid} ${name} (${state}, uid ${uids[1]}, parent ${ppid})`);
    }
  }
  return out;
}

/** Files under DIR (recursively), as paths relative to it. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      const r = rel ? `${rel}/${e}` : e;
      if (lstatSync(p).isDirectory()) walk(p, r);
      out.push(r);
    }
  };
  walk(dir, '');
  return out.sort();
}

/** A lock file nobody holds can be taken at once. */
function lockHeld(path: string): boolean {
  return spawnSync('flock', ['-n', '-E', '99', path, 'true']).status === 99;
}

async function auditFindings(cleanup: Cleanup, user: TestUser): Promise<string[]> {
  const r = await igloo(cleanup, user, ['audit', '--json']);
  const out = JSON.parse(r.stdout) as { findings: Array<{ level?: string; message?: string }> };
  return out.findings.map((f) => `${f.level ?? ''}: ${f.message ?? JSON.stringify(f)}`).sort();
}

export async function soak(opts: SoakOptions, cleanup: Cleanup): Promise<SoakReport> {
  requireRoot();
  const t0 = performance.now();
  const count = (opts.keep + 8) * SLICE;
  assertRangeFree(opts.base, count);
  stagedCli(cleanup);
  const front = stagedFront(cleanup);
  const user = createUser(cleanup, opts.user);
  await delegate(user, opts.base, count);
  const dataDir = join(user.home, '.local/share/igloo');
  const runDir = join(user.home, '.cache/igloo/run');
  cleanup.add('destroy what the soak left', async () => {
    const ls = await igloo(cleanup, user, ['ls', '--json']);
    for (const c of JSON.parse(ls.stdout || '[]') as Array<{ name: string }>)
      await igloo(cleanup, user, ['destroy', '--force', c.name]);
  });

  const mountsBefore = hostMounts();
  const auditBefore = await auditFindings(cleanup, user);
  const tsx = import.meta.resolve('tsx');
  const session = spawnAs(user, [
    'env',
    `SOAK_API=${join(front, '../../api.mjs')}`,
    `SOAK_FRONT=${front}`,
    `SOAK_OPTIONS=${JSON.stringify(opts)}`,
    process.execPath,
    '--expose-gc',
    '--import',
    tsx,
    join(root, 'scripts/soak.ts'),
    '--worker',
  ]);
  let exited: number | null | undefined;
  void session.exited.then((code) => (exited = code));
  cleanup.add('end the soak worker', () => {
    if (exited === undefined) session.child.kill('SIGKILL');
  });
  let line: RegExpExecArray | null;
  while (!(line = /^SOAK-REPORT (.*)$/m.exec(session.stdout))) {
    if (exited !== undefined)
      throw new Error(`soak worker failed (${exited}):\n${session.stderr}\n${session.stdout}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const worker = JSON.parse(line[1]!) as WorkerReport;

  const problems: string[] = [];
  const mountsAfter = hostMounts();
  const added = mountsAfter.filter((m) => !mountsBefore.includes(m));
  const removed = mountsBefore.filter((m) => !mountsAfter.includes(m));
  if (added.length || removed.length)
    problems.push(`host mounts changed: +${JSON.stringify(added)} -${JSON.stringify(removed)}`);
  // The worker (and tsx's esbuild, its child) is still alive, waiting; every
  // other process of the user or of its containers' ids must go. A monitor
  // exits just after it records init's exit: wait for that, a bounded time.
  const except = [session.child.pid!];
  let left = processesOf(user.uid, opts.base, count, except);
  for (const deadline = Date.now() + 20_000; left.length && Date.now() < deadline;) {
    await new Promise((r) => setTimeout(r, 200));
    left = processesOf(user.uid, opts.base, count, except);
  }
  if (left.length) problems.push(`processes left: ${left.join('; ')}`);
  session.child.stdin!.end('exit\n');
  const status = await session.exited;
  if (status !== 0) problems.push(`the soak worker exited ${status}: ${session.stderr}`);
  if (worker.fds.after.length !== worker.fds.before.length)
    problems.push(
      `the API process's descriptors: ${worker.fds.before.length} -> ${worker.fds.after.length}: ${JSON.stringify(worker.fds.after.filter((f) => !worker.fds.before.includes(f)))}`,
    );
  // Stable: a leak of one object per operation over hundreds of operations
  // shows; V8's own slack does not (a few MB at most).
  const growth = worker.heap.after - worker.heap.before;
  if (growth > 4 * 2 ** 20 + 0.1 * worker.heap.before)
    problems.push(`the API process's heap grew ${(growth / 2 ** 20).toFixed(1)} MB`);
  const containers = filesUnder(join(dataDir, 'containers'));
  if (containers.length) problems.push(`container files left: ${containers.join(', ')}`);
  // busybox-applets-*: the list of the host busybox's applets, a cache kept on purpose
  const run = filesUnder(runDir).filter((f) => !f.startsWith('busybox-applets-'));
  if (run.length) problems.push(`run files left: ${run.join(', ')}`);
  for (const f of filesUnder(dataDir).filter((f) => /(^|\/)lock$|\.lock$/.test(f)))
    if (lockHeld(join(dataDir, f))) problems.push(`lock still held: ${f}`);
  const auditAfter = await auditFindings(cleanup, user);
  const fresh = auditAfter.filter((f) => !auditBefore.includes(f));
  if (fresh.length) problems.push(`igloo audit finds: ${fresh.join('; ')}`);
  return { options: opts, worker, totalMs: Math.round(performance.now() - t0), problems };
}

export function formatReport(r: SoakReport): string {
  const mb = (n: number) => `${(n / 2 ** 20).toFixed(1)} MB`;
  const lines = [
    `soak: ${r.options.cycles} start/stop cycles, ${r.options.runs} one-shot runs, ${r.options.keep} containers kept running (exec after every operation), as ${r.options.user}: ${(r.totalMs / 1000).toFixed(0)} s`,
    '',
    '| phase | duration |',
    '|---|---:|',
    ...Object.entries(r.worker.ms).map(([k, v]) => `| ${k} | ${(v / 1000).toFixed(1)} s |`),
    '',
    '| operation | n | p50 ms | p90 ms | p99 ms | max ms |',
    '|---|---:|---:|---:|---:|---:|',
    ...Object.entries(r.worker.latency)
      .sort()
      .map(([k, l]) => `| ${k} | ${l.n} | ${l.p50} | ${l.p90} | ${l.p99} | ${l.max} |`),
    '',
    `API process: ${r.worker.fds.before.length} -> ${r.worker.fds.after.length} descriptors; heap after gc ${mb(r.worker.heap.before)} -> ${mb(r.worker.heap.after)}; rss ${mb(r.worker.rss.before)} -> ${mb(r.worker.rss.after)}`,
    r.problems.length ? `PROBLEMS:\n  ${r.problems.join('\n  ')}` : 'invariants: all hold',
  ];
  return lines.join('\n');
}

function flag(name: string): number | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : undefined;
}

async function main(): Promise<void> {
  if (process.argv.includes('--worker')) return worker();
  const scale = Number(process.env.SOAK_SCALE ?? 1);
  const opts: SoakOptions = {
    cycles: flag('cycles') ?? Math.max(2, Math.round(1000 * scale)),
    runs: flag('runs') ?? Math.max(2, Math.round(1000 * scale)),
    keep: flag('keep') ?? Math.max(1, Math.round(200 * scale)),
    base: flag('base') ?? 600_000_000,
    user: 'igloo-soak',
  };
  const cleanup = new Cleanup();
  let report: SoakReport | undefined;
  try {
    report = await soak(opts, cleanup);
  } finally {
    await cleanup.run();
  }
  console.log(process.argv.includes('--json') ? JSON.stringify(report) : formatReport(report));
  if (report.problems.length) process.exitCode = 1;
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, '/'))) {
  await main();
}
