import assert from 'node:assert/strict';
import { test } from 'node:test';
import { archiveMember } from './archive.ts';

test('the members export writes are recognised', () => {
  assert.deepEqual(archiveMember('igloo-export.json'), { kind: 'manifest' });
  assert.deepEqual(archiveMember('./config'), { kind: 'config' });
  assert.deepEqual(archiveMember('rootfs/'), { kind: 'rootfs', path: '' });
  assert.deepEqual(archiveMember('rootfs/etc/passwd'), { kind: 'rootfs', path: 'etc/passwd' });
  assert.deepEqual(archiveMember('checkpoint/'), { kind: 'checkpoint-dir' });
  assert.deepEqual(archiveMember('checkpoint/pages-1.img'), {
    kind: 'checkpoint',
    name: 'pages-1.img',
  });
});

test('absolute names, "..", NULs, nested checkpoint paths and strangers are refused', () => {
  for (const name of [
    '/etc/shadow',
    'rootfs/../../etc/shadow',
    '../x',
    'rootfs/a/../../b',
    'checkpoint/sub/core-1.img',
    'checkpoint/.hidden',
    'config/x',
    'igloo-export.json/x',
    'something-else',
    'rootfs/a\0b',
  ]) {
    assert.equal(archiveMember(name).kind, 'refuse', name);
  }
});
