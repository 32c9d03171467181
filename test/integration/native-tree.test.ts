/**
 * The C helper's files form a tree: no file uses, directly or through
 * others, a symbol of a file that uses one of its own (src/native/helper.h
 * draws it). Each .c is compiled on its own with the Makefile's flags, `nm`
 * says what it defines and what it needs, and "A uses a symbol B defines"
 * is an edge A -> B; a cycle fails the test and is printed.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, test } from 'node:test';
import { root } from '../support/host.ts';

const native = join(root, 'src/native');
const work = mkdtempSync(join(tmpdir(), 'igloo-native-tree-'));
after(() => rmSync(work, { recursive: true, force: true }));

const make = (target: string) =>
  execFileSync('make', ['-s', '--no-print-directory', '-C', native, target], {
    encoding: 'utf8',
  }).trim();

const run = promisify(execFile);

/** Global symbols FILE.o defines and those it leaves undefined. */
async function symbols(
  file: string,
  cflags: string[],
): Promise<{ defines: string[]; uses: string[] }> {
  const object = join(work, file.replace(/\.c$/, '.o'));
  await run('cc', [...cflags, '-c', '-o', object, join(native, file)]);
  const defines: string[] = [];
  const uses: string[] = [];
  const { stdout } = await run('nm', ['-P', '-g', object], { encoding: 'utf8' });
  for (const line of stdout.split('\n')) {
    const [name, type] = line.split(' ');
    if (!name || !type) continue;
    if (type === 'U') uses.push(name);
    else defines.push(name);
  }
  return { defines, uses };
}

/** A cycle of GRAPH as [a, b, ..., a], or undefined. */
function findCycle(graph: Map<string, Set<string>>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (node: string): string[] | undefined => {
    state.set(node, 'open');
    path.push(node);
    for (const next of [...(graph.get(node) ?? [])].sort()) {
      if (state.get(next) === 'open') return [...path.slice(path.indexOf(next)), next];
      if (!state.has(next)) {
        const cycle = visit(next);
        if (cycle) return cycle;
      }
    }
    path.pop();
    state.set(node, 'done');
    return undefined;
  };
  for (const node of [...graph.keys()].sort()) {
    if (state.has(node)) continue;
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return undefined;
}

test('the C files call each other in a tree, with no circle', async () => {
  const cflags = make('print-cflags')
    .split(/\s+/)
    .filter((f) => f !== '-static');
  const sources = make('print-srcs').split(/\s+/).sort();
  const present = readdirSync(native)
    .filter((f) => f.endsWith('.c'))
    .sort();
  assert.deepEqual(sources, present, 'the Makefile builds every .c of src/native');

  const files = new Map(
    await Promise.all(sources.map(async (f) => [f, await symbols(f, cflags)] as const)),
  );
  const definedBy = new Map<string, string>();
  for (const [file, { defines }] of files) {
    for (const name of defines) {
      assert.ok(!definedBy.has(name), `${name} is defined in ${definedBy.get(name)} and ${file}`);
      definedBy.set(name, file);
    }
  }
  const graph = new Map<string, Set<string>>();
  const why = new Map<string, string>();
  for (const [file, { uses }] of files) {
    const edges = new Set<string>();
    for (const name of uses) {
      const to = definedBy.get(name);
      if (!to || to === file) continue; // the C library's, or its own
      edges.add(to);
      if (!why.has(`${file} ${to}`)) why.set(`${file} ${to}`, name);
    }
    graph.set(file, edges);
  }
  assert.ok(graph.get('main.c')?.size, 'main.c uses the other files (the graph was read)');
  const cycle = findCycle(graph);
  const shown = cycle
    ?.slice(1)
    .map((to, i) => `${cycle[i]} -> ${to} (${why.get(`${cycle[i]} ${to}`)})`)
    .join('\n  ');
  assert.equal(cycle, undefined, `the C files call each other in a circle:\n  ${shown}`);
});
