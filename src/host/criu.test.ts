import assert from 'node:assert/strict';
import { test } from 'node:test';
import { criuEnv, criuMinimum } from './criu.ts';

test('criuMinimum: 4.1 from kernel 6.13, 4.2 from 6.16', () => {
  assert.equal(criuMinimum('6.1.0-28-amd64').minor, 1);
  assert.equal(criuMinimum('6.13.0').minor, 1);
  assert.equal(criuMinimum('6.15.9-arch1').minor, 1);
  assert.equal(criuMinimum('6.16.0').minor, 2);
  assert.equal(criuMinimum('6.18.44-fc').minor, 2);
  assert.equal(criuMinimum('7.0.1').minor, 2);
  assert.match(criuMinimum('6.18.44').why, /6\.16.*4\.2/);
});

test('criuEnv: no breakpoints unless IGLOO_CRIU_BREAKPOINTS=1', () => {
  assert.equal(criuEnv({ PATH: '/bin' }).CRIU_FAULT, '130');
  assert.equal(criuEnv({ IGLOO_CRIU_BREAKPOINTS: '1' }).CRIU_FAULT, undefined);
});
