/**
 * Seeds for the native fuzzers (scripts/fuzz-native.sh): real plans made by
 * the TypeScript plan encoder, for start and exec, detached and foreground,
 * with a pty, limits and networks, an idmapped rootfs, a memory rootfs; and
 * prepared exec and run files as `igloo start` and `igloo run` write them
 * (without `init` and `stamp` lines, which would not hold in the fuzzer).
 *   node --import tsx src/native/fuzz/seeds.ts DIR
 * writes DIR/plan/* (first byte: 0 start, 1 exec, 2 any) and DIR/prepared/*.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../../core/config/file.ts';
import { runnableConfig } from '../../core/config/runnable.ts';
import { parseIdmapSpec } from '../../core/idmap/index.ts';
import { encodePlan, planExec, planStart, type LaunchPlan } from '../../core/plan/plan.ts';
import { formatPrepared } from '../../core/plan/prepared.ts';

const out = process.argv[2];
if (!out) throw new Error('usage: seeds.ts DIR');
const here = new URL('../../../test/fixtures/fuzz/seeds/', import.meta.url).pathname;

// the fewest keys a container has, as create writes them
const plain = runnableConfig(
  parseConfig(
    [
      'igloo.name = seed',
      'igloo.rootfs = /home/seed/.local/share/igloo/containers/seed/rootfs',
      'igloo.idmap = u 0 3000000 65536',
      'igloo.idmap = g 0 3000000 65536',
    ].join('\n'),
  ),
);
// every key of the config seed but a seccomp profile file (which the plan would load)
const full = runnableConfig(
  parseConfig(
    readFileSync(join(here, 'config-full.conf'), 'utf8').replace(/^igloo\.seccomp = .*\n/m, ''),
  ),
);

const plans: Array<[string, number, LaunchPlan]> = [];
for (const [name, config] of [
  ['plain', plain],
  ['full', full],
] as const) {
  plans.push([
    `${name}-start-detached`,
    0,
    planStart(config, {
      mode: 'detached',
      console: 'pty',
      rundir: '/run/user/1000/igloo/c1',
      consoleLog: { dir: '/run/user/1000/igloo/c1', maxBytes: 1 << 20 },
      cgroup: {
        mounts: [],
        procs: ['/sys/fs/cgroup/memory/igloo/c1/cgroup.procs'],
      },
    }),
  ]);
  plans.push([
    `${name}-start-foreground`,
    0,
    planStart(config, {
      mode: 'foreground',
      console: 'inherit',
      command: ['/bin/sh', '-c', 'echo hi'],
    }),
  ]);
  plans.push([
    `${name}-start-idmapped`,
    2,
    planStart(config, {
      mode: 'detached',
      console: 'null',
      idmappedRootfs: {
        image: '/data/images/busybox/rootfs',
        upper: '/data/c1/upper',
        work: '/data/c1/work',
      },
    }),
  ]);
  plans.push([
    `${name}-exec`,
    1,
    planExec(config, {
      pid: 6900,
      start: 123456,
      argv: ['/bin/ls', '-l'],
      env: config.env,
      cwd: '/',
      user: { uid: 0, gid: 0, groups: [1, 2] },
      tty: true,
      cgroups: ['/sys/fs/cgroup/pids/igloo/c1/cgroup.procs'],
    }),
  ]);
}
plans.push([
  'memory-run',
  2,
  planStart(plain, {
    mode: 'foreground',
    console: 'inherit',
    command: ['/bin/true'],
    memoryRootfs: { busybox: '/bin/busybox', applets: ['bin/sh', 'bin/ls'] },
  }),
]);

mkdirSync(join(out, 'plan'), { recursive: true });
mkdirSync(join(out, 'prepared'), { recursive: true });
for (const [name, kind, plan] of plans)
  writeFileSync(
    join(out, 'plan', name),
    Buffer.concat([Buffer.from([kind]), Buffer.from(encodePlan(plan), 'utf8')]),
  );

const reserve = parseIdmapSpec('u 0 2000000 65536 g 0 2000000 65536');
for (const [name, kind, plan] of plans) {
  const last = plan.steps[plan.steps.length - 1];
  if (last?.op !== 'exec') continue;
  const prepared =
    kind === 1
      ? formatPrepared({ kind: 'exec', stamps: [] }, plan)
      : formatPrepared({ kind: 'run', stamps: [], reserve }, plan);
  writeFileSync(join(out, 'prepared', name), prepared);
}
