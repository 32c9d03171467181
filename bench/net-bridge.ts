/**
 * Bridge mode's cost, side by side in one run (issue 14), as root:
 *
 *   node --import tsx bench/net-bridge.ts [--rounds 30] [--seconds 3]
 *
 * Attach latency (median of interleaved rounds) into a fresh network
 * namespace held by a sleeping process:
 *   raw-veth      the floor with the same tool: one `ip -batch` making the
 *                 pair in the namespace and enslaving the host end, one
 *                 `nsenter --net ip -batch` configuring eth0 (2 execs)
 *   igloo-root    igloo's root attach (host/net/bridge-attach.ts): the same
 *                 two execs plus the lease under lock and the nft transaction
 *   lxc-user-nic  LXC's setuid helper as an unprivileged user, plus the
 *                 user's `nsenter --user --net ip -batch` (what igloo's user
 *                 attach runs)
 * Throughput (iperf3, both directions, if installed): a namespace on the
 * bridge against the host's end, and a namespace on a raw veth pair (no
 * bridge) against its host end. Every address is in 10.251.71.0/24 and
 * 10.251.72.0/30, made here and removed at the end. Writes
 * bench/results/net-bridge.json. Timings are never assertions.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { attachRoot, detachRoot } from '../src/host/net/bridge-attach.ts';
import { createBridge, deleteBridge, type NetPaths } from '../src/host/net/bridge.ts';
import { Cleanup, createUser } from '../test/support/host.ts';

const { values: opts } = parseArgs({
  options: { rounds: { type: 'string', default: '30' }, seconds: { type: 'string', default: '3' } },
});
const rounds = Number(opts.rounds);
const BR = 'igloo-bnb0';
const USERNET = '/etc/lxc/lxc-usernet';
const repo = new URL('..', import.meta.url).pathname;

function sh(argv: string[], input = '', asUid?: number): { ms: number; out: string } {
  const cmd =
    asUid === undefined
      ? argv
      : ['setpriv', `--reuid=${asUid}`, `--regid=${asUid}`, '--clear-groups', ...argv];
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd[0]!, cmd.slice(1), { input, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd.join(' ')}: ${r.stderr}`);
  return { ms, out: r.stdout };
}

/** A process holding a new network namespace (and a user namespace, for a user). */
async function holder(asUid?: number): Promise<ChildProcess> {
  const argv =
    asUid === undefined
      ? ['unshare', '-n', 'sleep', '600']
      : [
          'setpriv',
          `--reuid=${asUid}`,
          `--regid=${asUid}`,
          '--clear-groups',
          'unshare',
          '-U',
          '-r',
          '-n',
          'sleep',
          '600',
        ];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: 'ignore' });
  // setpriv and unshare exec in place: the pid is the sleep's once it runs in its namespace
  const pid = child.pid!;
  for (;;) {
    const comm = spawnSync('cat', [`/proc/${pid}/comm`])
      .stdout.toString()
      .trim();
    if (comm === 'sleep') return Object.assign(child, { nsPid: pid });
    await new Promise((r) => setTimeout(r, 2));
  }
}
const nsPid = (c: ChildProcess) => (c as ChildProcess & { nsPid: number }).nsPid;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

