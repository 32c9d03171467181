/**
 * igloo autostart as a real user: the containers marked igloo.autostart
 * (create --autostart, or config set) are started, each reported; an
 * unmarked one is left alone, a running one is said to be running, and one
 * that cannot start is reported without stopping the others (exit 1).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  Cleanup,
  assertRangeFree,
  createUser,
  delegate,
  requireRoot,
  stagedCli,
  type TestUser,
} from '../support/host.ts';
import { asUser } from '../support/as-user.ts';

const cleanup = new Cleanup();
const RANGE = 63_000_000;
let user: TestUser;

const { run, ok, destroyLater } = asUser(cleanup, () => user);
async function create(name: string, extra: string[] = []) {
  destroyLater(name);
  await ok(['create', name, ...extra]);
}
const stateOf = async (name: string) =>
  (JSON.parse((await ok(['info', name, '--json'])).stdout) as { state: { status: string } }).state
    .status;

before(async () => {
  requireRoot();
  assertRangeFree(RANGE, 1_000_000);
  user = createUser(cleanup, 'igloo-auto');
  await delegate(user, RANGE, 1_000_000);
  stagedCli(cleanup);
});
after(() => cleanup.run());

describe('igloo autostart', () => {
  test('with nothing marked it says so', async () => {
    const r = await ok(['autostart']);
    assert.match(r.stdout, /No container is marked igloo.autostart/);
  });

  test('starts the marked containers, reports each, and goes on past a failure', async () => {
    await create('au1', ['--autostart']);
    await create('au2');
    await create('au3');
    await ok(['config', 'au3', 'set', 'igloo.autostart=true']);
    await create('au4', ['--autostart']);
    await ok(['config', 'au4', 'set', 'igloo.init=/no/such/init']);
    assert.equal((await ok(['config', 'au1', 'get', 'igloo.autostart'])).stdout, 'true\n');

    const r = await run(['autostart']);
    assert.equal(r.status, 1, 'a container failed to start');
    assert.match(r.stdout, /^au1: started \(init is pid \d+\)$/m);
    assert.match(r.stdout, /^au3: started \(init is pid \d+\)$/m);
    assert.match(r.stderr, /^au4: failed: .*\/no\/such\/init/m);
    assert.doesNotMatch(r.stdout + r.stderr, /au2/);
    assert.equal(await stateOf('au1'), 'running');
    assert.equal(await stateOf('au2'), 'created');
    assert.equal(await stateOf('au3'), 'running');
    assert.notEqual(await stateOf('au4'), 'running');
    const inside = await ok(['exec', 'au1', '--', 'cat', '/proc/1/comm']);
    assert.equal(inside.stdout.trim(), 'init');

    await ok(['config', 'au4', 'set', 'igloo.autostart=false']);
    const again = await run(['autostart', '--json']);
    assert.equal(again.status, 0, again.stderr);
    const results = (
      JSON.parse(again.stdout) as { results: Array<{ name: string; result: string }> }
    ).results;
    assert.deepEqual(
      results.map((x) => [x.name, x.result]),
      [
        ['au1', 'running'],
        ['au3', 'running'],
      ],
    );
    for (const name of ['au1', 'au3']) await ok(['stop', name, '--timeout', '5']);
  });
});
