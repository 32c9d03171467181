import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { makeTar } from '../../../test/support/oci.ts';
import { PaxXattrScanner, parsePaxRecords, xattrAllowed } from './pax.ts';

// A v2 file capability: cap_net_raw (bit 13) permitted, effective flag set.
const CAP = Buffer.from('0100000200200000000000000000000000000000', 'hex');

describe('PaxXattrScanner', () => {
  const tar = makeTar([
    { path: 'bin/', type: 'dir' },
    { path: 'bin/ping', data: 'x'.repeat(700), xattrs: { 'security.capability': CAP } },
    { path: 'etc/plain', data: 'no xattrs' },
    {
      path: `${'deep/'.repeat(30)}file`.slice(0, 99),
      data: '',
      xattrs: { 'user.test': 'hello', 'user.other': Buffer.from([0, 1, 10, 255]) },
    },
  ]);
  test('collects binary values per entry, whole or fed in odd-sized chunks', () => {
    for (const step of [tar.length, 1, 7, 511, 513]) {
      const s = new PaxXattrScanner();
      for (let i = 0; i < tar.length; i += step) s.push(tar.subarray(i, i + step));
      assert.deepEqual(
        s.found.map((f) => f.path),
        ['bin/ping', `${'deep/'.repeat(30)}file`.slice(0, 99)],
        `chunks of ${step}`,
      );
      assert.deepEqual(s.found[0]!.xattrs, [['security.capability', CAP]]);
      assert.deepEqual(s.found[1]!.xattrs, [
        ['user.test', Buffer.from('hello')],
        ['user.other', Buffer.from([0, 1, 10, 255])],
      ]);
    }
  });
  test('a pax path record names the entry', () => {
    const rec = (k: string, v: string) => {
      const body = ` ${k}=${v}\n`;
      let len = body.length + 1;
      while (String(len).length + body.length !== len) len = String(len).length + body.length;
      return `${len}${body}`;
    };
    assert.deepEqual(
      parsePaxRecords(Buffer.from(rec('path', 'a/b') + rec('SCHILY.xattr.user.x', 'y=z'))),
      [
        ['path', Buffer.from('a/b')],
        ['SCHILY.xattr.user.x', Buffer.from('y=z')],
      ],
    );
  });
  test('only user.* and file capabilities are applied', () => {
    assert.ok(xattrAllowed('user.test'));
    assert.ok(xattrAllowed('security.capability'));
    assert.ok(!xattrAllowed('security.selinux'));
    assert.ok(!xattrAllowed('trusted.overlay.opaque'));
  });
});
