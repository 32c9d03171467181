/**
 * Fuzzing helpers for the property tests of parsers of untrusted input
 * (*.fuzz.test.ts beside each parser): the run count, the seeds under
 * test/fixtures/fuzz/seeds, and arbitraries that mutate a seed the way a
 * corrupt or hostile file differs from a good one. `npm test` runs a short
 * budget; `npm run fuzz` (FC_NUM_RUNS=N) a longer one.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { IglooError } from '../../src/core/errors.ts';

const seedDir = new URL('../fixtures/fuzz/seeds/', import.meta.url).pathname;

/** Runs per property: FC_NUM_RUNS when set (npm run fuzz), else the short budget. */
export function runs(short: number): number {
  const n = Number(process.env.FC_NUM_RUNS);
  return Number.isInteger(n) && n > 0 ? n : short;
}

/** fc.assert parameters: the run count, and FC_SEED to replay a failure. */
export function params(short: number): fc.Parameters<unknown> {
  const seed = Number(process.env.FC_SEED);
  return { numRuns: runs(short), ...(Number.isInteger(seed) && { seed }) };
}

export function seed(name: string): string {
  return readFileSync(join(seedDir, name), 'utf8');
}

/** Calls FN; anything thrown but an IglooError fails the property. */
export function onlyIglooErrors<T>(fn: () => T): T | IglooError {
  try {
    return fn();
  } catch (err) {
    assert.ok(
      err instanceof IglooError,
      `threw ${err instanceof Error ? `${err.constructor.name}: ${err.stack}` : String(err)}, not an IglooError`,
    );
    assert.ok(err.message.length > 0 && err.op, `an IglooError without message or op: ${err.code}`);
    return err;
  }
}

/** Text that looks like what parsers meet: separators, digits, unicode, control bytes. */
const piece = fc.oneof(
  fc.string({ maxLength: 8 }),
  fc.constantFrom(
    '\n',
    '=',
    ':',
    ' ',
    '\t',
    '#',
    ',',
    '-',
    '/',
    '..',
    '\0',
    '"',
    '[',
    ']',
    '{',
    '}',
    '\r\n',
    '4294967295',
    '4294967296',
    '-1',
    '0',
    '1e9',
    '0x10',
    '\u00e9',
    '\ud83d\ude00',
    '\ud800',
  ),
  fc.integer({ min: -1, max: 2 ** 33 }).map(String),
);

type Mutation = (s: string) => string;

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.tuple(fc.nat(), piece).map(
    ([at, p]): Mutation =>
      (s) =>
        s.slice(0, at % (s.length + 1)) + p + s.slice(at % (s.length + 1)),
  ),
  fc.tuple(fc.nat(), fc.nat({ max: 16 })).map(([at, n]): Mutation => (s) => {
    const i = at % (s.length + 1);
    return s.slice(0, i) + s.slice(i + n);
  }),
  fc.tuple(fc.nat(), fc.nat({ max: 8 }), piece).map(([at, n, p]): Mutation => (s) => {
    const i = at % (s.length + 1);
    return s.slice(0, i) + p + s.slice(i + n);
  }),
  // a line repeated or dropped
  fc.tuple(fc.nat(), fc.boolean()).map(([at, dup]): Mutation => (s) => {
    const lines = s.split('\n');
    const i = at % lines.length;
    if (dup) lines.splice(i, 0, lines[i]!);
    else lines.splice(i, 1);
    return lines.join('\n');
  }),
  // truncated, as a half-written file is
  fc.nat().map(
    (at): Mutation =>
      (s) =>
        s.slice(0, at % (s.length + 1)),
  ),
);

/** One of SEEDS with 0..MAX mutations applied. */
export function mutatedText(seeds: readonly string[], max = 6): fc.Arbitrary<string> {
  return fc
    .tuple(fc.constantFrom(...seeds), fc.array(mutation, { maxLength: max }))
    .map(([s, ms]) => ms.reduce((acc, m) => m(acc), s));
}

/** A JSON value with one of its nodes (or the whole) replaced by anything. */
function replaceNode(v: unknown, path: readonly number[], by: unknown): unknown {
  if (path.length === 0) return by;
  if (Array.isArray(v)) {
    if (v.length === 0) return by;
    const i = path[0]! % v.length;
    return v.map((x, j) => (j === i ? replaceNode(x, path.slice(1), by) : x));
  }
  if (typeof v === 'object' && v !== null) {
    const keys = Object.keys(v);
    if (keys.length === 0) return by;
    const k = keys[path[0]! % keys.length]!;
    return { ...v, [k]: replaceNode((v as Record<string, unknown>)[k], path.slice(1), by) };
  }
  return by;
}

const jsonish = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom(null, '', '..', '/etc/passwd', '../../x', 'sha256:', -1, 1e300, [], {}),
);

/** One of SEEDS (JSON text) with nodes replaced, then maybe its text mutated. */
export function mutatedJson(seeds: readonly string[]): fc.Arbitrary<string> {
  const trees = seeds.map((s) => JSON.parse(s) as unknown);
  const tree = fc
    .tuple(
      fc.constantFrom(...trees),
      fc.array(fc.tuple(fc.array(fc.nat(), { maxLength: 5 }), jsonish), { maxLength: 3 }),
    )
    .map(([t, edits]) =>
      JSON.stringify(edits.reduce((acc, [p, by]) => replaceNode(acc, p, by), t)),
    );
  return fc.oneof(
    tree,
    mutatedText(seeds, 3),
    tree.chain((t) => mutatedText([t], 2)),
  );
}
