import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IglooError } from '../core/errors.ts';
import { parseListen } from './server.ts';

test('--listen: [HOST:]PORT, loopback when no host is named; anything else is refused', () => {
  assert.deepEqual(parseListen('8080'), { host: '127.0.0.1', port: 8080 });
  assert.deepEqual(parseListen('0'), { host: '127.0.0.1', port: 0 });
  assert.deepEqual(parseListen('localhost:80'), { host: 'localhost', port: 80 });
  assert.deepEqual(parseListen('[::1]:8080'), { host: '::1', port: 8080 });
  assert.deepEqual(parseListen('0.0.0.0:80'), { host: '0.0.0.0', port: 80 });
  for (const bad of ['', 'nope', '70000', ':80', '127.0.0.1:', 'a b:80', '[::1]', 'http://x:80'])
    assert.throws(
      () => parseListen(bad),
      (err: unknown) =>
        err instanceof IglooError && err.code === 'EINVAL' && err.hint !== undefined,
      bad,
    );
});
