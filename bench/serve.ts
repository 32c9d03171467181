/**
 * `igloo serve` under load (issue 17), as root in private directories:
 *
 *   node --import tsx bench/serve.ts [--containers 1000] [--rounds 20]
 *
 * - GET /containers over the unix socket with N containers (goal: under
 *   50 ms), beside `igloo ls --json` (the same list from the CLI, a new
 *   process each time) as the anchor;
 * - event latency: from the moment a running container's init is killed
 *   (SIGKILL from here) to the `exited` event reaching an SSE client (goal:
 *   under 100 ms).
 *
 * Prints medians and writes bench/results/serve.json. Timings are never
 * test assertions.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { request, type IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Igloo } from '../src/api/index.ts';
import { onServerEvents } from '../test/support/serve.ts';
import { Cleanup, requireRoot, rootTestEnv, tempDir } from '../test/support/host.ts';

const repo = new URL('..', import.meta.url).pathname.replace(/\/$/, '');
const dist = process.env.IGLOO_DIST ?? join(repo, 'dist');
const { values: opts } = parseArgs({
  options: {
    containers: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '20' },
  },
});
const N = Number(opts.containers);
const ROUNDS = Number(opts.rounds);

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

function get(socketPath: string, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d));
      res.on('end', () => resolve(text));
    });
    req.on('error', reject);
    req.end();
  });
}

async function main(): Promise<void> {
  requireRoot();
  const cleanup = new Cleanup();
  try {
    const dir = tempDir(cleanup, 'igloo-bench-serve-', 0o700);
    const env = rootTestEnv(dir, 20_000_000);
    // N slices of 65536 ids: a private block big enough (these copies only; /etc is not touched)
    writeFileSync(env.IGLOO_SUBUID!, `root:100000000:${(N + 1) * 65536}\n`);
    writeFileSync(env.IGLOO_SUBGID!, `root:100000000:${(N + 1) * 65536}\n`);
    Object.assign(process.env, env);
    const api = new Igloo({ data: env.IGLOO_DATA_DIR!, run: env.IGLOO_RUN_DIR! });
    cleanup.add('destroy the containers', async () => {
      for (const name of await api.names()) await api.destroy(name, { force: true });
    });
    process.stderr.write(`creating ${N} containers...\n`);
    for (let i = 0; i < N; i++) await api.create(`b${i}`, { sliceSize: 65536 });

    const serveOn = async (socket: string, env: Record<string, string | undefined>) => {
      const server = spawn(
        process.execPath,
        [join(dist, 'igloo.mjs'), 'serve', '--socket', socket],
        { env, stdio: ['ignore', 'pipe', 'inherit'] },
      );
      cleanup.add('stop igloo serve', () => {
        server.kill('SIGTERM');
      });
      await new Promise<void>((resolve) => {
        let out = '';
        server.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('listening on')) resolve();
        });
      });
    };
    // The server as it runs (parsed configs kept, dropped by its watchers),
    // and the same server reading every file at every request (the anchor).
    const socket = join(dir, 'serve.sock');
    const uncachedSocket = join(dir, 'serve-uncached.sock');
    await serveOn(socket, process.env);
    await serveOn(uncachedSocket, { ...process.env, IGLOO_SERVE_CACHE: 'off' });
    const timedList = async (sock: string) => {
      const t = performance.now();
      const body = await get(sock, '/containers');
      const ms = performance.now() - t;
      if ((JSON.parse(body) as unknown[]).length !== N)
        throw new Error('GET /containers: wrong count');
      return ms;
    };

    // GET /containers: kept (two in a row, the second timed), after one
    // container changed (one entry read again), after the 2 s the server
    // trusts its watchers alone (every file compared by stat), and read
    // whole (IGLOO_SERVE_CACHE=off); igloo ls --json as the CLI's anchor.
    await get(socket, '/containers'); // warm
    await get(uncachedSocket, '/containers');
    const list: number[] = [];
    const changed: number[] = [];
    const swept: number[] = [];
    const uncached: number[] = [];
    const ls: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      await get(socket, '/containers');
      list.push(await timedList(socket));
      uncached.push(await timedList(uncachedSocket));
      // a change the watchers see: b1's config replaced, as igloo set does
      await api.configSet('b1', `igloo.hostname=h${r}`);
      await new Promise((res) => setTimeout(res, 50));
      changed.push(await timedList(socket));
      const t = performance.now();
      spawnSync(process.execPath, [join(dist, 'igloo.mjs'), 'ls', '--json'], {
        env: process.env,
      });
      ls.push(performance.now() - t);
    }
    for (let r = 0; r < Math.min(ROUNDS, 5); r++) {
      await new Promise((res) => setTimeout(res, 2100));
      swept.push(await timedList(socket));
    }

    // event latency: kill init, wait for `exited` on the stream
    const events = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request({ socketPath: socket, path: '/events' }, resolve);
      req.on('error', reject);
      req.end();
    });
    let waiting: ((name: string) => void) | undefined;
    onServerEvents(events, (e: { type: string; name: string }) => {
      if (e.type === 'exited') waiting?.(e.name);
    });
    const latency: number[] = [];
    for (let r = 0; r < Math.min(ROUNDS, 10); r++) {
      const state = await api.start('b0');
      // the server has seen it running before init is killed
      await new Promise((res) => setTimeout(res, 200));
      const seen = new Promise<void>((resolve) => {
        waiting = (name) => name === 'b0' && resolve();
      });
      const t = performance.now();
      process.kill(state.pid!, 'SIGKILL');
      await seen;
      latency.push(performance.now() - t);
    }
    events.destroy();

    const result = {
      containers: N,
      rounds: ROUNDS,
      getContainersMs: median(list),
      getContainersAfterOneChangeMs: median(changed),
      getContainersAfterTrustWindowMs: median(swept),
      getContainersUncachedMs: median(uncached),
      iglooLsJsonMs: median(ls),
      ratio: median(list) / median(ls),
      ratioToUncached: median(list) / median(uncached),
      eventLatencyMs: median(latency),
      goals: { getContainersMs: 50, eventLatencyMs: 100 },
    };
    process.stdout.write(
      `GET /containers (${N} containers): ${result.getContainersMs.toFixed(1)} ms median` +
        ` (igloo ls --json: ${result.iglooLsJsonMs.toFixed(1)} ms; ratio ${result.ratio.toFixed(2)})\n` +
        `  after one change: ${result.getContainersAfterOneChangeMs.toFixed(1)} ms;` +
        ` after the 2 s trust window (stat of every file): ${result.getContainersAfterTrustWindowMs.toFixed(1)} ms;` +
        ` every file read (IGLOO_SERVE_CACHE=off): ${result.getContainersUncachedMs.toFixed(1)} ms` +
        ` (ratio ${result.ratioToUncached.toFixed(2)})\n` +
        `event latency, init killed -> exited on the stream: ${result.eventLatencyMs.toFixed(1)} ms median\n`,
    );
    mkdirSync(join(repo, 'bench/results'), { recursive: true });
    writeFileSync(join(repo, 'bench/results/serve.json'), JSON.stringify(result, null, 2) + '\n');
  } finally {
    await cleanup.run();
  }
}

await main();
