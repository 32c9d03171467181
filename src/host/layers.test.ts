import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { resolveInRoot } from './layers.ts';

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
