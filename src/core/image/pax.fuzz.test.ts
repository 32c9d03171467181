/**
 * Fuzzing the pax xattr reader of image layers (core/image/pax.ts): it reads
 * the raw bytes of an untrusted layer, so any bytes, cut anywhere, must
 * neither throw nor depend on how the stream was chunked, and a good
 * archive's xattrs come back exactly.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { PaxXattrScanner, parsePaxRecords } from './pax.ts';
import { params } from '../../../test/support/fuzz.ts';
import { makeTar, paxRecord } from '../../../test/support/oci.ts';

const xattr = fc.tuple(
  fc.oneof(
    fc.constantFrom('user.a', 'security.capability', 'trusted.x'),
    fc
      .string({ minLength: 1, maxLength: 12 })
      .filter((k) => !k.includes('='))
      // never integer-like: an object's integer keys come first, whatever the order
      .map((k) => `user.${k}`),
  ),
  fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)),
);
const entry = fc.record({
  path: fc.stringMatching(/^[a-z0-9_./-]{1,60}$/),
  data: fc.uint8Array({ maxLength: 1500 }).map((a) => Buffer.from(a)),
  xattrs: fc.uniqueArray(xattr, { maxLength: 3, selector: ([k]) => k }),
});
type Entry = typeof entry extends fc.Arbitrary<infer T> ? T : never;

function tarOf(entries: readonly Entry[]): Buffer {
  return makeTar(
    entries.map((e) => ({
      path: e.path,
      data: e.data,
      ...(e.xattrs.length && { xattrs: Object.fromEntries(e.xattrs) }),
    })),
  );
}

function scan(bytes: Buffer, cuts: readonly number[]) {
  const s = new PaxXattrScanner();
  let pos = 0;
  for (const c of [...cuts].sort((a, b) => a - b)) {
    const at = c % (bytes.length + 1);
    if (at < pos) continue;
    s.push(bytes.subarray(pos, at));
    pos = at;
  }
  s.push(bytes.subarray(pos));
  return s.found;
}

/** Flips, truncates or overwrites some bytes of a good archive. */
const broken = fc
  .tuple(
    fc.array(entry, { minLength: 1, maxLength: 4 }),
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 12 }),
    fc.option(fc.nat()),
  )
  .map(([entries, edits, cut]) => {
    const b = Buffer.from(tarOf(entries));
    for (const [at, v] of edits) b[at % b.length] = v;
    return cut === null ? b : b.subarray(0, cut % (b.length + 1));
  });

describe('pax xattr fuzzing', () => {
  test('a good archive gives back its xattrs, however the stream is chunked', () => {
    fc.assert(
      fc.property(
        fc.array(entry, { maxLength: 5 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        (entries, cuts) => {
          const found = scan(tarOf(entries), cuts);
          const expected = entries
            .filter((e) => e.xattrs.length)
            .map((e) => ({ path: e.path, xattrs: e.xattrs.map(([k, v]) => [k, v]) }));
          assert.deepEqual(found, expected);
        },
      ),
      params(300),
    );
  });

  test('broken archives never throw, and chunking does not change the result', () => {
    fc.assert(
      fc.property(broken, fc.array(fc.nat(), { maxLength: 6 }), (bytes, cuts) => {
        assert.deepEqual(scan(bytes, cuts), scan(bytes, []));
      }),
      params(300),
    );
  });

  test('pax records: any bytes parse to subranges, records round-trip', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (a) => {
        for (const [k, v] of parsePaxRecords(Buffer.from(a))) {
          assert.equal(typeof k, 'string');
          assert.ok(v.length <= a.length);
        }
      }),
      params(500),
    );
    fc.assert(
      fc.property(fc.array(xattr, { maxLength: 5 }), (xs) => {
        const data = Buffer.concat(xs.map(([k, v]) => paxRecord(k, v)));
        assert.deepEqual(
          parsePaxRecords(data),
          xs.map(([k, v]) => [k, v]),
        );
      }),
      params(300),
    );
  });
});
