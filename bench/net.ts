/**
 * The net case of the benchmark (`npm run bench -- --only net`), as the
 * unprivileged user igloo-netb-bench (ids 43,000,000..), in one run:
 *
 *   attach     raw slirp4netns (spawn until its ready fd, igloo's flags) and
 *              raw pasta (until `pasta --config-net` returns) on a fresh
 *              unshare'd namespace (bench/net-attach.py), against igloo's
 *              user mode: `igloo start` of a --net user container minus
 *              `igloo start` of a --net private one (the sidecar's cost)
 *   one-shot   igloo run -- /bin/true (the default: private, the prepared
 *              plan), with --net private (the same plan), with --net user
 *
 * Variants run interleaved (round r times each once). Medians; timings are
 * never assertions. No traffic is sent.
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
    for (const name of ['netb-u', 'netb-p']) await runAs(user, [igloo, 'destroy', '-f', name]);
  });

  // raw tools
  const script = join(opts.work, 'net-attach.py');
  spawnSync('cp', [new URL('./net-attach.py', import.meta.url).pathname, script]);
  spawnSync('chmod', ['a+r', script]);
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
  const oneShot: Record<string, number[]> = { default: [], private: [], user: [] };
  for (let r = 0; r < opts.rounds; r++) {
    for (const [mode, name] of [
      ['private', 'netb-p'],
      ['user', 'netb-u'],
    ] as const) {
      start[mode]!.push(await timed(user, [igloo, 'start', name]));
      await timed(user, [igloo, 'kill', name, 'SIGKILL']);
      await timed(user, [igloo, 'stop', name]);
    }
    oneShot.default!.push(await timed(user, [igloo, 'run', '--', '/bin/true']));
    oneShot.private!.push(await timed(user, [igloo, 'run', '--net', 'private', '--', '/bin/true']));
    oneShot.user!.push(await timed(user, [igloo, 'run', '--net', 'user', '--', '/bin/true']));
  }
  const attach = median(start.user!) - median(start.private!);
  const lines = [
    `net (as ${USER}, medians of ${opts.rounds}):`,
    `  attach: igloo user mode ${ms(attach)} (igloo start ${ms(median(start.user!))} with user vs ${ms(median(start.private!))} private)` +
      `; raw slirp4netns ${ms(median(rawTimes.slirp4netns))}, raw pasta ${ms(median(rawTimes.pasta))}` +
      `; igloo/slirp4netns ${(attach / median(rawTimes.slirp4netns)).toFixed(2)}, igloo/pasta ${(attach / median(rawTimes.pasta)).toFixed(2)}`,
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
      startMs: { user: median(start.user!), private: median(start.private!) },
      oneShotMs: {
        default: median(oneShot.default!),
        private: median(oneShot.private!),
        user: median(oneShot.user!),
      },
      samples: { raw: rawTimes, start, oneShot },
    },
  };
}
