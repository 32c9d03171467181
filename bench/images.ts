/**
 * The images case of the benchmark (`--only images`): import, extract and
 * shift speeds on a Debian rootfs, against LXC's ways of getting a rootfs
 * owned by a container's ids, in the same run (issue 8's last row).
 *
 *   import        igloo image import of an OCI archive of the Debian image (root)
 *   create, user  igloo create --image: the layer extracted in the user's
 *                 namespace  vs  lxc-usernsexec -m b:0:BASE:65536 -- tar -xpf
 *                 (what LXC's unprivileged templates do), as the same user
 *   create, root  igloo create --image: an overlay over an idmapped mount of
 *                 the image (no copy, no walk)  vs  IGLOO_IDMAPPED=0 (a copy)
 *   shift         igloo-helper shift (one slice to another, keeping set-id
 *                 bits and capabilities)  vs  chown -R --from=A:A B:B (a chown
 *                 walk, LXC-style; it moves only root-owned files, so it is
 *                 a lower bound of a real shift)
 *
 * The Debian image is built once in the run with `igloo image build debian`
 * (debootstrap, root), unless IGLOO_BENCH_DEBIAN_DATA names an igloo data
 * directory that has an image "deb" already. Root's containers live in a
 * private data directory with root's delegation from a private subuid file
 * (ids 20,000,000..); the user is igloo-imgx-bench (21,000,000..). Variants
 * run interleaved: round r times each once. Timings are never assertions.
 */
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
  lstatSync,
} from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import {
  assertRangeFree,
  createUser,
  delegate,
  type Cleanup,
  type TestUser,
} from '../test/support/host.ts';
import { ociArchive } from '../test/support/oci.ts';

const USER = 'igloo-imgx-bench';
const USER_RANGE = { start: 21_000_000, count: 1_000_000 };
const ROOT_RANGE = { start: 20_000_000, count: 1_000_000 };
/** LXC's anchor maps its root here (inside the user's block, clear of igloo's slices). */
const LXC_BASE = USER_RANGE.start + 500_000;
const SHIFT_A = ROOT_RANGE.start + 600_000;
const SHIFT_B = ROOT_RANGE.start + 700_000;
/** Extra samples per round of the (sub-second) shift walks. */
const SHIFT_REPEAT = 4;

export interface ImagesVariant {
  id: string;
  label: string;
  samples: number[];
  median?: number;
  unavailable?: string;
}

export interface ImagesResult {
  rounds: number;
  rootfs: { files: number; bytes: number; layerBytes: number };
  build?: { seconds: number };
  firstUnpack?: number;
  loadavg: { before: number[]; after: number[] };
  variants: ImagesVariant[];
}

interface Step {
  argv: string[];
  env?: Record<string, string>;
  as?: TestUser;
}

interface Variant {
  id: string;
  label: string;
  setup?: Step[];
  action: Step;
  teardown?: Step[];
}

function runStep(s: Step, what: string): number {
  const env = {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    LANG: 'C.UTF-8',
    ...(s.as ? { HOME: s.as.home, USER: s.as.name } : { HOME: '/root' }),
    ...s.env,
  };
  const argv = s.as
    ? ['setpriv', `--reuid=${s.as.uid}`, `--regid=${s.as.gid}`, '--init-groups', '--', ...s.argv]
    : s.argv;
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0]!, argv.slice(1), {
    env,
    cwd: '/',
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0)
    throw new Error(`${what}: ${s.argv.join(' ')}: exit ${r.status}: ${r.stderr || r.error}`);
  return ms;
}

function treeStats(dir: string): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  const walk = (p: string) => {
    const st = lstatSync(p);
    files++;
    if (st.isFile()) bytes += st.size;
    if (st.isDirectory()) for (const e of readdirSync(p)) walk(join(p, e));
  };
  walk(dir);
  return { files, bytes };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

