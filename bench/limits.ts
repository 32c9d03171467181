/**
 * The cost of resource limits (issue 15), as root, in one run, interleaved:
 *
 *   node --import tsx bench/limits.ts [--rounds 10] [--containers 12]   (root's test block holds 15 slices)
 *
 * - igloo start with and without limits (a cgroup made, limits written,
 *   init placed before it runs), and a one-shot run with and without;
 * - igloo stats (Igloo.stats, no CPU interval) for N running containers
 *   against reading the same cgroup files by hand.
 *
 * Medians in ms and the ratios; never an assertion. Everything lives in a
 * private data directory with root's own subid copies and is removed.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { rootTestEnv } from '../test/support/host.ts';

const { values: opts } = parseArgs({
  options: {
    rounds: { type: 'string', default: '10' },
    containers: { type: 'string', default: '12' },
  },
});
const rounds = Number(opts.rounds);
const count = Number(opts.containers);

const dir = mkdtempSync(join(tmpdir(), 'igloo-bench-limits-'));
Object.assign(process.env, rootTestEnv(dir, 15_000_000));
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
  const byHand = () => {
    for (const n of names) {
      const rel = `igloo/root/${n}`;
      for (const [h, f] of [
        ['memory', 'memory.usage_in_bytes'],
        ['memory', 'memory.limit_in_bytes'],
        ['memory', 'memory.oom_control'],
        ['cpuacct', 'cpuacct.usage'],
        ['cpu', 'cpu.stat'],
        ['pids', 'pids.current'],
        ['pids', 'pids.max'],
        ['freezer', 'freezer.state'],
      ])
        readFileSync(`/sys/fs/cgroup/${h}/${rel}/${f}`, 'utf8');
    }
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
} finally {
  for (const n of await igloo.names())
    await igloo.destroy(n, { force: true }).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
}
for (const [k, v] of Object.entries(results)) console.log(`${k.padEnd(28)} ${v.toFixed(2)} ms`);
console.log(
  `limits add ${(results['start limited']! - results['start plain']!).toFixed(2)} ms to start, ${(results['run limited']! - results['run plain']!).toFixed(2)} ms to a run; stats/by hand ${(results[`stats ${count} containers`]! / results[`by hand ${count} containers`]!).toFixed(2)}x`,
);
