import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatConfig, parseConfig } from '../core/config/file.ts';
import { throwsIgloo } from '../../test/support/errors.ts';
import { checkNewConfig, FIXED_KEYS, valuesOf, withValue } from './config-edit.ts';

const base = parseConfig(
  [
    'igloo.name = web',
    'igloo.rootfs = /d/containers/web/rootfs',
    'igloo.idmap = b 0 2000000 65536',
    'igloo.env = A=1',
    'igloo.env = B=2',
  ].join('\n'),
);

test('withValue() replaces every value of a key, or drops it for its default', () => {
  const one = checkNewConfig(base, withValue(base, 'igloo.env', 'C=3'), 'x', 'web');
  assert.deepEqual(one.env, ['C=3']);
  const back = checkNewConfig(base, withValue(base, 'igloo.env', ''), 'x', 'web');
  assert.ok(
    back.env.some((e) => e.startsWith('PATH=')),
    'the default environment',
  );
  const auto = checkNewConfig(base, withValue(base, 'igloo.autostart', 'yes'), 'x', 'web');
  assert.equal(auto.autostart, true);
  assert.deepEqual(valuesOf(auto, 'igloo.autostart'), ['true']);
  assert.deepEqual(valuesOf(base, 'igloo.autostart'), []);
  assert.deepEqual(valuesOf(base, 'igloo.env'), ['A=1', 'B=2']);
});

test('checkNewConfig() refuses bad values and changes of the fixed keys', () => {
  throwsIgloo(
    () => checkNewConfig(base, withValue(base, 'igloo.hostname', '-x-'), 'x', 'web'),
    'EINVAL',
  );
  throwsIgloo(
    () => checkNewConfig(base, withValue(base, 'igloo.autostart', 'maybe'), 'x', 'web'),
    'EPARSE',
  );
  throwsIgloo(() => checkNewConfig(base, 'igloo.nope = 1\n', 'x', 'web'), 'EPARSE');
  for (const [key, value] of [
    ['igloo.name', 'other'],
    ['igloo.rootfs', '/elsewhere'],
    ['igloo.idmap', 'b 0 3000000 65536'],
    ['igloo.nesting', 'true'],
  ] as const) {
    assert.ok(FIXED_KEYS.includes(key));
    const err = throwsIgloo(
      () => checkNewConfig(base, withValue(base, key, value), 'x', 'web'),
      'EINVAL',
    );
    assert.match(err.message, new RegExp(`Cannot change ${key.replace('.', '\\.')}`));
  }
  // the unchanged text passes
  assert.deepEqual(checkNewConfig(base, formatConfig(base), 'x', 'web'), base);
  throwsIgloo(() => valuesOf(base, 'igloo.nope'), 'EINVAL');
});
