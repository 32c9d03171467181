/**
 * Test helper for unit tests (not part of the API): assert that a
 * call throws an IglooError with the given code and a message naming the
 * given fragments.
 */
import assert from 'node:assert/strict';
import { IglooError } from '../../src/core/errors.ts';
import type { ErrorCode } from '../../src/core/errors.ts';

export function throwsIgloo(
  fn: () => unknown,
  code: ErrorCode,
  ...fragments: (string | RegExp)[]
): IglooError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught !== undefined, `expected an IglooError ${code}, nothing was thrown`);
  assert.ok(caught instanceof IglooError, `expected an IglooError, got ${String(caught)}`);
  assert.equal(caught.code, code, `wrong code for: ${caught.message}`);
  for (const f of fragments) {
    if (typeof f === 'string')
      assert.ok(
        caught.message.includes(f),
        `${JSON.stringify(caught.message)} lacks ${JSON.stringify(f)}`,
      );
    else assert.match(caught.message, f);
  }
  assert.ok(!caught.message.endsWith('.'), `message ends with a period: ${caught.message}`);
  assert.match(caught.message, /^[A-Z]/, 'message starts with a capital');
  return caught;
}
