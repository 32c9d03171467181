/**
 * Shapes the CLI tests of image pull, snapshots and copy share: their test
 * user with a block of ids, a command that must succeed (its stdout), and a
 * list of bad inputs each of which must fail with its message and hint and
 * leave a listing unchanged.
 */
import assert from 'node:assert/strict';
import {
  assertRangeFree,
  createUser,
  delegate,
  igloo,
  requireRoot,
  stagedCli,
  type Cleanup,
  type TestUser,
} from './host.ts';

/** As root: the built CLI staged, and user NAME with the free block START..START+999999. */
export async function userWithBlock(
  cleanup: Cleanup,
  name: string,
  start: number,
): Promise<TestUser> {
  requireRoot();
  stagedCli(cleanup);
  assertRangeFree(start, 1_000_000);
  const user = createUser(cleanup, name);
  await delegate(user, start, 1_000_000);
  return user;
}

/** Runs igloo ARGS as WHO and fails the test unless it succeeds; returns its stdout. */
export async function iglooOk(
  cleanup: Cleanup,
  who: TestUser | 'root',
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<string> {
  const r = await igloo(cleanup, who, args, { env });
  assert.equal(r.status, 0, `igloo ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** [args, message, hint]: the command, what its error must say, and what it must advise. */
export type Refusal = readonly [readonly string[], RegExp, RegExp];

/** Each refusal fails (status 1, or 2 for bad input), with its message and hint, and LISTING is as before. */
export async function expectRefusals(
  cleanup: Cleanup,
  who: TestUser | 'root',
  refusals: readonly Refusal[],
  listing: () => unknown,
): Promise<void> {
  const before = listing();
  for (const [args, message, hint] of refusals) {
    const r = await igloo(cleanup, who, args);
    const what = args.join(' ');
    // 1: refused; 2: bad input (an invalid name or reference)
    assert.ok(r.status === 1 || r.status === 2, `${what}: status ${r.status}: ${r.stderr}`);
    assert.match(r.stderr, message, what);
    assert.match(r.stderr, hint, what);
    assert.deepEqual(listing(), before, `${what} changed nothing`);
  }
}
