/**
 * igloo's benchmark, side by side with crun, runc, LXC, podman and
 * bubblewrap in the same run on the same machine (issue 8). Run as root:
 *
 *   npm run bench                        everything (installs the anchors from Debian)
 *   npm run bench -- --rounds 10         fewer samples per variant
 *   npm run bench -- --density 1000      idle containers for the density case (0: skip)
 *   npm run bench -- --only cold-start,exec   (cases: cold-start, one-shot, exec, density, ps, criu, images)
 *   npm run bench -- --only images       import/extract/shift of a Debian rootfs (bench/images.ts);
 *   npm run bench -- --only net          user-mode attach vs raw slirp4netns and pasta (bench/net.ts)
 *   npm run bench -- --only oci          podman and ctr driving igloo-runc, crun, runc (bench/oci.ts; npm run bench:oci)
 *                                        alone, it writes bench/results/images.json
 *
 * One busybox rootfs is built from the host's /bin/busybox and used by every
 * runtime (copied where a runtime needs it owned by other ids). Each case is
 * timed as root and as the unprivileged test user igloo-bench (delegated
 * 14000000..14999999), in a worker (bench/worker.ts) that times its variants
 * interleaved. Prints medians and the ratio igloo/anchor; writes the same to
 * bench/results/latest.json. An anchor that cannot run here is reported as
 * unavailable with the reason, never with a number. Timings are never test
 * assertions.
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { cpus, release } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import {
  Cleanup,
  assertRangeFree,
  createUser,
  delegate,
  ensureRootDelegation,
  type TestUser,
} from '../test/support/host.ts';
import { killIdRange } from './cleanup.ts';
import { benchImages } from './images.ts';
import { benchNet } from './net.ts';
import { benchOci } from './oci.ts';
import type * as ApiModule from '../src/api/index.ts';
import type { Case, DensityResult, Job, Variant, VariantResult, WorkerResult } from './worker.ts';

const repo = new URL('..', import.meta.url).pathname.replace(/\/$/, '');
const USER = 'igloo-bench';
const RANGE = { start: 14_000_000, count: 1_000_000 };
/** LXC's unprivileged containers use the top 65536 ids of the range (igloo's slices start at the bottom). */
const LXC_USER_BASE = RANGE.start + RANGE.count - 65_536;

const { values: opts } = parseArgs({
  options: {
    rounds: { type: 'string', default: '20' },
    density: { type: 'string', default: '200' },
    only: { type: 'string' },
    'image-rounds': { type: 'string', default: '5' },
  },
});
const rounds = Number(opts.rounds);
const densityCount = Number(opts.density);
const only = opts.only?.split(',');
const wanted = (id: string) => !only || only.includes(id);

