/**
 * The benchmark's timing process. bench/run.ts starts one per identity (root,
 * and the unprivileged test user) with a job file, inside a private mount
 * namespace where /sys/fs/cgroup/unified is unmounted (crun refuses this
 * host's hybrid layout otherwise). Everything this process times runs in the
 * same namespace, so the anchors and igloo see the same host.
 *
 * Variants of a case are timed interleaved (round r runs every variant once),
 * so background load on the shared machine hits them alike. Results go to
 * the job's result file as JSON; stdout is left to what is being timed.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';

export type Action =
  | { kind: 'cmd'; argv: string[] }
  | { kind: 'api-run'; name: string; argv: string[] }
  | { kind: 'api-exec'; name: string; argv: string[] };

export interface Variant {
  id: string;
  label: string;
  setup?: string[][];
  action: Action;
  teardown?: string[][];
  /** Prints the host pid of the variant's idle container's first process (memory case). */
  initPid?: string[] | { igloo: string };
}

export interface Case {
  id: string;
  rounds: number;
  warmup: number;
  variants: Variant[];
}

export interface Density {
  count: number;
  prefix: string;
  sliceSize: number;
  image: string;
  /** LXC anchor: a config file for lxc-start -d and its -P directory. */
  lxc?: { config: string; lxcpath: string };
}

export interface Job {
  dist: string;
  cases: Case[];
  density?: Density;
  result: string;
}

export interface VariantResult {
  id: string;
  label: string;
  samples: number[];
  median?: number;
  unavailable?: string;
  memory?: { pids: number[]; rssKb: number; pssKb: number; processes: string[] } | string;
}

export interface DensityResult {
  count: number;
  createMs?: number;
  started: number;
  startMs?: number;
  startFailure?: string;
  monitorsRssKb?: number;
  monitorsPssKb?: number;
  stopDestroyMs?: number;
  lxc?: { started: number; startMs: number; failure?: string; monitorsRssKb?: number };
}

export interface WorkerResult {
  cases: Array<{ id: string; variants: VariantResult[] }>;
  density?: DensityResult;
}

type IglooApi = {
  runForeground(name: string, argv: string[]): Promise<{ exitCode: number; status: string }>;
  exec(name: string, argv: string[]): Promise<{ exitCode: number; status: string }>;
  create(name: string, opts: Record<string, unknown>): Promise<unknown>;
  start(name: string): Promise<{ pid?: number }>;
  destroy(name: string, opts: { force?: boolean }): Promise<void>;
  state(name: string): Promise<{ pid?: number; status: string }>;
};

export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/**
 * Runs a setup or query command with its output in a file, not a pipe: a
 * detached container keeps the fds it inherited, and a pipe would never end.
 */
function sh(argv: string[]): { ok: boolean; out: string; err: string } {
  const log = `${tmpdir()}/igloo-bench-sh-${process.pid}.log`;
  const fd = openSync(log, 'w+', 0o600);
  try {
    const r = spawnSync(argv[0]!, argv.slice(1), {
      stdio: ['ignore', fd, fd],
      timeout: 120_000,
    });
    const out = readFileSync(log, 'utf8');
    return {
      ok: r.status === 0,
      out,
      err: `${out}${r.error ? String(r.error) : ''}`.trim() || `exit ${r.status ?? r.signal}`,
    };
  } finally {
    closeSync(fd);
    rmSync(log, { force: true });
  }
}

const tail = (s: string) => s.split('\n').filter(Boolean).slice(-2).join(' / ').slice(0, 300);

async function timeOnce(action: Action, api: IglooApi): Promise<number> {
  if (action.kind === 'cmd') {
    // stderr goes to a file (a daemon such as conmon may keep a pipe open)
    const log = `${tmpdir()}/igloo-bench-err-${process.pid}.log`;
    const fd = openSync(log, 'w+', 0o600);
    const t0 = process.hrtime.bigint();
    let r: ReturnType<typeof spawnSync>;
    try {
      r = spawnSync(action.argv[0]!, action.argv.slice(1), {
        stdio: ['ignore', 'ignore', fd],
        timeout: 120_000,
      });
    } finally {
      closeSync(fd);
    }
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    const err = readFileSync(log, 'utf8');
    rmSync(log, { force: true });
    if (r.status !== 0)
      throw new Error(`exit ${r.status ?? r.signal}: ${tail(err || String(r.error))}`);
    return ms;
  }
  const t0 = process.hrtime.bigint();
  const r =
    action.kind === 'api-run'
      ? await api.runForeground(action.name, action.argv)
      : await api.exec(action.name, action.argv);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.exitCode !== 0) throw new Error(`status ${r.status}`);
  return ms;
}

/** VmRSS and Pss of a process, in kB. */
function memoryOf(pid: number): { rss: number; pss: number; comm: string } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    let pss = rss;
    try {
      pss = Number(
        /Pss:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? rss,
      );
    } catch {
      // smaps_rollup is unreadable for another user's process: keep RSS
    }
    const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    return { rss, pss, comm };
  } catch {
    return undefined;
  }
}

function parentOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

/**
 * The host-side processes that stay for an idle container: the ancestors of
 * its first process up to (not including) pid 1 or this worker.
 */
function hostSideMemory(initPid: number): VariantResult['memory'] {
  const pids: number[] = [];
  const processes: string[] = [];
  let rssKb = 0;
  let pssKb = 0;
  for (let p = parentOf(initPid); p > 1 && p !== process.pid; p = parentOf(p)) {
    const m = memoryOf(p);
    if (!m) break;
    pids.push(p);
    processes.push(`${m.comm}(${p}) ${m.rss} kB`);
    rssKb += m.rss;
    pssKb += m.pss;
  }
  return { pids, rssKb, pssKb, processes };
}

