/**
 * Fuzzing applyLayer(), the reader of untrusted image layers: hostile
 * archives (links out of the root, "..", whiteouts, devices, broken headers,
 * truncation) are applied to a real directory, and the result is an
 * IglooError or a tree with nothing written outside the rootfs.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import { IglooError } from '../core/errors.ts';
import { applyLayer } from './layers.ts';
import { params } from '../../test/support/fuzz.ts';
import { makeTar } from '../../test/support/oci.ts';

const base = mkdtempSync(join(tmpdir(), 'igloo-layer-fuzz-'));
after(() => rmSync(base, { recursive: true, force: true }));

const segment = fc.constantFrom('a', 'b', 'link', '..', '.', '', 'etc', '.wh.a', '.wh..wh..opq');
const entry = fc.record({
  path: fc.array(segment, { minLength: 1, maxLength: 4 }).map((s) => s.join('/')),
  type: fc.constantFrom('file', 'file', 'dir', 'symlink', 'link', 'fifo', 'char') as fc.Arbitrary<
    'file' | 'dir' | 'symlink' | 'link' | 'fifo' | 'char'
  >,
  linkpath: fc.constantFrom(
    '/',
    '..',
    '../../..',
    '/etc',
    'a',
    '../../../outside',
    '/proc/self/root',
    'link/a',
  ),
  data: fc.uint8Array({ maxLength: 700 }).map((a) => Buffer.from(a)),
  mode: fc.constantFrom(0o644, 0o4755, 0o777, 0o7777, 0),
  uid: fc.constantFrom(0, 1000, 65534),
  xattrs: fc.option(
    fc.dictionary(
      fc.constantFrom('user.x', 'security.capability', 'trusted.overlay.opaque', 'user.overlay.x'),
      fc.uint8Array({ maxLength: 24 }).map((a) => Buffer.from(a)),
      { maxKeys: 2 },
    ),
    { nil: undefined },
  ),
});
const layer = fc
  .tuple(
    fc.array(entry, { minLength: 1, maxLength: 6 }),
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
    fc.option(fc.nat(), { freq: 4 }),
  )
  .map(([entries, edits, cut]) => {
    const b = Buffer.from(makeTar(entries));
    for (const [at, v] of edits) b[at % b.length] = v;
    return cut === null ? b : b.subarray(0, cut % (b.length + 1));
  });

let n = 0;
const outcomes = { applied: 0, refused: 0 };
describe('image layer fuzzing', () => {
  test('a hostile layer is applied inside the rootfs or refused with an IglooError', async () => {
    await fc.assert(
      fc.asyncProperty(layer, async (bytes) => {
        const dir = join(base, String(n++));
        const root = join(dir, 'rootfs');
        mkdirSync(root, { recursive: true });
        writeFileSync(join(dir, 'layer.tar'), bytes);
        try {
          await applyLayer(root, join(dir, 'layer.tar'));
          outcomes.applied++;
        } catch (err) {
          outcomes.refused++;
          assert.ok(err instanceof IglooError, `not an IglooError: ${String(err)}`);
          // names the layer, or for an xattr the kernel refuses, the rootfs and file
          assert.ok(err.message.includes('layer.tar') || err.message.includes(root), err.message);
        }
        assert.deepEqual(readdirSync(dir).sort(), ['layer.tar', 'rootfs'], 'written outside');
        assert.deepEqual(
          readdirSync(base).sort(),
          readdirSync(base)
            .filter((d) => /^\d+$/.test(d))
            .sort(),
        );
        rmSync(dir, { recursive: true, force: true });
      }),
      params(100),
    );
    // the archives are neither all good nor all broken
    assert.ok(outcomes.applied > 0 && outcomes.refused > 0, JSON.stringify(outcomes));
  });
});