function run(argv: string[], what: string): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${what}: ${argv.join(' ')}: ${r.stderr || r.error}`);
  return r.stdout;
}

function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** The one rootfs: the host's static busybox, its applets as symlinks, and a few files. */
function buildRootfs(dir: string): void {
  for (const d of [
    'bin',
    'sbin',
    'usr/bin',
    'usr/sbin',
    'etc',
    'proc',
    'sys',
    'dev',
    'tmp',
    'root',
  ])
    mkdirSync(join(dir, d), { recursive: true, mode: 0o755 });
  chmodSync(join(dir, 'tmp'), 0o1777);
  copyFileSync('/bin/busybox', join(dir, 'bin/busybox'));
  chmodSync(join(dir, 'bin/busybox'), 0o755);
  for (const applet of run(['/bin/busybox', '--list-full'], 'list applets').split('\n')) {
    if (!applet || applet === 'bin/busybox' || applet.includes('..')) continue;
    const path = join(dir, applet);
    mkdirSync(dirname(path), { recursive: true });
    try {
      symlinkSync(relative(dirname(`/${applet}`), '/bin/busybox'), path);
    } catch {
      // listed twice
    }
  }
  writeFileSync(join(dir, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  writeFileSync(join(dir, 'etc/group'), 'root:x:0:\n');
  writeFileSync(join(dir, 'etc/hostname'), 'bench\n');
}

/** A minimal OCI runtime config for crun and runc; `rootless` adds a user namespace mapping 0 to that uid. */
function ociConfig(rootfs: string, args: string[], rootless?: { uid: number; gid: number }) {
  const mounts: object[] = [
    { destination: '/proc', type: 'proc', source: 'proc' },
    {
      destination: '/dev',
      type: 'tmpfs',
      source: 'tmpfs',
      options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
    },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      // gid=5 is not mapped in a rootless user namespace
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'],
    },
    rootless
      ? {
          destination: '/sys',
          type: 'none',
          source: '/sys',
          options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'],
        }
      : {
          destination: '/sys',
          type: 'sysfs',
          source: 'sysfs',
          options: ['nosuid', 'noexec', 'nodev', 'ro'],
        },
  ];
  const namespaces = ['pid', 'ipc', 'uts', 'mount', 'network'].map((type) => ({ type }));
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args,
      env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'],
      cwd: '/',
      noNewPrivileges: true,
    },
    root: { path: rootfs, readonly: true },
    hostname: 'bench',
    mounts,
    linux: rootless
      ? {
          namespaces: [...namespaces, { type: 'user' }],
          uidMappings: [{ containerID: 0, hostID: rootless.uid, size: 1 }],
          gidMappings: [{ containerID: 0, hostID: rootless.gid, size: 1 }],
        }
      : { namespaces },
  };
}

function lxcConfig(rootfs: string, init: string | undefined, idmapBase?: number): string {
  return [
    `lxc.rootfs.path = dir:${rootfs}`,
    'lxc.uts.name = bench',
    'lxc.net.0.type = empty',
    'lxc.mount.auto = proc:mixed sys:ro',
    'lxc.autodev = 1',
    'lxc.console.path = none',
    'lxc.tty.max = 0',
    'lxc.apparmor.profile = unconfined',
    ...(init ? [`lxc.init.cmd = ${init}`] : []),
    ...(idmapBase !== undefined
      ? [`lxc.idmap = u 0 ${idmapBase} 65536`, `lxc.idmap = g 0 ${idmapBase} 65536`]
      : []),
    '',
  ].join('\n');
}

interface Identity {
  key: 'root' | 'user';
  label: string;
  user: TestUser | undefined;
  /** Directory this identity owns, for bundles, state and results. */
  dir: string;
  rootfs: string;
  lxcRootfs: string;
}

const PODMAN = [
  'podman',
  'run',
  '--rm',
  '--network',
  'none',
  '--ulimit',
  'nofile=1024:1024',
  '--ulimit',
  'nproc=1000:1000',
];

function casesFor(id: Identity, dist: string): Case[] {
  const node = process.execPath;
  const cli = `${dist}/bin/igloo`;
  // The CLI as users run it: the `igloo` command, whose native front runs
  // prepared exec/run plans and hands the rest to igloo.mjs.
  const igloo = (...args: string[]) => [cli, ...args];
  // The same with every command in TypeScript (no prepared plan used or made).
  const iglooNode = (...args: string[]) => ['env', 'IGLOO_PREPARED=0', cli, ...args];
  const uid = id.user?.uid ?? 0;
  const gid = id.user?.gid ?? 0;
  const rootless = id.user ? { uid, gid } : undefined;
  const d = id.dir;
  const bundle = (name: string, args: string[]) => {
    mkdirSync(join(d, name), { recursive: true });
    writeFileSync(
      join(d, name, 'config.json'),
      JSON.stringify(ociConfig(id.rootfs, args, rootless), null, 2),
    );
    return join(d, name);
  };
  const trueBundle = bundle('oci-true', ['/bin/true']);
  const sleepBundle = bundle('oci-sleep', ['/bin/sleep', '2147483647']);
  writeFileSync(
    join(d, 'lxc-true.conf'),
    lxcConfig(id.lxcRootfs, undefined, id.user ? LXC_USER_BASE : undefined),
  );
  writeFileSync(
    join(d, 'lxc-sleep.conf'),
    lxcConfig(id.lxcRootfs, '/bin/sleep 2147483647', id.user ? LXC_USER_BASE : undefined),
  );
  mkdirSync(join(d, 'lxc'), { recursive: true });
  const crun = ['crun', '--root', join(d, 'crun-state')];
  const runc = ['runc', '--root', join(d, 'runc-state')];
  const lxcP = ['-P', join(d, 'lxc')];
  const image = ['--image', id.rootfs];
  const missing = (tool: string, v: Variant): Variant =>
    has(tool) ? v : { ...v, setup: [['sh', '-c', `echo ${tool} is not installed; exit 1`]] };

  const node0: Variant = {
    id: 'node-e-0',
    label: 'node -e 0',
    action: { kind: 'cmd', argv: [node, '-e', '0'] },
  };
  /** `crun exec` / `runc exec` into an idle container the same tool started. */
  const ociExec = (tool: 'crun' | 'runc'): Variant => {
    const cli = tool === 'crun' ? crun : runc;
    return missing(tool, {
      id: `${tool}-exec`,
      label: `${tool} exec`,
      setup: [[...cli, 'run', '-d', '-b', sleepBundle, 'bench-idle']],
      initPid: [
        'sh',
        '-c',
        `${cli.join(' ')} state bench-idle | sed -n 's/.*"pid": *\\([0-9]*\\).*/\\1/p'`,
      ],
      action: { kind: 'cmd', argv: [...cli, 'exec', 'bench-idle', '/bin/true'] },
      teardown: [[...cli, 'delete', '-f', 'bench-idle']],
    });
  };
  const cases: Case[] = [
    {
      id: 'cold-start',
      rounds: rounds * 2,
      warmup: 3,
      variants: [
        node0,
        {
          id: 'igloo-version',
          label: 'igloo --version',
          action: { kind: 'cmd', argv: igloo('--version') },
        },
      ],
    },
    {
      id: 'one-shot',
      rounds,
      warmup: 2,
      variants: [
        node0,
        {
          id: 'igloo-run',
          label: 'igloo run -- /bin/true (new container each time)',
          action: { kind: 'cmd', argv: igloo('run', '--', '/bin/true') },
        },
        {
          id: 'igloo-run-node',
          label: 'igloo run -- /bin/true, IGLOO_PREPARED=0 (all in Node)',
          action: { kind: 'cmd', argv: iglooNode('run', '--', '/bin/true') },
        },
        {
          id: 'igloo-run-name',
          label: 'igloo run --name X -- /bin/true (existing container)',
          setup: [igloo('create', 'bench-run', ...image)],
          action: { kind: 'cmd', argv: igloo('run', '--name', 'bench-run', '--', '/bin/true') },
          teardown: [igloo('destroy', '--force', 'bench-run')],
        },
        {
          id: 'igloo-api-run',
          label: 'API runForeground(X, [/bin/true]) (warm process)',
          setup: [igloo('create', 'bench-api', ...image)],
          action: { kind: 'api-run', name: 'bench-api', argv: ['/bin/true'] },
          teardown: [igloo('destroy', '--force', 'bench-api')],
        },
        missing('crun', {
          id: 'crun',
          label: `crun run${rootless ? ' (rootless, userns)' : ''}`,
          action: { kind: 'cmd', argv: [...crun, 'run', '-b', trueBundle, 'bench-true'] },
          teardown: [[...crun, 'delete', '-f', 'bench-true']],
        }),
        missing('runc', {
          id: 'runc',
          label: `runc run${rootless ? ' (rootless, userns)' : ''}`,
          action: { kind: 'cmd', argv: [...runc, 'run', '-b', trueBundle, 'bench-true'] },
          teardown: [[...runc, 'delete', '-f', 'bench-true']],
        }),
        missing('lxc-execute', {
          id: 'lxc-execute',
          label: 'lxc-execute',
          action: {
            kind: 'cmd',
            argv: [
              'lxc-execute',
              '-n',
              'bench-true',
              ...lxcP,
              '-f',
              join(d, 'lxc-true.conf'),
              '--',
              '/bin/true',
            ],
          },
        }),
        missing('podman', {
          id: 'podman',
          label: 'podman run --rm --rootfs',
          action: { kind: 'cmd', argv: [...PODMAN, '--rootfs', id.rootfs, '/bin/true'] },
        }),
        missing('bwrap', {
          id: 'bwrap',
          label: 'bwrap --unshare-all (same rootfs)',
          action: {
            kind: 'cmd',
            argv: [
              'bwrap',
              '--unshare-all',
              '--ro-bind',
              id.rootfs,
              '/',
              '--proc',
              '/proc',
              '--dev',
              '/dev',
              '/bin/true',
            ],
          },
        }),
      ],
    },
    {
      id: 'exec',
      rounds,
      warmup: 2,
      variants: [
        node0,
        {
          id: 'igloo-exec',
          label: 'igloo exec X -- /bin/true',
          setup: [
            igloo('create', 'bench-exec', ...image, '--init', '/bin/sleep 2147483647'),
            igloo('start', 'bench-exec'),
          ],
          initPid: { igloo: 'bench-exec' },
          action: { kind: 'cmd', argv: igloo('exec', 'bench-exec', '--', '/bin/true') },
          teardown: [igloo('destroy', '--force', 'bench-exec')],
        },
        {
          id: 'igloo-exec-node',
          label: 'igloo exec X -- /bin/true, IGLOO_PREPARED=0 (all in Node)',
          action: { kind: 'cmd', argv: iglooNode('exec', 'bench-exec', '--', '/bin/true') },
        },
        {
          id: 'igloo-api-exec',
          label: 'API exec(X, [/bin/true]) (warm process)',
          action: { kind: 'api-exec', name: 'bench-exec', argv: ['/bin/true'] },
        },
        ociExec('crun'),
        ociExec('runc'),
        missing('lxc-attach', {
          id: 'lxc-attach',
          label: 'lxc-attach (into lxc-start -d)',
          setup: [
            ['lxc-start', '-n', 'bench-idle', ...lxcP, '-f', join(d, 'lxc-sleep.conf'), '-d'],
          ],
          initPid: ['lxc-info', '-n', 'bench-idle', ...lxcP, '-pH'],
          action: {
            kind: 'cmd',
            argv: ['lxc-attach', '-n', 'bench-idle', ...lxcP, '--', '/bin/true'],
          },
          teardown: [['lxc-stop', '-n', 'bench-idle', ...lxcP, '-k']],
        }),
        missing('podman', {
          id: 'podman-exec',
          label: 'podman exec (into podman run -d)',
          setup: [
            [
              ...PODMAN.filter((a) => a !== '--rm'),
              '-d',
              '--name',
              'bench-idle',
              '--rootfs',
              id.rootfs,
              '/bin/sleep',
              '2147483647',
            ],
          ],
          initPid: ['podman', 'inspect', '-f', '{{.State.Pid}}', 'bench-idle'],
          action: { kind: 'cmd', argv: ['podman', 'exec', 'bench-idle', '/bin/true'] },
          teardown: [['podman', 'rm', '-f', '-t', '0', 'bench-idle']],
        }),
      ],
    },
  ];
  return cases.filter((c) => wanted(c.id));
}

/** Starts a worker as `id` in a private mount namespace without /sys/fs/cgroup/unified. */
function runWorker(id: Identity, job: Job): WorkerResult {
  const jobFile = join(id.dir, 'job.json');
  writeFileSync(jobFile, JSON.stringify(job));
  const env = [
    'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    'LANG=C.UTF-8',
    `IGLOO_DIST=${job.dist}`,
    `HOME=${id.user?.home ?? '/root'}`,
    `USER=${id.user?.name ?? 'root'}`,
  ];
  const drop = id.user
    ? ['setpriv', `--reuid=${id.user.uid}`, `--regid=${id.user.gid}`, '--init-groups']
    : [];
  const argv = [
    'unshare',
    '-m',
    '--propagation',
    'private',
    'sh',
    '-c',
    'umount /sys/fs/cgroup/unified 2>/dev/null; exec "$@"',
    'sh',
    ...drop,
    'env',
    '-i',
    ...env,
    process.execPath,
    '--import',
    'tsx',
    join(repo, 'bench/worker.ts'),
    jobFile,
  ];
  const r = spawnSync(argv[0]!, argv.slice(1), {
    cwd: repo,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  let result: WorkerResult;
  try {
    result = JSON.parse(readFileSync(job.result, 'utf8')) as WorkerResult;
  } catch {
    throw new Error(`the ${id.label} worker wrote no results (exit ${r.status ?? r.signal})`);
  }
  if (r.status !== 0)
    process.stderr.write(`warning: the ${id.label} worker exited ${r.status ?? r.signal}\n`);
  return result;
}

const IGLOO_VS: Record<string, { igloo: string[]; anchors: string[] }> = {
  'cold-start': { igloo: ['igloo-version'], anchors: ['node-e-0'] },
  'one-shot': {
    igloo: ['igloo-run', 'igloo-run-node', 'igloo-run-name', 'igloo-api-run'],
    anchors: ['node-e-0', 'crun', 'runc', 'lxc-execute', 'podman', 'bwrap'],
  },
  exec: {
    igloo: ['igloo-exec', 'igloo-exec-node', 'igloo-api-exec'],
    anchors: ['node-e-0', 'crun-exec', 'runc-exec', 'lxc-attach', 'podman-exec'],
  },
};

const fmt = (ms: number | undefined) => (ms === undefined ? '-' : ms.toFixed(1));
const spread = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return `${fmt(s[Math.floor(s.length / 10)])}–${fmt(s[Math.floor((s.length * 9) / 10)] ?? s.at(-1))}`;
};

function report(identity: string, result: WorkerResult): string[] {
  const lines: string[] = [];
  for (const c of result.cases) {
    lines.push('', `## ${identity} · ${c.id}`, '');
    lines.push(
      '| variant | median ms | p10–p90 ms | n | host-side memory of an idle container |',
      '|---|---:|---:|---:|---|',
    );
    for (const v of c.variants) {
      const mem =
        v.memory === undefined
          ? ''
          : typeof v.memory === 'string'
            ? v.memory
            : v.memory.pids.length === 0
              ? 'no host process stays (init is reparented)'
              : `${v.memory.rssKb} kB RSS, ${v.memory.pssKb} kB PSS: ${v.memory.processes.join(', ')}`;
      lines.push(
        v.unavailable
          ? `| ${v.label} | unavailable | - | 0 | ${v.unavailable.replace(/\|/g, '/')} |`
          : `| ${v.label} | ${fmt(v.median)} | ${spread(v.samples)} | ${v.samples.length} | ${mem} |`,
      );
    }
    const pairs = IGLOO_VS[c.id];
    if (!pairs) continue;
    const byId = new Map(c.variants.map((v) => [v.id, v]));
    const anchors = pairs.anchors.map((a) => byId.get(a)).filter((a): a is VariantResult => !!a);
    lines.push(
      '',
      `| igloo ÷ anchor | ${anchors.map((a) => a.id).join(' | ')} |`,
      `|---|${anchors.map(() => '---:').join('|')}|`,
    );
    for (const i of pairs.igloo) {
      const v = byId.get(i);
      if (!v) continue;
      const cells = anchors.map((a) =>
        v.median !== undefined && a.median !== undefined
          ? `${(v.median / a.median).toFixed(2)}×`
          : 'n/a',
      );
      lines.push(`| ${v.id} | ${cells.join(' | ')} |`);
    }
  }
  return lines;
}

