/**
 * The cost of resource limits (issue 15), as root, in one run, interleaved:
 *
 *   node --import tsx bench/limits.ts [--rounds 10] [--containers 200] [--podman N]
 *
 * - igloo start with and without limits (a cgroup made, limits written,
 *   init placed before it runs), and a one-shot run with and without;
 * - igloo stats (Igloo.stats, no CPU interval) for N running containers
 *   against reading the same cgroup files by hand, and `podman stats
 *   --no-stream` of N podman containers with a pids limit (runc: crun
 *   refuses this hybrid host's cgroups; --podman 0 leaves podman out).
 *
 * Medians in ms and the ratios; never an assertion. Everything lives in a
 * private data directory with root's own subid copies and is removed.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { rootTestEnv } from '../test/support/host.ts';

/** Far above the tests' ranges (the bench runs under the tests' lock). */
const BENCH_BASE = 200_000_000;

const { values: opts } = parseArgs({
  options: {
    rounds: { type: 'string', default: '10' },
    containers: { type: 'string', default: '200' },
    podman: { type: 'string' },
  },
});
const rounds = Number(opts.rounds);
const count = Number(opts.containers);
const podmanCount = Number(opts.podman ?? count);

const dir = mkdtempSync(join(tmpdir(), 'igloo-bench-limits-'));
Object.assign(process.env, rootTestEnv(dir, 15_000_000));
// one 65536-id slice per container (and the one-shot's): root's own copy, never /etc's
for (const f of ['subuid', 'subgid'])
  writeFileSync(join(dir, f), `root:${BENCH_BASE}:${(count + 4) * 65536}\n`);
const { Igloo } = await import('../src/lifecycle/igloo.ts');
const igloo = new Igloo({ data: join(dir, 'data'), run: join(dir, 'run') });

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
async function time(fn: () => Promise<unknown>): Promise<number> {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

const results: Record<string, number> = {};
try {
  await igloo.create('plain', {});
  await igloo.create('limited', { limits: { memory: 256 * 2 ** 20, pids: 256, cpus: 1 } });
  const start: Record<string, number[]> = { plain: [], limited: [] };
  const run: Record<string, number[]> = { plain: [], limited: [] };
  for (let i = 0; i < rounds; i++) {
    for (const name of ['plain', 'limited']) {
      start[name]!.push(await time(() => igloo.start(name, { console: 'null' })));
      await igloo.stop(name, 0);
      run[name]!.push(await time(() => igloo.runForeground(name, ['/bin/true'])));
    }
  }
  for (const name of ['plain', 'limited']) {
    results[`start ${name}`] = median(start[name]!);
    results[`run ${name}`] = median(run[name]!);
  }
  const names = Array.from({ length: count }, (_, i) => `s${i}`);
  for (const n of names) {
    await igloo.create(n, { limits: { pids: 64 } });
    await igloo.start(n, { console: 'null' });
  }
  // the files igloo's usage reads (driver.ts USAGE_FILES, v1)
  const files = [
    ['memory', 'memory.usage_in_bytes'],
    ['memory', 'memory.limit_in_bytes'],
    ['memory', 'memory.max_usage_in_bytes'],
    ['memory', 'memory.oom_control'],
    ['memory', 'memory.failcnt'],
    ['cpu', 'cpu.stat'],
    ['cpuacct', 'cpuacct.usage'],
    ['pids', 'pids.current'],
    ['pids', 'pids.max'],
    ['blkio', 'blkio.throttle.io_service_bytes'],
    ['freezer', 'freezer.state'],
  ];
  const byHand = () => {
    for (const n of names)
      for (const [h, f] of files) readFileSync(`/sys/fs/cgroup/${h}/igloo/root/${n}/${f}`, 'utf8');
    return Promise.resolve();
  };
  const s: number[] = [];
  const h: number[] = [];
  for (let i = 0; i < rounds; i++) {
    s.push(await time(() => igloo.stats(names, 0)));
    h.push(await time(byHand));
  }
  results[`stats ${count} containers`] = median(s);
  results[`by hand ${count} containers`] = median(h);
  const pod = podmanCount > 0 ? await podmanStats() : undefined;
  if (pod !== undefined) results[`podman stats ${podmanCount} containers`] = pod;
} finally {
  podmanRemove();
  for (const n of await igloo.names())
    await igloo.destroy(n, { force: true }).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
}
for (const [k, v] of Object.entries(results)) console.log(`${k.padEnd(30)} ${v.toFixed(2)} ms`);
const stats = results[`stats ${count} containers`]!;
const pod = results[`podman stats ${podmanCount} containers`];
console.log(
  `limits add ${(results['start limited']! - results['start plain']!).toFixed(2)} ms to start, ${(results['run limited']! - results['run plain']!).toFixed(2)} ms to a run; stats/by hand ${(stats / results[`by hand ${count} containers`]!).toFixed(2)}x${pod === undefined ? '' : `; per container igloo stats/podman stats ${(stats / count / (pod / podmanCount)).toFixed(2)}x`}`,
);

/** The podman containers of this run (podman --runtime runc, a busybox-only rootfs, --pids-limit 64). */
function podmanNames(): string[] {
  return Array.from({ length: podmanCount }, (_, i) => `igloo-bench-limits-${process.pid}-${i}`);
}

async function podmanStats(): Promise<number | undefined> {
  const podman = (args: string[]) =>
    execFileSync('podman', ['--runtime', 'runc', ...args], { encoding: 'utf8', stdio: 'pipe' });
  try {
    podman(['--version']);
  } catch {
    console.log('podman stats: no podman here, left out');
    return undefined;
  }
  const rootfs = join(dir, 'podman-rootfs');
  mkdirSync(join(rootfs, 'bin'), { recursive: true });
  const busybox = execFileSync('sh', ['-c', 'command -v busybox'], { encoding: 'utf8' }).trim();
  copyFileSync(busybox, join(rootfs, 'bin/busybox'));
  for (const n of podmanNames())
    podman([
      'run',
      '-d',
      '--name',
      n,
      '--pids-limit',
      '64',
      '--network',
      'none',
      // root here lacks CAP_SYS_RESOURCE: podman's default RLIMIT_NOFILE cannot be set
      '--ulimit',
      'nofile=1024:1024',
      '--ulimit',
      'nproc=1024:1024',
      '--rootfs',
      rootfs,
      '/bin/busybox',
      'sleep',
      '100000',
    ]);
  const xs: number[] = [];
  for (let i = 0; i < rounds; i++)
    xs.push(
      await time(() =>
        Promise.resolve(podman(['stats', '--no-stream', '--format', 'json', ...podmanNames()])),
      ),
    );
  return median(xs);
}

function podmanRemove(): void {
  if (podmanCount <= 0) return;
  try {
    execFileSync(
      'podman',
      ['--runtime', 'runc', 'rm', '-f', '-t', '0', '--ignore', ...podmanNames()],
      {
        stdio: 'ignore',
      },
    );
  } catch {
    // no podman, or nothing made
  }
}
