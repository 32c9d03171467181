/**
 * The shape of the tree, checked so it stays true: the TypeScript import
 * graph has no circle, no module imports a layer above its own, and the
 * README's Layout and the docs name only files that exist (and every source
 * directory is in the Layout). The C side has its own check
 * (test/integration/native-tree.test.ts, which needs a compiler).
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, test } from 'node:test';

const root = resolve(import.meta.dirname, '..');
const src = join(root, 'src');

/** Layers from the bottom: a module may import its own layer and those below. */
const LAYERS = ['core', 'host', 'native', 'lifecycle', 'inspect', 'cli'] as const;
function layerOf(file: string): number {
  const top = relative(src, file).split('/')[0] ?? '';
  // The API and igloo serve are front ends like the CLI: the top of the graph.
  const layer =
    top === 'api' || top === 'serve' ? LAYERS.indexOf('cli') : LAYERS.indexOf(top as never);
  assert.notEqual(
    layer,
    -1,
    `${relative(root, file)}: not in a known layer (${LAYERS.join(', ')}, api)`,
  );
  return layer;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (entry.endsWith('.ts') && !entry.endsWith('.test.ts')) out.push(path);
  }
  return out.sort();
}

/** Relative imports of a module (static and dynamic, types included), resolved to files. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [
    ...text.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+'(\.[^']+)'/gms),
    ...text.matchAll(/import\(\s*'(\.[^']+)'\s*\)/g),
  ].map((m) => m[1] as string);
  return specs.map((spec) => resolve(dirname(file), spec));
}

const files = sourceFiles(src);
const graph = new Map(files.map((f) => [f, importsOf(f)]));

/** Every strongly connected component with more than one module (Tarjan). */
function circles(): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(relative(root, w));
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(scc.sort());
    }
  };
  for (const f of files) if (!index.has(f)) visit(f);
  return found;
}

describe('the TypeScript import graph', () => {
  test('every relative import names an existing file', () => {
    const missing = [...graph].flatMap(([f, deps]) =>
      deps.filter((d) => !existsSync(d)).map((d) => `${relative(root, f)} -> ${relative(root, d)}`),
    );
    assert.deepEqual(missing, []);
  });

  test('has no circle', () => {
    assert.deepEqual(circles(), []);
  });

  test('no module imports a layer above its own', () => {
    const upward = [...graph].flatMap(([f, deps]) =>
      deps
        .filter((d) => layerOf(d) > layerOf(f))
        .map((d) => `${relative(root, f)} -> ${relative(root, d)}`),
    );
    assert.deepEqual(upward, []);
  });
});

/** The `src/...` and `test/...` paths a document names (in backquotes or a layout block). */
function namedPaths(text: string): string[] {
  const paths = new Set<string>();
  for (const m of text.matchAll(/(?<![\w./-])((?:src|test|bench|scripts|docs)\/[\w./-]*[\w/])/g)) {
    const path = (m[1] as string).replace(/\/$/, '');
    // Globs and placeholders are not paths; bench/results is output (gitignored).
    if (!/[*{}]|\bNAME\b|\bX\b|^bench\/results/.test(path)) paths.add(path);
  }
  return [...paths].sort();
}

describe('the docs name the tree as it is', () => {
  const docs = [
    'README.md',
    'src/native/PROTOCOL.md',
    // docs/api is generated from the declarations (npm run docs:api): not hand-written.
    ...readdirSync(join(root, 'docs'))
      .filter((d) => d.endsWith('.md'))
      .map((d) => `docs/${d}`),
  ];
  for (const doc of docs) {
    test(`${doc} names only files that exist`, () => {
      const text = readFileSync(join(root, doc), 'utf8');
      const missing = namedPaths(text).filter((p) => !existsSync(join(root, p)));
      assert.deepEqual(missing, [], `${doc} names paths that are not in the tree`);
    });
  }

  test("the README's Layout names every source directory", () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const layout = /## Layout\n[^#]*?```\n([\s\S]*?)```/.exec(readme)?.[1];
    assert.ok(layout, 'README.md has a "## Layout" section with a code block');
    const named = new Set(namedPaths(layout));
    const dirs = (dir: string): string[] =>
      readdirSync(dir)
        .filter((e) => statSync(join(dir, e)).isDirectory() && !e.startsWith('_'))
        .flatMap((e) => [join(dir, e), ...dirs(join(dir, e))]);
    const unnamed = dirs(src)
      .map((d) => relative(root, d))
      .filter((d) => !named.has(d));
    assert.deepEqual(unnamed, [], 'directories missing from the README Layout');
  });
});
