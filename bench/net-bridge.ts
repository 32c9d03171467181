/**
 * Bridge mode's cost, side by side in one run (issue 14), as root:
 *
 *   node --import tsx bench/net-bridge.ts [--rounds 30] [--seconds 3] [--iperf-rounds 5]
 *
 * Attach latency (median of interleaved rounds) into a fresh network
 * namespace held by a sleeping process:
 *   raw-veth      the floor with iproute2: one `ip -batch` making the pair in
 *                 the namespace and enslaving the host end, one `nsenter
 *                 --net ip -batch` configuring eth0 (2 execs)
 *   igloo-root    igloo's root attach (host/net/bridge-attach.ts): the lease
 *                 under lock, then one `igloo-helper netlink attach` (nft set
 *                 elements, veth, address, route over netlink)
 *   lxc-user-nic  LXC's setuid helper as an unprivileged user, plus the
 *                 user's `igloo-helper netlink configure` (what igloo's user
 *                 attach runs after it)
 * Throughput (iperf3, both directions, if installed): see throughput()
 * below; every address there is in a namespace made for it. The attach
 * addresses are in 10.251.71.0/24, on a bridge made here and removed at the
 * end. Writes bench/results/net-bridge.json. Timings are never assertions.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { attachRoot, detachRoot } from '../src/host/net/bridge-attach.ts';
import { createBridge, deleteBridge, type NetPaths } from '../src/host/net/bridge.ts';
import { bridgeRuleset } from '../src/host/net/nft.ts';
import { Cleanup, createUser, stagedCli } from '../test/support/host.ts';

const { values: opts } = parseArgs({
  options: {
    rounds: { type: 'string', default: '30' },
    seconds: { type: 'string', default: '3' },
    'iperf-rounds': { type: 'string', default: '5' },
  },
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
    // the helper as users run it (a copy they may read and run)
    const helper = join(dirname(stagedCli(cleanup)), 'libexec/igloo-helper');
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
        [helper, 'netlink', 'configure', String(nsPid(h)), '10.251.71.201/24', '10.251.71.1'],
        '',
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
      results.throughput = await throughput(Number(opts.seconds), Number(opts['iperf-rounds']));
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

type Variant = 'raw-veth' | 'bridge' | 'bridge-no-br-nf' | 'bridge-igloo-rules';
const VARIANTS: readonly Variant[] = [
  'raw-veth',
  'bridge',
  'bridge-no-br-nf',
  'bridge-igloo-rules',
];

/**
 * iperf3 from a container's namespace to the host end, both directions, in
 * a private "host" network namespace W made here (so the host's own rules
 * and settings stay out of it, and the br_netfilter switch can be turned
 * off in W alone: those sysctls are per namespace). Variants, interleaved
 * round by round, medians in Gbit/s:
 *   raw-veth            a veth pair, the address on its host end
 *   bridge              the host end on a bridge holding the address,
 *                       br_netfilter on (W inherits this host's default, 1)
 *   bridge-no-br-nf     the same with net.bridge.bridge-nf-call-* = 0 in W
 *   bridge-igloo-rules  bridge, br_netfilter on, and igloo's anti-spoofing
 *                       table (bridgeRuleset) naming the port and its lease
 */
async function throughput(
  seconds: number,
  rounds: number,
): Promise<Record<Variant, { upGbps: number; downGbps: number }>> {
  const samples = Object.fromEntries(
    VARIANTS.map((v) => [v, { up: [] as number[], down: [] as number[] }]),
  ) as Record<Variant, { up: number[]; down: number[] }>;
  for (let r = 0; r < rounds; r++) {
    for (const v of VARIANTS) {
      const world = await holder();
      const box = await holder();
      const W = (argv: string[], input = '') =>
        sh(['nsenter', `--target=${nsPid(world)}`, '--net', '--', ...argv], input);
      const C = (argv: string[]) =>
        sh(['nsenter', `--target=${nsPid(box)}`, '--net', '--', ...argv]);
      let server: ChildProcess | undefined;
      try {
        const host = v === 'raw-veth' ? 'h0' : 'br0';
        const lines = [
          'link set lo up',
          `link add h0 type veth peer name eth0 netns ${nsPid(box)}`,
          ...(v === 'raw-veth'
            ? []
            : ['link add br0 type bridge', 'link set br0 up', 'link set h0 master br0']),
          `addr add 10.9.0.1/24 dev ${host}`,
          'link set h0 up',
        ];
        W(['ip', '-batch', '-'], `${lines.join('\n')}\n`);
        if (v === 'bridge-no-br-nf')
          for (const f of ['iptables', 'ip6tables', 'arptables'])
            W(['sh', '-c', `echo 0 > /proc/sys/net/bridge/bridge-nf-call-${f}`]);
        if (v === 'bridge-igloo-rules') {
          const def = { name: 'br0', subnet: '10.9.0.0/24', gateway: '10.9.0.1', nat: false };
          const lease = {
            bridge: 'br0',
            owner: 'root',
            container: 'b',
            address: '10.9.0.2',
            hostVeth: 'h0',
          };
          W(['nft', '-f', '-'], bridgeRuleset(def, [lease], []));
        }
        C(['ip', 'link', 'set', 'lo', 'up']);
        C(['ip', 'addr', 'add', '10.9.0.2/24', 'dev', 'eth0']);
        C(['ip', 'link', 'set', 'eth0', 'up']);
        server = spawn(
          'nsenter',
          [
            `--target=${nsPid(world)}`,
            '--net',
            '--',
            'iperf3',
            '-s',
            '-B',
            '10.9.0.1',
            '-p',
            '5299',
          ],
          { stdio: 'ignore' },
        );
        const run = (reverse: boolean): number => {
          for (let attempt = 0; ; attempt++) {
            try {
              const out = C([
                'iperf3',
                '-c',
                '10.9.0.1',
                '-p',
                '5299',
                '-t',
                String(seconds),
                '-J',
                ...(reverse ? ['-R'] : []),
              ]).out;
              const j = JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } };
              return j.end.sum_received.bits_per_second / 1e9;
            } catch (err) {
              // the server may not listen yet: a few tries, 100 ms apart
              if (attempt >= 20) throw err;
              spawnSync('sleep', ['0.1']);
            }
          }
        };
        samples[v].up.push(run(false));
        samples[v].down.push(run(true));
      } finally {
        server?.kill('SIGKILL');
        box.kill('SIGKILL');
        world.kill('SIGKILL'); // W and everything in it (bridge, veth, table) goes with it
      }
    }
  }
  const out = Object.fromEntries(
    VARIANTS.map((v) => [
      v,
      { upGbps: median(samples[v].up), downGbps: median(samples[v].down), samples: samples[v] },
    ]),
  ) as unknown as Record<Variant, { upGbps: number; downGbps: number }>;
  const raw = out['raw-veth'];
  console.log(`throughput, Gbit/s up / down, medians of ${rounds} (ratio to raw-veth; to bridge)`);
  for (const v of VARIANTS) {
    const o = out[v];
    console.log(
      `  ${v.padEnd(19)} ${o.upGbps.toFixed(1)} / ${o.downGbps.toFixed(1)}  x${(o.upGbps / raw.upGbps).toFixed(2)} / x${(o.downGbps / raw.downGbps).toFixed(2)};  x${(o.upGbps / out.bridge.upGbps).toFixed(2)} / x${(o.downGbps / out.bridge.downGbps).toFixed(2)}`,
    );
  }
  return out;
}

await main();