/**
 * The host-side memory of many idle containers, each process counted once:
 * a process that several of them share (igloo's zygote, forked from the API
 * process and the parent of every monitor it forked) is not a per-container
 * cost.
 */
function hostSideMemoryOfAll(initPids: readonly number[]): { rssKb: number; pssKb: number } {
  const seen = new Set<number>();
  for (const init of initPids) {
    for (let p = parentOf(init); p > 1 && p !== process.pid; p = parentOf(p)) {
      if (seen.has(p) || !memoryOf(p)) break; // the rest of this chain is counted
      seen.add(p);
    }
  }
  let rssKb = 0;
  let pssKb = 0;
  for (const pid of seen) {
    const m = memoryOf(pid);
    rssKb += m?.rss ?? 0;
    pssKb += m?.pss ?? 0;
  }
  return { rssKb, pssKb };
}

async function runCase(c: Case, api: IglooApi): Promise<VariantResult[]> {
  const results: VariantResult[] = c.variants.map((v) => ({
    id: v.id,
    label: v.label,
    samples: [],
  }));
  const live = c.variants.map(() => true);
  c.variants.forEach((v, i) => {
    for (const step of v.setup ?? []) {
      const r = sh(step);
      if (!r.ok) {
        results[i]!.unavailable = `setup \`${step.join(' ')}\` failed: ${tail(r.err)}`;
        live[i] = false;
        return;
      }
    }
  });
  // Memory of idle containers, once they are up.
  for (const [i, v] of c.variants.entries()) {
    if (!live[i] || !v.initPid) continue;
    try {
      let pid: number;
      if (Array.isArray(v.initPid)) {
        const r = sh(v.initPid);
        pid = Number(r.out.trim().split('\n').pop());
        if (!r.ok || !pid) throw new Error(`\`${v.initPid.join(' ')}\`: ${tail(r.err)}`);
      } else {
        pid = (await api.state(v.initPid.igloo)).pid ?? 0;
      }
      results[i]!.memory = hostSideMemory(pid);
    } catch (err) {
      results[i]!.memory = `unmeasured: ${err instanceof Error ? err.message : String(err)}`;
    }
  }
  for (let round = -c.warmup; round < c.rounds; round++) {
    for (const [i, v] of c.variants.entries()) {
      if (!live[i]) continue;
      try {
        const ms = await timeOnce(v.action, api);
        if (round >= 0) results[i]!.samples.push(ms);
      } catch (err) {
        results[i]!.unavailable = `run failed: ${err instanceof Error ? err.message : String(err)}`;
        live[i] = false;
      }
    }
  }
  for (const v of c.variants) for (const step of v.teardown ?? []) sh(step);
  for (const r of results) {
    if (r.samples.length && !r.unavailable) r.median = median(r.samples);
    else r.samples = [];
  }
  return results;
}

async function runDensity(d: Density, api: IglooApi): Promise<DensityResult> {
  const names = Array.from({ length: d.count }, (_, i) => `${d.prefix}${i}`);
  const out: DensityResult = { count: d.count, started: 0 };
  let t0 = performance.now();
  let created = 0;
  try {
    for (const name of names) {
      await api.create(name, {
        image: d.image,
        sliceSize: d.sliceSize,
        init: ['/bin/sleep', '2147483647'],
      });
      created++;
    }
    out.createMs = performance.now() - t0;
    t0 = performance.now();
    const inits: number[] = [];
    for (const name of names) {
      inits.push((await api.start(name)).pid ?? 0);
      out.started++;
    }
    out.startMs = performance.now() - t0;
    const all = hostSideMemoryOfAll(inits);
    out.monitorsRssKb = all.rssKb;
    out.monitorsPssKb = all.pssKb;
  } catch (err) {
    out.startFailure = `after ${created} created, ${out.started} started: ${err instanceof Error ? err.message : String(err)}`;
  }
  t0 = performance.now();
  for (const name of names.slice(0, created)) {
    await api.destroy(name, { force: true }).catch(() => undefined);
  }
  out.stopDestroyMs = performance.now() - t0;

  if (d.lxc) {
    const { config, lxcpath } = d.lxc;
    const lxc = { started: 0, startMs: 0 } as NonNullable<DensityResult['lxc']>;
    const inits: number[] = [];
    t0 = performance.now();
    for (const name of names) {
      const r = sh(['lxc-start', '-n', name, '-P', lxcpath, '-f', config, '-d']);
      if (!r.ok) {
        lxc.failure = `lxc-start ${name}: ${tail(r.err)}`;
        break;
      }
      lxc.started++;
    }
    lxc.startMs = performance.now() - t0;
    for (const name of names.slice(0, lxc.started)) {
      const pid = Number(sh(['lxc-info', '-n', name, '-P', lxcpath, '-pH']).out.trim());
      if (pid) inits.push(pid);
    }
    lxc.monitorsRssKb = hostSideMemoryOfAll(inits).rssKb;
    for (const name of names.slice(0, lxc.started))
      sh(['lxc-stop', '-n', name, '-P', lxcpath, '-k']);
    out.lxc = lxc;
  }
  return out;
}

async function main(): Promise<void> {
  const job = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as Job;
  const { Igloo } = (await import(`${job.dist}/api.mjs`)) as { Igloo: new () => IglooApi };
  const api = new Igloo();
  const result: WorkerResult = { cases: [] };
  writeFileSync(job.result, JSON.stringify(result));
  for (const c of job.cases) {
    result.cases.push({ id: c.id, variants: await runCase(c, api) });
    writeFileSync(job.result, JSON.stringify(result));
  }
  if (job.density) {
    result.density = await runDensity(job.density, api);
    writeFileSync(job.result, JSON.stringify(result));
  }
}

await main();
