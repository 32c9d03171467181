/**
 * The net case of the benchmark (`npm run bench -- --only net`), as the
 * unprivileged user igloo-netb-bench (ids 43,000,000..), in one run:
 *
 *   attach     raw slirp4netns (spawn until its ready fd, igloo's flags) and
 *              raw pasta (until `pasta --config-net` returns) on a fresh
 *              unshare'd namespace (bench/net-attach.py), against igloo's
 *              user mode: `igloo start` of a --net user container minus
 *              `igloo start` of a --net private one (the sidecar's cost)
 *              and the sidecar's own figure of each of those starts
 *              (sidecar.log: from the helper's fork of the supervisor until
 *              slirp4netns is ready), which the start difference buries in
 *              the noise of two ~200 ms starts
 *   throughput iperf3 both ways between a namespace and the host's
 *              127.0.0.1: igloo's user mode (a --net user,host-loopback
 *              container), raw slirp4netns, pasta's spliced forward
 *              (bench/net-iperf.py)
 *   one-shot   igloo run -- /bin/true (the default: private, the prepared
 *              plan), with --net private (the same plan), with --net user
 *
 * Variants run interleaved (round r times each once). Medians; timings are
 * never assertions. Traffic goes only to the host's loopback.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import {
  assertRangeFree,
  createUser,
  delegate,
  runAs,
  type Cleanup,
  type TestUser,
} from '../test/support/host.ts';

const USER = 'igloo-netb-bench';
const RANGE = { start: 43_000_000, count: 1_000_000 };

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s[(s.length - 1) >> 1]! + s[s.length >> 1]!) / 2 : NaN;
};
const ms = (x: number) => (Number.isNaN(x) ? 'n/a' : `${x.toFixed(1)} ms`);

async function timed(user: TestUser, argv: string[]): Promise<number> {
  const t = process.hrtime.bigint();
  const r = await runAs(user, argv);
  const took = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.status !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr}`);
  return took;
}

export async function benchNet(opts: {
  dist: string;
  work: string;
  rounds: number;
  cleanup: Cleanup;
}): Promise<{ lines: string[]; result: Record<string, unknown> }> {
  assertRangeFree(RANGE.start, RANGE.count);
  const user = createUser(opts.cleanup, USER);
  await delegate(user, RANGE.start, RANGE.count);
  const igloo = join(opts.dist, 'bin/igloo');
  opts.cleanup.add('destroy the net bench containers', async () => {
    for (const name of ['netb-u', 'netb-p', 'netb-i'])
      await runAs(user, [igloo, 'destroy', '-f', name]);
  });

  // raw tools
  const script = copyScript(opts.work, 'net-attach.py');
  const raw = await runAs(user, ['python3', script, String(opts.rounds)], { timeoutMs: 600_000 });
  const rawTimes = JSON.parse(raw.stdout || '{"slirp4netns":[],"pasta":[],"errors":[]}') as {
    slirp4netns: number[];
    pasta: number[];
    errors: string[];
  };
  if (raw.status !== 0) rawTimes.errors.push(raw.stderr.slice(-300));

  // igloo start, user vs private
  await timed(user, [igloo, 'create', 'netb-u', '--net', 'user']);
  await timed(user, [igloo, 'create', 'netb-p', '--net', 'private']);
  const start: Record<string, number[]> = { user: [], private: [] };
  // the sidecar's own figure of each start: from the helper's fork of the
  // supervisor until slirp4netns was ready and its calls answered
  const ready: { total: number[]; slirp: number[] } = { total: [], slirp: [] };
  const oneShot: Record<string, number[]> = { default: [], private: [], user: [] };
  for (let r = 0; r < opts.rounds; r++) {
    for (const [mode, name] of [
      ['private', 'netb-p'],
      ['user', 'netb-u'],
    ] as const) {
      start[mode]!.push(await timed(user, [igloo, 'start', name]));
      if (mode === 'user') {
        // the run directory goes at stop: read this start's line now
        const line = sidecarReady(join(user.home, '.cache/igloo/run/netb-u/sidecar.log'));
        ready.total.push(...line.total.slice(-1));
        ready.slirp.push(...line.slirp.slice(-1));
      }
      await timed(user, [igloo, 'kill', name, 'SIGKILL']);
      await timed(user, [igloo, 'stop', name]);
    }
    oneShot.default!.push(await timed(user, [igloo, 'run', '--', '/bin/true']));
    oneShot.private!.push(await timed(user, [igloo, 'run', '--net', 'private', '--', '/bin/true']));
    oneShot.user!.push(await timed(user, [igloo, 'run', '--net', 'user', '--', '/bin/true']));
  }
  const attach = median(start.user!) - median(start.private!);

  // throughput: igloo's user mode against raw slirp4netns and pasta (bench/net-iperf.py)
  const iperf = await userIperf(user, igloo, opts);
  const lines = [
    `net (as ${USER}, medians of ${opts.rounds}):`,
    `  attach: igloo user mode ${ms(attach)} (igloo start ${ms(median(start.user!))} with user vs ${ms(median(start.private!))} private)` +
      `; raw slirp4netns ${ms(median(rawTimes.slirp4netns))}, raw pasta ${ms(median(rawTimes.pasta))}` +
      `; igloo/slirp4netns ${(attach / median(rawTimes.slirp4netns)).toFixed(2)}, igloo/pasta ${(attach / median(rawTimes.pasta)).toFixed(2)}`,
    `  attach, the sidecar's own figure (sidecar.log, fork of the supervisor until ready): median ${ms(median(ready.total))}, of which slirp4netns until its ready byte ${ms(median(ready.slirp))} (n=${ready.total.length})`,
    ...iperfLines(iperf),
    `  one-shot igloo run -- /bin/true: default ${ms(median(oneShot.default!))}, --net private ${ms(median(oneShot.private!))}, --net user ${ms(median(oneShot.user!))}`,
    ...rawTimes.errors.map((e) => `  unavailable: ${e}`),
  ];
  return {
    lines,
    result: {
      rounds: opts.rounds,
      attachMs: {
        igloo: attach,
        slirp4netns: median(rawTimes.slirp4netns),
        pasta: median(rawTimes.pasta),
      },
      sidecarReadyMs: { total: median(ready.total), slirp4netns: median(ready.slirp) },
      throughputGbps: iperfMedians(iperf),
      startMs: { user: median(start.user!), private: median(start.private!) },
      oneShotMs: {
        default: median(oneShot.default!),
        private: median(oneShot.private!),
        user: median(oneShot.user!),
      },
      samples: { raw: rawTimes, start, oneShot, ready, iperf },
    },
  };
}

/** "ready after 6.1 ms: ... until its ready byte 5.2 ..." lines of a sidecar.log. */
function sidecarReady(log: string): { total: number[]; slirp: number[] } {
  const text = spawnSync('cat', [log], { encoding: 'utf8' }).stdout ?? '';
  const total: number[] = [];
  const slirp: number[] = [];
  for (const m of text.matchAll(/ready after ([\d.]+) ms: .*until its ready byte ([\d.]+)/g)) {
    total.push(Number(m[1]));
    slirp.push(Number(m[2]));
  }
  return { total, slirp };
}

