import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { resolveInRoot, shiftCapability } from './layers.ts';

const root = mkdtempSync(join(tmpdir(), 'igloo-resolve-'));
after(() => rmSync(root, { recursive: true, force: true }));
mkdirSync(join(root, 'usr/bin'), { recursive: true });
symlinkSync('usr/bin', join(root, 'bin'));
symlinkSync('/etc', join(root, 'abs'));
symlinkSync('../../../../..', join(root, 'up'));
symlinkSync('loop2', join(root, 'loop1'));
symlinkSync('loop1', join(root, 'loop2'));

test('resolveInRoot() follows symlinks as if the root were "/"', () => {
  assert.equal(resolveInRoot(root, 'bin/sh'), join(root, 'usr/bin/sh'));
  assert.equal(
    resolveInRoot(root, 'abs/passwd'),
    join(root, 'etc/passwd'),
    'an absolute link restarts at the root',
  );
  assert.equal(
    resolveInRoot(root, 'up/etc/shadow'),
    join(root, 'etc/shadow'),
    '".." stops at the root',
  );
  assert.equal(resolveInRoot(root, '../../x'), join(root, 'x'));
  assert.equal(
    resolveInRoot(root, 'bin'),
    join(root, 'bin'),
    'the last component is not followed by default',
  );
  assert.equal(resolveInRoot(root, 'bin', true), join(root, 'usr/bin'));
  assert.throws(() => resolveInRoot(root, 'loop1/x'), /too many symlinks/);
});

test("shiftCapability(): a layer's capability becomes a v3 one of the shifted root", () => {
  const shift = { base: 0x7fff0000, span: 65536 };
  // v2, cap_net_raw permitted, effective flag
  const v2 = Buffer.from('0100000200200000000000000000000000000000', 'hex');
  const out = shiftCapability(v2, shift)!;
  assert.equal(out.length, 24);
  assert.equal(out.readUInt32LE(0), 0x03000001, 'revision 3, effective kept');
  assert.deepEqual(out.subarray(4, 20), v2.subarray(4, 20), 'the sets are unchanged');
  assert.equal(out.readUInt32LE(20), 0x7fff0000);
  // v3 for the image's id 1000 as root of a nested namespace: moved with the ids
  const v3 = Buffer.concat([
    Buffer.from('0000000300200000000000000000000000000000', 'hex'),
    Buffer.alloc(4),
  ]);
  v3.writeUInt32LE(1000, 20);
  assert.equal(shiftCapability(v3, shift)!.readUInt32LE(20), 0x7fff0000 + 1000);
  // a rootid outside the image's ids, a wrong length or revision: refused
  v3.writeUInt32LE(70000, 20);
  assert.equal(shiftCapability(v3, shift), undefined);
  assert.equal(shiftCapability(v2.subarray(0, 12), shift), undefined);
  assert.equal(
    shiftCapability(Buffer.concat([v2.subarray(0, 20), Buffer.alloc(4)]), shift),
    undefined,
  );
  const v1 = Buffer.from(v2);
  v1.writeUInt32LE(0x01000000, 0);
  assert.equal(shiftCapability(v1, shift), undefined);
});
