// Runs the test suite with node's built-in runner in one invocation, so CI reads
// one summary. Unit tests (src/**/*.test.ts) need nothing; integration tests
// (test/integration/*.test.ts) need root and the built dist/ (npm test builds).
//   node scripts/test.mjs            all tests
//   node scripts/test.mjs --unit     unit tests only
//   node scripts/test.mjs FILE...    the given files
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
function find(dir, pattern) {
  const out = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...find(path, pattern));
    else if (pattern.test(entry)) out.push(relative(root, path));
  }
  return out.sort();
}

const args = process.argv.slice(2);
const unitOnly = args.includes('--unit');
const named = args.filter((a) => !a.startsWith('--'));
const files = named.length
  ? named
  : [
      ...find(join(root, 'src'), /\.test\.ts$/),
      ...(unitOnly ? [] : find(join(root, 'test'), /\.test\.ts$/)),
    ];
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-concurrency=1', ...files],
  { cwd: root, stdio: 'inherit' },
);
process.exit(result.status ?? 1);