type Iperf = Record<'igloo' | 'slirp4netns' | 'pasta', { up: number[]; down: number[] }> & {
  errors: string[];
};

/** iperf3 through igloo's user mode, raw slirp4netns and pasta, as the user (bench/net-iperf.py). */
async function userIperf(
  user: TestUser,
  igloo: string,
  opts: { work: string; rounds: number },
): Promise<Iperf | string> {
  if (spawnSync('sh', ['-c', 'command -v iperf3']).status !== 0)
    return 'unavailable: iperf3 is not installed';
  await timed(user, [igloo, 'create', 'netb-i', '--net', 'user,host-loopback']);
  const started = await runAs(user, [igloo, 'start', 'netb-i', '--json']);
  if (started.status !== 0) throw new Error(`start netb-i: ${started.stderr}`);
  const pid = (JSON.parse(started.stdout) as { pid: number }).pid;
  const script = copyScript(opts.work, 'net-iperf.py');
  const rounds = Math.max(1, Math.min(opts.rounds, 5));
  const r = await runAs(user, ['python3', script, String(rounds), '3', '5301', String(pid)], {
    timeoutMs: 900_000,
  });
  await runAs(user, [igloo, 'stop', 'netb-i']);
  if (r.status !== 0) return `failed: ${r.stderr.slice(-300)}`;
  return JSON.parse(r.stdout) as Iperf;
}

function iperfMedians(iperf: Iperf | string): Record<string, unknown> | string {
  if (typeof iperf === 'string') return iperf;
  return Object.fromEntries(
    (['igloo', 'slirp4netns', 'pasta'] as const).map((k) => [
      k,
      { up: median(iperf[k].up), down: median(iperf[k].down) },
    ]),
  );
}

function iperfLines(iperf: Iperf | string): string[] {
  if (typeof iperf === 'string') return [`  throughput: ${iperf}`];
  const g = (x: number) => (Number.isNaN(x) ? 'n/a' : `${x.toFixed(2)} Gb/s`);
  const best = Math.max(median(iperf.slirp4netns.up), median(iperf.pasta.up));
  return [
    `  throughput (iperf3 to the host's loopback, medians of ${iperf.igloo.up.length}; up / down):`,
    ...(['igloo', 'slirp4netns', 'pasta'] as const).map(
      (k) => `    ${k.padEnd(12)} ${g(median(iperf[k].up))} / ${g(median(iperf[k].down))}`,
    ),
    `    igloo up / best raw tool's up: x${(median(iperf.igloo.up) / best).toFixed(2)}`,
    ...iperf.errors.map((e) => `    unavailable: ${e}`),
  ];
}

/** A bench script and the module it imports, copied where the bench user may read them. */
function copyScript(work: string, name: string): string {
  for (const file of [name, 'netns_holder.py']) {
    spawnSync('cp', [new URL(`./${file}`, import.meta.url).pathname, join(work, file)]);
    spawnSync('chmod', ['a+r', join(work, file)]);
  }
  return join(work, name);
}
