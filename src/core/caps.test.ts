import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  CAPABILITIES,
  CAP_LAST,
  DEFAULT_CAP_DROP,
  boundingSet,
  capMaskHex,
  capName,
  capNumber,
  capsFromHex,
  extraCaps,
} from './caps.ts';

describe('capabilities', () => {
  test('names and numbers of linux/capability.h', () => {
    assert.equal(CAP_LAST, 40);
    assert.equal(capNumber('chown'), 0);
    assert.equal(capNumber('sys_module'), 16);
    assert.equal(capNumber('sys_admin'), 21);
    assert.equal(capNumber('audit_control'), 30);
    assert.equal(capNumber('mac_admin'), 33);
    assert.equal(capNumber('bpf'), 39);
    assert.equal(capNumber('checkpoint_restore'), 40);
    assert.equal(capName('CAP_SYS_TIME'), 'sys_time');
    assert.equal(capName('Sys_Time'), 'sys_time');
    assert.equal(capName('cap_nope'), undefined);
    assert.throws(() => capNumber('nope'));
  });

  test("the default bounding set drops LXC's list and more, keeps sys_admin and sys_boot", () => {
    const set = boundingSet({ keep: [], drop: [] });
    for (const c of ['sys_module', 'sys_rawio', 'mac_admin', 'mac_override', 'sys_time'])
      assert.ok(!set.includes(c), c);
    for (const c of ['sys_admin', 'sys_boot', 'setuid', 'net_admin', 'mknod'])
      assert.ok(set.includes(c), c);
    assert.equal(set.length, CAPABILITIES.length - DEFAULT_CAP_DROP.length);
    // what /proc/PID/status CapBnd shows for a default container on this kernel
    assert.equal(capMaskHex(set), '100bdfcffff');
    assert.deepEqual(capsFromHex('00000100bdfcffff'), set);
  });

  test('keep restores a default drop, drop removes more; extraCaps names what was restored', () => {
    const caps = { keep: ['sys_time'], drop: ['net_raw'] };
    const set = boundingSet(caps);
    assert.ok(set.includes('sys_time'));
    assert.ok(!set.includes('net_raw'));
    assert.deepEqual(extraCaps(caps), ['sys_time']);
    assert.deepEqual(extraCaps({ keep: ['sys_time'], drop: ['sys_time'] }), [], 'drop wins');
    assert.deepEqual(extraCaps({ keep: ['chown'], drop: [] }), [], 'chown is kept anyway');
  });
});
