/**
 * igloo's benchmark: each case is timed side by side with a reference in the
 * same run and reported as a ratio (never asserted in a test).
 *   npm run bench                 all cases
 *   npm run bench -- cold-start   one case
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const root = new URL('..', import.meta.url).pathname;
const cli = `${root}dist/igloo.mjs`;

function timeRuns(argv: string[], runs: number): number[] {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(argv[0]!, argv.slice(1), { stdio: 'ignore' });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}`);
    times.push(ms);
  }
  return times;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface Case {
  name: string;
  subject: string[];
  reference: { label: string; argv: string[] } | undefined;
  runs: number;
}

function which(cmd: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

const cases: Case[] = [
  {
    name: 'cold-start',
    subject: [process.execPath, cli, '--version'],
    reference: { label: 'node -e 0', argv: [process.execPath, '-e', '0'] },
    runs: 30,
  },
  {
    name: 'run-true',
    subject: [process.execPath, cli, 'run', '--rm', '--', '/bin/true'],
    reference: which('bwrap')
      ? {
          label: 'bwrap --unshare-all (no rootfs build)',
          argv: [
            'bwrap',
            '--unshare-all',
            '--ro-bind',
            '/',
            '/',
            '--proc',
            '/proc',
            '--dev',
            '/dev',
            '/bin/true',
          ],
        }
      : undefined,
    runs: 10,
  },
];

if (!existsSync(cli)) throw new Error('dist/igloo.mjs is missing: run npm run build');
const only = process.argv.slice(2);
console.log('case         igloo median   reference median   ratio   reference');
for (const c of cases.filter((c) => only.length === 0 || only.includes(c.name))) {
  const subject = median(timeRuns(c.subject, c.runs));
  if (!c.reference) {
    console.log(
      `${c.name.padEnd(12)} ${subject.toFixed(1).padStart(9)} ms   ${'-'.padStart(13)}      -     (no reference tool installed)`,
    );
    continue;
  }
  const reference = median(timeRuns(c.reference.argv, c.runs));
  console.log(
    `${c.name.padEnd(12)} ${subject.toFixed(1).padStart(9)} ms   ${reference.toFixed(1).padStart(13)} ms   ${(subject / reference).toFixed(2).padStart(5)}x  ${c.reference.label}`,
  );
}