const inside = (addr: string) => [
  'link set lo up',
  `addr add ${addr}/24 dev eth0`,
  'link set eth0 up',
  'route add default via 10.251.71.1 dev eth0',
];

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run the bench as root');
  const cleanup = new Cleanup();
  const dir = mkdtempSync(join(tmpdir(), 'igloo-bench-net-'));
  cleanup.add('remove the state', () => rmSync(dir, { recursive: true, force: true }));
  const paths: NetPaths = {
    state: join(dir, 'data/net/bridges.json'),
    usernet: { file: join(dir, 'lxc/lxc-usernet'), publicDir: join(dir, 'lxc/igloo-net') },
  };
  const results: Record<string, unknown> = {
    rounds,
    kernel: spawnSync('uname', ['-r']).stdout.toString().trim(),
  };
  try {
    await createBridge(paths, { name: BR, subnet: '10.251.71.0/24', nat: false });
    cleanup.add('remove the bridge', () => deleteBridge(paths, BR));
    const user = createUser(cleanup, 'igloo-bnet');
    // lxc-user-nic reads the real file only: one line for the bench user, removed after
    const usernetBefore = existsSync(USERNET) ? readFileSync(USERNET, 'utf8') : undefined;
    mkdirSync('/etc/lxc', { recursive: true });
    writeFileSync(USERNET, `${usernetBefore ?? ''}${user.name} veth ${BR} 1\n`);
    cleanup.add(`restore ${USERNET}`, () =>
      usernetBefore === undefined ? rmSync(USERNET) : writeFileSync(USERNET, usernetBefore),
    );

    const times: Record<string, number[]> = {
      'raw-veth': [],
      'igloo-root': [],
      'lxc-user-nic': [],
    };
    for (let i = 0; i < rounds; i++) {
      // raw veth
      let h = await holder();
      let t = process.hrtime.bigint();
      sh(
        ['ip', '-batch', '-'],
        `link add igb-raw type veth peer name eth0 netns ${nsPid(h)}\nlink set igb-raw master ${BR} up\n`,
      );
      sh(
        ['nsenter', `--target=${nsPid(h)}`, '--net', '--', 'ip', '-batch', '-'],
        `${inside('10.251.71.200').join('\n')}\n`,
      );
      times['raw-veth']!.push(Number(process.hrtime.bigint() - t) / 1e6);
      h.kill('SIGKILL');
      spawnSync('ip', ['link', 'del', 'igb-raw']);
      // igloo, root
      h = await holder();
      t = process.hrtime.bigint();
      await attachRoot(paths, { owner: 'root', container: 'bench', bridge: BR, pid: nsPid(h) });
      times['igloo-root']!.push(Number(process.hrtime.bigint() - t) / 1e6);
      h.kill('SIGKILL');
      await detachRoot(paths, { owner: 'root', container: 'bench', bridge: BR });
      // lxc-user-nic as the user, then the user's configuration inside
      h = await holder(user.uid);
      t = process.hrtime.bigint();
      sh(
        [
          '/usr/libexec/lxc/lxc-user-nic',
          'create',
          dir,
          'bench',
          String(nsPid(h)),
          'veth',
          BR,
          'eth0',
        ],
        '',
        user.uid,
      );
      sh(
        [
          'nsenter',
          `--target=${nsPid(h)}`,
          '--user',
          '--preserve-credentials',
          '--net',
          '--',
          'ip',
          '-batch',
          '-',
        ],
        `${inside('10.251.71.201').join('\n')}\n`,
        user.uid,
      );
      times['lxc-user-nic']!.push(Number(process.hrtime.bigint() - t) / 1e6);
      h.kill('SIGKILL');
      await new Promise((r) => setTimeout(r, 20));
    }
    const attach = Object.fromEntries(
      Object.entries(times).map(([k, v]) => [k, { medianMs: median(v), minMs: Math.min(...v) }]),
    );
    results.attach = attach;
    const raw = median(times['raw-veth']!);
    console.log('attach latency, median ms (ratio to raw-veth)');
    for (const [k, v] of Object.entries(times))
      console.log(
        `  ${k.padEnd(14)} ${median(v).toFixed(1).padStart(6)}  x${(median(v) / raw).toFixed(2)}`,
      );

    if (spawnSync('sh', ['-c', 'command -v iperf3']).status === 0)
      results.throughput = throughput(paths, Number(opts.seconds));
    else {
      results.throughput = 'unavailable: iperf3 is not installed';
      console.log('throughput: unavailable (iperf3 is not installed)');
    }
  } finally {
    await cleanup.run();
  }
  mkdirSync(join(repo, 'bench/results'), { recursive: true });
  writeFileSync(
    join(repo, 'bench/results/net-bridge.json'),
    `${JSON.stringify(results, null, 2)}\n`,
  );
}

/** iperf3 from a namespace to the host end, over the bridge and over a raw veth pair; Gbit/s. */
function throughput(
  _paths: NetPaths,
  seconds: number,
): Record<string, { upGbps: number; downGbps: number }> {
  const out: Record<string, { upGbps: number; downGbps: number }> = {};
  const setups: Record<string, { up: string[]; server: string; down: string[] }> = {
    bridge: {
      server: '10.251.71.1',
      up: [
        `ip link add igb-v1 type veth peer name eth0 netns igb-ns`,
        `ip link set igb-v1 master ${BR} up`,
      ],
      down: ['ip link del igb-v1'],
    },
    'raw-veth': {
      server: '10.251.72.1',
      up: [
        'ip link add igb-v2 type veth peer name eth0 netns igb-ns',
        'ip addr add 10.251.72.1/30 dev igb-v2',
        'ip link set igb-v2 up',
      ],
      down: ['ip link del igb-v2'],
    },
  };
  for (const [name, s] of Object.entries(setups)) {
    sh(['ip', 'netns', 'add', 'igb-ns']);
    try {
      for (const c of s.up) sh(c.split(' '));
      const addr = name === 'bridge' ? '10.251.71.150/24' : '10.251.72.2/30';
      sh(['ip', '-n', 'igb-ns', 'addr', 'add', addr, 'dev', 'eth0']);
      sh(['ip', '-n', 'igb-ns', 'link', 'set', 'eth0', 'up']);
      sh(['ip', '-n', 'igb-ns', 'link', 'set', 'lo', 'up']);
      const server = spawn('iperf3', ['-s', '-B', s.server, '-p', '5299'], { stdio: 'ignore' });
      spawnSync('sleep', ['0.3']);
      const run = (reverse: boolean) => {
        const r = sh([
          'ip',
          'netns',
          'exec',
          'igb-ns',
          'iperf3',
          '-c',
          s.server,
          '-p',
          '5299',
          '-t',
          String(seconds),
          '-J',
          ...(reverse ? ['-R'] : []),
        ]);
        const j = JSON.parse(r.out) as { end: { sum_received: { bits_per_second: number } } };
        return j.end.sum_received.bits_per_second / 1e9;
      };
      out[name] = { upGbps: run(false), downGbps: run(true) };
      server.kill('SIGKILL');
    } finally {
      for (const c of s.down) spawnSync(c.split(' ')[0]!, c.split(' ').slice(1));
      spawnSync('ip', ['netns', 'del', 'igb-ns']);
    }
  }
  console.log('throughput, Gbit/s up / down (ratio bridge/raw-veth)');
  for (const [k, v] of Object.entries(out))
    console.log(`  ${k.padEnd(10)} ${v.upGbps.toFixed(1)} / ${v.downGbps.toFixed(1)}`);
  if (out.bridge && out['raw-veth'])
    console.log(
      `  ratio      x${(out.bridge.upGbps / out['raw-veth'].upGbps).toFixed(2)} / x${(out.bridge.downGbps / out['raw-veth'].downGbps).toFixed(2)}`,
    );
  return out;
}

await main();