function reportDensity(d: DensityResult): string[] {
  const per = (kb: number | undefined, n: number) =>
    kb === undefined || !n ? '-' : `${(kb / n).toFixed(0)} kB`;
  const lines = [
    '',
    `## unprivileged user · density (${d.count} idle busybox containers, init /bin/sleep)`,
    '',
  ];
  lines.push(
    '| runtime | created in | started | start time | per container | host-side RSS per container | note |',
    '|---|---:|---:|---:|---:|---:|---|',
  );
  lines.push(
    `| igloo (API, sequential) | ${d.createMs === undefined ? '-' : `${(d.createMs / 1000).toFixed(1)} s`} | ${d.started} | ${d.startMs === undefined ? '-' : `${(d.startMs / 1000).toFixed(2)} s`} | ${d.startMs && d.started ? `${(d.startMs / d.started).toFixed(1)} ms` : '-'} | ${per(d.monitorsRssKb, d.started)} (PSS ${per(d.monitorsPssKb, d.started)}) | ${d.startFailure ?? ''} stop+destroy ${d.stopDestroyMs ? (d.stopDestroyMs / 1000).toFixed(1) : '-'} s |`,
  );
  if (d.lxc)
    lines.push(
      `| lxc-start -d (sequential) | shared rootfs | ${d.lxc.started} | ${(d.lxc.startMs / 1000).toFixed(2)} s | ${d.lxc.started ? `${(d.lxc.startMs / d.lxc.started).toFixed(1)} ms` : '-'} | ${per(d.lxc.monitorsRssKb, d.lxc.started)} | ${d.lxc.failure ?? ''} |`,
    );
  return lines;
}

