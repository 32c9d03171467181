import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { IglooError } from '../errors.ts';
import type { IdMaps } from '../idmap/index.ts';
import { decodeUsernsImage, encodeUsernsImage, remapUsernsImage } from './userns-image.ts';

/** userns-15.img as criu 4.1.1 wrote it for a container with map "0 131072 65536". */
const DUMPED = Uint8Array.from(
  (
    '19435654 06494755 18000000 ' +
    '0a0a 0800 1080 8008 1880 8004 ' +
    '120a 0800 1080 8008 1880 8004'
  )
    .replace(/\s/g, '')
    .match(/../g)!
    .map((h) => parseInt(h, 16)),
);
const slice = (outside: number): IdMaps => ({
  uid: [{ inside: 0, outside, count: 65536 }],
  gid: [{ inside: 0, outside, count: 65536 }],
});

describe('CRIU userns image', () => {
  test('decodes the image criu wrote', () => {
    assert.deepEqual(decodeUsernsImage(DUMPED), slice(131072));
  });

  test('encodes exactly what criu writes', () => {
    assert.deepEqual(encodeUsernsImage(slice(131072)), DUMPED);
  });

  test('remaps to another slice', () => {
    const out = remapUsernsImage(DUMPED, slice(131072), slice(2_000_000));
    assert.deepEqual(decodeUsernsImage(out), slice(2_000_000));
  });

  test('refuses an image that does not hold the expected map', () => {
    assert.throws(
      () => remapUsernsImage(DUMPED, slice(200000), slice(2_000_000)),
      (e: unknown) => e instanceof IglooError && e.code === 'ESTATE',
    );
  });

  test('refuses damaged images', () => {
    for (const img of [
      DUMPED.subarray(0, 6),
      DUMPED.subarray(0, 20),
      Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]),
    ]) {
      assert.throws(
        () => decodeUsernsImage(img),
        (e: unknown) => e instanceof IglooError && e.code === 'EINVAL',
      );
    }
  });

  test('round trip of any maps of valid extents', () => {
    const ext = fc
      .record({
        inside: fc.nat({ max: 2 ** 32 - 2 }),
        outside: fc.nat({ max: 2 ** 32 - 2 }),
        count: fc.integer({ min: 1, max: 2 ** 32 - 1 }),
      })
      .map((e) => ({ ...e }));
    fc.assert(
      fc.property(
        fc.array(ext, { minLength: 1, maxLength: 5 }),
        fc.array(ext, { minLength: 1, maxLength: 5 }),
        (uid, gid) => {
          assert.deepEqual(decodeUsernsImage(encodeUsernsImage({ uid, gid })), { uid, gid });
        },
      ),
    );
  });
});