export async function benchImages(o: {
  dist: string;
  work: string;
  rounds: number;
  cleanup: Cleanup;
}): Promise<{ result: ImagesResult; lines: string[] }> {
  const cli = join(o.dist, 'igloo.mjs');
  const helper = join(o.dist, 'libexec/igloo-helper');
  const dir = join(o.work, 'images');
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, 'subuid'), `root:${ROOT_RANGE.start}:${ROOT_RANGE.count}\n`);
  writeFileSync(join(dir, 'subgid'), `root:${ROOT_RANGE.start}:${ROOT_RANGE.count}\n`);
  const rootEnv = {
    IGLOO_SUBUID: join(dir, 'subuid'),
    IGLOO_SUBGID: join(dir, 'subgid'),
    IGLOO_DATA_DIR: join(dir, 'data'),
    IGLOO_RUN_DIR: join(dir, 'run'),
  };
  const igloo = (args: string[], env: Record<string, string> = {}, as?: TestUser): Step => ({
    argv: [process.execPath, cli, ...args],
    env: as ? env : { ...rootEnv, ...env },
    ...(as && { as }),
  });

  // The Debian image: built once here, or taken from IGLOO_BENCH_DEBIAN_DATA.
  let build: ImagesResult['build'];
  const given = process.env.IGLOO_BENCH_DEBIAN_DATA;
  const debData = given ?? rootEnv.IGLOO_DATA_DIR;
  if (!given) {
    process.stderr.write('bench: images: building a Debian image (debootstrap, once)...\n');
    const ms = runStep(
      igloo(['image', 'build', 'debian', '--suite', 'bookworm', '--name', 'deb']),
      'build the Debian image',
    );
    build = { seconds: ms / 1000 };
  }
  const stored = JSON.parse(readFileSync(join(debData, 'images/deb/image.json'), 'utf8')) as {
    layers: Array<{ file: string }>;
  };
  const layers = stored.layers.map((l) => readFileSync(join(debData, 'images/deb/layers', l.file)));
  const archive = join(dir, 'deb.oci.tar');
  writeFileSync(archive, ociArchive({ layers, config: { Cmd: ['/sbin/init'] } }));
  chmodSync(archive, 0o644);
  const layerFile = join(dir, 'deb-layer.tar');
  writeFileSync(layerFile, layers[0]!);
  chmodSync(layerFile, 0o644);
  const layerBytes = layers.reduce((n, l) => n + l.length, 0);

  // Root: the image in the private store (and once unpacked, timed apart).
  if (given) runStep(igloo(['image', 'import', archive, '--name', 'deb']), 'import deb');
  let t = runStep(igloo(['create', 'bench-first', '--image', 'deb']), 'first idmapped create');
  runStep(igloo(['destroy', 'bench-first']), 'destroy');
  const firstUnpack = t / 1000;
  const unpacked = join(rootEnv.IGLOO_DATA_DIR, 'images/deb/rootfs');
  const stats = treeStats(unpacked);

  // The user, their delegation and their copy of the image.
  assertRangeFree(USER_RANGE.start, USER_RANGE.count);
  const user = createUser(o.cleanup, USER);
  await delegate(user, USER_RANGE.start, USER_RANGE.count);
  o.cleanup.add('kill igloo-imgx-bench processes', () => {
    spawnSync('pkill', ['-KILL', '-u', USER]);
  });
  runStep(igloo(['image', 'import', archive, '--name', 'deb'], {}, user), 'user import');
  // Not in the user's home: LXC's mapped root must traverse to it.
  const lxcDir = join(dir, 'lxc');
  mkdirSync(lxcDir, { mode: 0o755 });
  chownSync(lxcDir, user.uid, user.gid);

  // Two trees to shift back and forth: copies of the unpacked image.
  const shiftIgloo = join(dir, 'shift-igloo');
  const shiftChown = join(dir, 'shift-chown');
  for (const d of [shiftIgloo, shiftChown]) {
    runStep({ argv: ['cp', '-a', unpacked, d] }, 'copy the rootfs');
    runStep(
      { argv: [helper, 'shift', d, `u:0:${SHIFT_A}:65536`, `g:0:${SHIFT_A}:65536`] },
      'shift to A',
    );
  }
  let iglooAt = SHIFT_A;
  let chownAt = SHIFT_A;

  const variants: Variant[] = [
    {
      id: 'import',
      label: 'igloo image import (OCI archive, root)',
      action: igloo(['image', 'import', archive, '--name', 'imp']),
      teardown: [igloo(['image', 'rm', 'imp'])],
    },
    {
      id: 'create-user',
      label: 'igloo create --image, user (extract in the user namespace)',
      action: igloo(['create', 'bench-u', '--image', 'deb'], {}, user),
      teardown: [igloo(['destroy', 'bench-u'], {}, user)],
    },
    {
      id: 'lxc-user',
      label: 'lxc-usernsexec -m b:0:BASE:65536 -- tar -xpf (user)',
      setup: [
        { argv: ['mkdir', join(lxcDir, 'rootfs')] },
        { argv: ['chown', `${LXC_BASE}:${LXC_BASE}`, join(lxcDir, 'rootfs')] },
      ],
      action: {
        argv: [
          'lxc-usernsexec',
          '-m',
          `b:0:${LXC_BASE}:65536`,
          '--',
          'tar',
          '-xpf',
          layerFile,
          '-C',
          join(lxcDir, 'rootfs'),
          '--numeric-owner',
        ],
        as: user,
      },
      teardown: [{ argv: ['rm', '-rf', join(lxcDir, 'rootfs')] }],
    },
    {
      id: 'create-root-idmapped',
      label: 'igloo create --image, root (overlay over an idmapped mount)',
      action: igloo(['create', 'bench-r', '--image', 'deb']),
      teardown: [igloo(['destroy', 'bench-r'])],
    },
    {
      id: 'create-root-copy',
      label: 'igloo create --image, root, IGLOO_IDMAPPED=0 (extract in the namespace)',
      action: igloo(['create', 'bench-c', '--image', 'deb'], { IGLOO_IDMAPPED: '0' }),
      teardown: [igloo(['destroy', 'bench-c'])],
    },
    {
      id: 'shift-igloo',
      label: 'igloo-helper shift (slice to slice, keeps caps and set-id bits)',
      action: { argv: [] }, // filled per round
    },
    {
      id: 'shift-chown',
      label: 'chown -R --from=A:A B:B (chown walk)',
      action: { argv: [] },
    },
  ];
  const samples = new Map<string, number[]>(variants.map((v) => [v.id, []]));
  const unavailable = new Map<string, string>();
  const before = loadavg();
  for (let round = 0; round < o.rounds; round++) {
    process.stderr.write(`bench: images: round ${round + 1}/${o.rounds}\n`);
    for (const v of variants) {
      if (unavailable.has(v.id)) continue;
      let action = v.action;
      if (v.id === 'shift-igloo') {
        const to = iglooAt === SHIFT_A ? SHIFT_B : SHIFT_A;
        action = {
          argv: [
            helper,
            'shift',
            shiftIgloo,
            `u:${iglooAt}:${to}:65536`,
            `g:${iglooAt}:${to}:65536`,
          ],
        };
        iglooAt = to;
      } else if (v.id === 'shift-chown') {
        const to = chownAt === SHIFT_A ? SHIFT_B : SHIFT_A;
        action = {
          argv: ['chown', '-R', `--from=${chownAt}:${chownAt}`, `${to}:${to}`, shiftChown],
        };
        chownAt = to;
      }
      try {
        for (const s of v.setup ?? []) runStep(s, `${v.id} setup`);
        t = runStep(action, v.id);
        samples.get(v.id)!.push(t);
        for (const s of v.teardown ?? []) runStep(s, `${v.id} teardown`);
        // The walks take well under a second: more samples of them, there and back.
        if (v.id.startsWith('shift-')) {
          for (let k = 0; k < SHIFT_REPEAT; k++) {
            const tree = v.id === 'shift-igloo' ? shiftIgloo : shiftChown;
            const at = v.id === 'shift-igloo' ? iglooAt : chownAt;
            const to = at === SHIFT_A ? SHIFT_B : SHIFT_A;
            samples.get(v.id)!.push(
              runStep(
                v.id === 'shift-igloo'
                  ? {
                      argv: [helper, 'shift', tree, `u:${at}:${to}:65536`, `g:${at}:${to}:65536`],
                    }
                  : { argv: ['chown', '-R', `--from=${at}:${at}`, `${to}:${to}`, tree] },
                v.id,
              ),
            );
            if (v.id === 'shift-igloo') iglooAt = to;
            else chownAt = to;
          }
        }
      } catch (err) {
        unavailable.set(v.id, (err as Error).message.split('\n')[0]!);
      }
    }
  }
  const after = loadavg();
  for (const d of [shiftIgloo, shiftChown, join(lxcDir, 'rootfs')])
    if (existsSync(d)) rmSync(d, { recursive: true, force: true });

  const out: ImagesVariant[] = variants.map((v) => {
    const xs = samples.get(v.id)!;
    return {
      id: v.id,
      label: v.label,
      samples: xs,
      ...(xs.length && { median: median(xs) }),
      ...(unavailable.has(v.id) && { unavailable: unavailable.get(v.id)! }),
    };
  });
  const med = (id: string) => out.find((v) => v.id === id)?.median;
  const ratio = (a: string, b: string) => {
    const x = med(a);
    const y = med(b);
    return x !== undefined && y !== undefined ? `${(x / y).toFixed(3)}x` : 'n/a';
  };
  const ms = (id: string) => {
    const m = med(id);
    return m === undefined
      ? `unavailable (${unavailable.get(id) ?? 'no samples'})`
      : `${m.toFixed(0)} ms`;
  };
  const lines = [
    '',
    `Images: a Debian bookworm minbase rootfs, ${stats.files} files, ${(stats.bytes / 1e6).toFixed(0)} MB (layer ${(layerBytes / 1e6).toFixed(0)} MB); median of ${o.rounds} (shift walks: ${o.rounds * (SHIFT_REPEAT + 1)}), interleaved; load average ${before.map((x) => x.toFixed(2)).join(' ')} -> ${after.map((x) => x.toFixed(2)).join(' ')}`,
    ...(build ? [`  image build (debootstrap, once): ${build.seconds.toFixed(0)} s`] : []),
    `  first root create from it (unpacks the image once, ids as stored): ${firstUnpack.toFixed(1)} s`,
    '| case | igloo | anchor | igloo/anchor |',
    '|---|---:|---:|---:|',
    `| import (OCI archive, root) | ${ms('import')} | - | - |`,
    `| create --image as a user: extract in the user namespace vs lxc-usernsexec tar -xpf | ${ms('create-user')} | ${ms('lxc-user')} | ${ratio('create-user', 'lxc-user')} |`,
    `| create --image as root: idmapped overlay vs a copy (IGLOO_IDMAPPED=0) | ${ms('create-root-idmapped')} | ${ms('create-root-copy')} | ${ratio('create-root-idmapped', 'create-root-copy')} |`,
    `| shift a rootfs to another slice: igloo-helper shift vs chown -R --from | ${ms('shift-igloo')} | ${ms('shift-chown')} | ${ratio('shift-igloo', 'shift-chown')} |`,
    `| root create, idmapped, vs LXC's chown walk of the same rootfs | ${ms('create-root-idmapped')} | ${ms('shift-chown')} | ${ratio('create-root-idmapped', 'shift-chown')} |`,
  ];
  return {
    result: {
      rounds: o.rounds,
      rootfs: { ...stats, layerBytes },
      ...(build && { build }),
      firstUnpack,
      loadavg: { before, after },
      variants: out,
    },
    lines,
  };
}