/**
 * `igloo ps` against procps' ps over a host with `count` extra processes
 * (sleepers started here and killed after). Both print every process; runs
 * alternate between the two (and `node -e 0`, the floor of any Node CLI) so
 * that a change in the machine's load hits all alike. As root, and as `user`
 * when given (setpriv, as both commands: another user's processes are then
 * partly unreadable, which both show as such).
 */
function benchPs(
  dist: string,
  count: number,
  user?: TestUser,
): {
  processes: number;
  runs: number;
  igloo: number;
  ps: number;
  node: number;
  user?: { igloo: number; ps: number; node: number };
  loadavg: string;
} {
  const sleepers = Array.from({ length: count }, () =>
    spawn('sleep', ['600'], { stdio: 'ignore' }),
  );
  try {
    const time = (argv: string[]) => {
      const t0 = process.hrtime.bigint();
      const r = spawnSync(argv[0]!, argv.slice(1), {
        stdio: ['ignore', 'ignore', 'pipe'],
        maxBuffer: 64 << 20,
      });
      if (r.status !== 0) throw new Error(`${argv.join(' ')}: ${String(r.stderr)}`);
      return Number(process.hrtime.bigint() - t0) / 1e6;
    };
    const runs = 9;
    const medians = (argvs: string[][]) => {
      const xs = argvs.map(() => [] as number[]);
      for (let i = 0; i < runs; i++) argvs.forEach((argv, k) => xs[k]!.push(time(argv)));
      return xs.map((x) => x.sort((a, b) => a - b)[Math.floor(runs / 2)]!);
    };
    const commands = (prefix: string[]) => [
      [...prefix, process.execPath, join(dist, 'igloo.mjs'), 'ps', '--json'],
      [...prefix, 'ps', '-eo', 'pid,user,userns,pidns,cmd'],
      [...prefix, process.execPath, '-e', '0'],
    ];
    const processes = readdirSync('/proc').filter((e) => /^\d+$/.test(e)).length;
    const [igloo, ps, node] = medians(commands([]));
    let asUser: { igloo: number; ps: number; node: number } | undefined;
    if (user) {
      const drop = ['setpriv', `--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups'];
      const [i, p, n] = medians(commands(drop));
      asUser = { igloo: i!, ps: p!, node: n! };
    }
    return {
      processes,
      runs,
      igloo: igloo!,
      ps: ps!,
      node: node!,
      ...(asUser && { user: asUser }),
      loadavg: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
    };
  } finally {
    for (const s of sleepers) s.kill('SIGKILL');
  }
}

/**
 * Checkpoint and restore of a busybox container (root, as CRIU needs), in a
 * private data directory, through the library API of the build: the image's
 * busybox init with its pty console (a shell on it), and, interleaved, the
 * same with `console null`.
 */
async function benchCriu(dist: string, dir: string) {
  const api = (await import(join(dist, 'api.mjs'))) as typeof ApiModule;
  const igloo = new api.Igloo({ data: join(dir, 'data'), run: join(dir, 'run') });
  const runs = 5;
  const variants = { pty: 'bench-criu', null: 'bench-criu-null' } as const;
  const times = () => ({
    checkpoint: [] as number[],
    dump: [] as number[],
    restore: [] as number[],
    criuRestore: [] as number[],
    bytes: 0,
  });
  const t = { pty: times(), null: times() };
  try {
    for (const [console, name] of Object.entries(variants) as Array<['pty' | 'null', string]>) {
      await igloo.create(name);
      await igloo.start(name, { console });
    }
    for (let i = 0; i < runs; i++) {
      for (const [console, name] of Object.entries(variants) as Array<['pty' | 'null', string]>) {
        let t0 = process.hrtime.bigint();
        const dumped = await api.checkpoint(igloo, name);
        t[console].checkpoint.push(Number(process.hrtime.bigint() - t0) / 1e9);
        t[console].dump.push(dumped.seconds);
        t[console].bytes = dumped.bytes;
        t0 = process.hrtime.bigint();
        const restored = await api.restore(igloo, name);
        t[console].restore.push(Number(process.hrtime.bigint() - t0) / 1e9);
        t[console].criuRestore.push(restored.seconds);
      }
    }
  } finally {
    for (const name of Object.values(variants)) {
      if ((await igloo.state(name).catch(() => undefined))?.status === 'running')
        await igloo.stop(name, 0);
      await igloo.destroy(name, { force: true }).catch(() => undefined);
    }
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const summary = (x: ReturnType<typeof times>) => ({
    bytes: x.bytes,
    checkpoint: med(x.checkpoint),
    dump: med(x.dump),
    restore: med(x.restore),
    criuRestore: med(x.criuRestore),
  });
  return { runs, ...summary(t.pty), consoleNull: summary(t.null) };
}

/** A work directory removed at cleanup, with a copy of the build every user can read (the clone may be private). */
function stageWork(cleanup: Cleanup): { work: string; dist: string } {
  const work = mkdtempSync('/tmp/igloo-bench-');
  chmodSync(work, 0o755);
  cleanup.add(`remove ${work}`, () => rmSync(work, { recursive: true, force: true }));
  const dist = join(work, 'dist');
  cpSync(process.env.IGLOO_DIST ?? join(repo, 'dist'), dist, {
    recursive: true,
    verbatimSymlinks: true, // bin/igloo -> ../libexec/igloo-helper, in the copy
  });
  run(['chmod', '-R', 'a+rX', dist], 'stage dist');
  return { work, dist };
}

/** `--only images`: that case alone (no anchors to install, no igloo-bench user). */
function mainImagesOnly(): Promise<void> {
  return mainAlone('images', ({ dist, work, cleanup }) =>
    benchImages({ dist, work, rounds: Number(opts['image-rounds']), cleanup }),
  );
}

/** `--only net`: user-mode networking alone (bench/net.ts). */
function mainNetOnly(): Promise<void> {
  return mainAlone('net', ({ dist, work, cleanup }) => benchNet({ dist, work, rounds, cleanup }));
}

/** `--only oci`: engines driving igloo-runc, crun and runc (bench/oci.ts). */
function mainOciOnly(): Promise<void> {
  return mainAlone('oci', ({ dist, cleanup }) => benchOci({ dist, rounds, cleanup }));
}

/** One case alone, in a staged work directory; its result goes to bench/results/KEY.json. */
async function mainAlone(
  key: string,
  bench: (w: { dist: string; work: string; cleanup: Cleanup }) => Promise<{
    lines: string[];
    result: unknown;
  }>,
): Promise<void> {
  const cleanup = new Cleanup();
  let lines: string[] = [];
  let result: unknown;
  try {
    const { work, dist } = stageWork(cleanup);
    const r = await bench({ dist, work, cleanup });
    lines = r.lines;
    result = r.result;
  } finally {
    await cleanup.run();
  }
  const text = lines.join('\n');
  process.stdout.write(`${text}\n`);
  await writeResults(`${key}.json`, {
    date: new Date().toISOString(),
    host: { kernel: release(), cpus: cpus().length, node: process.version },
    [key]: result,
    table: text,
  });
}

/** Writes bench/results/NAME, formatted as `npm run lint` (prettier --check .) expects. */
async function writeResults(name: string, data: Record<string, unknown>): Promise<void> {
  mkdirSync(join(repo, 'bench/results'), { recursive: true });
  const file = join(repo, 'bench/results', name);
  const prettier = await import('prettier');
  writeFileSync(
    file,
    await prettier.format(JSON.stringify(data), {
      ...(await prettier.resolveConfig(file)),
      filepath: file,
    }),
  );
  process.stdout.write(`\nwrote bench/results/${name}\n`);
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0)
    throw new Error('the benchmark must run as root: it creates the test user igloo-bench');
  if (only?.every((c) => c === 'images')) return mainImagesOnly();
  if (only?.every((c) => c === 'net')) return mainNetOnly();
  if (only?.every((c) => c === 'oci')) return mainOciOnly();
  spawnSync('sh', [join(repo, 'scripts/bench-deps.sh')], { stdio: 'inherit' });
  const cleanup = new Cleanup();
  const out: Record<string, unknown> = {
    date: new Date().toISOString(),
    host: { kernel: release(), cpus: cpus().length, node: process.version },
    rounds,
  };
  const lines: string[] = [];
  try {
    const { work, dist } = stageWork(cleanup);
    const rootfs = join(work, 'rootfs');
    buildRootfs(rootfs);

    await ensureRootDelegation(cleanup);
    assertRangeFree(RANGE.start, RANGE.count);
    const user = createUser(cleanup, USER);
    await delegate(user, RANGE.start, RANGE.count);
    // Everything the user's runtimes leave behind (podman's pause process, monitors).
    cleanup.add('kill igloo-bench processes', () => {
      spawnSync('pkill', ['-KILL', '-u', USER]);
    });
    cleanup.add('kill processes of the test id range', () => {
      killIdRange(RANGE.start, RANGE.count);
    });

    const rootDir = join(work, 'root');
    mkdirSync(rootDir);
    // The user's copy of the rootfs is theirs (rootless crun/runc/bwrap/podman
    // map only their own uid); LXC's belongs to its mapped root.
    const userRootfs = join(user.home, 'rootfs');
    cpSync(rootfs, userRootfs, { recursive: true, verbatimSymlinks: true });
    const lxcRootfs = join(user.home, 'lxc-rootfs');
    cpSync(rootfs, lxcRootfs, { recursive: true, verbatimSymlinks: true });
    run(['chown', '-R', `${user.uid}:${user.gid}`, user.home], 'chown home');
    run(['chown', '-R', `${LXC_USER_BASE}:${LXC_USER_BASE}`, lxcRootfs], 'chown lxc rootfs');
    run(['chmod', '755', user.home], 'chmod home');

    const identities: Identity[] = [
      { key: 'root', label: 'root', user: undefined, dir: rootDir, rootfs, lxcRootfs: rootfs },
      {
        key: 'user',
        label: 'unprivileged user',
        user,
        dir: join(user.home, 'bench'),
        rootfs: userRootfs,
        lxcRootfs,
      },
    ];
    const results: Record<string, WorkerResult> = {};
    for (const id of identities) {
      mkdirSync(id.dir, { recursive: true });
      const cases = casesFor(id, dist);
      const job: Job = { dist, cases, result: join(id.dir, 'result.json') };
      if (id.user && densityCount > 0 && wanted('density'))
        job.density = {
          count: densityCount,
          prefix: 'bench-d',
          sliceSize: Math.floor(RANGE.count / Math.max(densityCount, 15) / 2),
          image: id.rootfs,
          lxc: { config: join(id.dir, 'lxc-sleep.conf'), lxcpath: join(id.dir, 'lxc-density') },
        };
      if (job.density?.lxc) mkdirSync(job.density.lxc.lxcpath, { recursive: true });
      if (id.user) run(['chown', '-R', `${id.user.uid}:${id.user.gid}`, id.dir], 'chown bench dir');
      if (cases.length === 0 && !job.density) continue;
      process.stderr.write(`bench: timing as ${id.label} (${cases.length} cases)...\n`);
      if (!id.user) {
        // If the worker dies half-way, root's containers would outlive it
        // (the user's go with the user): run every teardown again, best effort.
        cleanup.add('tear down root containers', () => {
          for (const c of cases)
            for (const v of c.variants)
              for (const step of v.teardown ?? [])
                spawnSync(step[0]!, step.slice(1), { stdio: 'ignore', timeout: 60_000 });
        });
      }
      results[id.key] = runWorker(id, job);
      lines.push(...report(id.label, results[id.key]!));
      if (results[id.key]!.density) lines.push(...reportDensity(results[id.key]!.density!));
    }
    if (wanted('criu')) {
      const c = await benchCriu(dist, join(work, 'criu'));
      out.criu = c;
      lines.push(
        '',
        `CRIU, busybox container as root (median of ${c.runs})`,
        `  pty console: igloo checkpoint ${(c.checkpoint * 1000).toFixed(0)} ms (criu dump ${(c.dump * 1000).toFixed(0)} ms), igloo restore ${(c.restore * 1000).toFixed(0)} ms (criu restore ${(c.criuRestore * 1000).toFixed(0)} ms), images ${(c.bytes / 1e6).toFixed(2)} MB; console null: ${(c.consoleNull.checkpoint * 1000).toFixed(0)} ms (${(c.consoleNull.dump * 1000).toFixed(0)}), ${(c.consoleNull.restore * 1000).toFixed(0)} ms (${(c.consoleNull.criuRestore * 1000).toFixed(0)}); medians of ${c.runs}`,
      );
    }
    if (wanted('ps')) {
      const ps = benchPs(dist, 1000, user);
      out.ps = ps;
      const row = (who: string, r: { igloo: number; ps: number; node: number }) =>
        `  ${who}: igloo ps --json ${r.igloo.toFixed(1)} ms, ps -eo pid,user,userns,pidns,cmd ${r.ps.toFixed(1)} ms: ${(r.igloo / r.ps).toFixed(2)}x (node -e 0 ${r.node.toFixed(1)} ms)`;
      lines.push(
        '',
        `igloo ps with ${ps.processes} processes on the host (medians of ${ps.runs}, alternating; load average ${ps.loadavg})`,
        row('root', ps),
        ...(ps.user ? [row('unprivileged user', ps.user)] : []),
      );
    }
    if (wanted('images')) {
      const images = await benchImages({
        dist,
        work,
        rounds: Number(opts['image-rounds']),
        cleanup,
      });
      out.images = images.result;
      lines.push(...images.lines);
    }
    if (wanted('oci')) {
      const oci = await benchOci({ dist, rounds, cleanup });
      out.oci = oci.result;
      lines.push(...oci.lines);
    }
    out.results = results;
  } finally {
    await cleanup.run();
  }
  const text = lines.join('\n');
  process.stdout.write(`${text}\n`);
  await writeResults('latest.json', { ...out, table: text });
}

await main();
