/**
 * The rough edges a new user hit (issue 20), as real users: `create
 * --nesting` on the default image is refused with the image to build and
 * makes nothing; after an `igloo run` the one-shot slot's slice is the top
 * of the block, so the first container still gets the block's start; and
 * `igloo ps` as a user shows their own processes and containers (another
 * user's and the kernel's only with --all), while root's view is the host.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  Cleanup,
  assertRangeFree,
  createUser,
  delegate,
  igloo,
  requireRoot,
  stagedCli,
  type TestUser,
} from '../support/host.ts';
import { asUser } from '../support/as-user.ts';

const cleanup = new Cleanup();
const ANNA = 64_000_000;
const ELSA = 65_000_000;
let anna: TestUser;
let elsa: TestUser;

const ok = (u: TestUser | 'root', args: string[]) => asUser(cleanup, () => u).ok(args);
async function createStarted(u: TestUser, name: string): Promise<number> {
  asUser(cleanup, () => u).destroyLater(name);
  await ok(u, ['create', name]);
  await ok(u, ['start', name]);
  const info = JSON.parse((await ok(u, ['info', name, '--json'])).stdout) as {
    state: { pid: number };
  };
  return info.state.pid;
}

interface Row {
  pid: number;
  uid: { host: number };
  container: { kind: string; name: string | null; ownerUid: number | null };
}
const psRows = async (u: TestUser | 'root', extra: string[] = []) =>
  (JSON.parse((await ok(u, ['ps', '--json', ...extra])).stdout) as { processes: Row[] }).processes;

before(async () => {
  requireRoot();
  assertRangeFree(ANNA, 2_000_000);
  anna = createUser(cleanup, 'igloo-rough-a');
  elsa = createUser(cleanup, 'igloo-rough-e');
  await delegate(anna, ANNA, 1_000_000);
  await delegate(elsa, ELSA, 1_000_000);
  stagedCli(cleanup);
});
after(() => cleanup.run());

describe('create --nesting on the default image', () => {
  test('is refused before anything is made, naming the image to build', async () => {
    const r = await igloo(cleanup, anna, ['create', 'nest1', '--nesting']);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /--nesting on the default busybox image/);
    assert.match(r.stderr, /igloo image build debian --include uidmap,busybox-static/);
    assert.equal(existsSync(join(anna.home, '.local/share/igloo/containers/nest1')), false);
    const ls = await ok(anna, ['ls', '--json']);
    assert.doesNotMatch(ls.stdout, /nest1/);
  });
});

describe('the one-shot slot and the first container', () => {
  test("after igloo run, the first container still gets the block's start", async () => {
    const run = await ok(anna, ['run', '--', '/bin/cat', '/proc/self/uid_map']);
    assert.match(run.stdout, /^\s*0\s+\d+\s+65536/);
    const plan = join(anna.home, '.local/share/igloo/prepared/run/plan');
    const reserve = readFileSync(plan, 'latin1')
      .split('\n')
      .find((l) => l.startsWith('reserve '));
    // the top whole slice of the block: 14 x 65536 above its start
    assert.equal(reserve, `reserve u 0 ${ANNA + 14 * 65536} 65536 g 0 ${ANNA + 14 * 65536} 65536`);
    cleanup.add('destroy rough-c1', async () => {
      await igloo(cleanup, anna, ['destroy', '--force', 'rough-c1']);
    });
    const created = await ok(anna, ['create', 'rough-c1']);
    assert.match(created.stdout, new RegExp(`u 0 ${ANNA} 65536`));
    assert.ok(existsSync(plan), 'the slot kept its own slice');
    // the next run (native front, from the plan) uses the reserved slice
    const again = await ok(anna, ['run', '--', '/bin/cat', '/proc/self/uid_map']);
    assert.equal(again.stdout.trim().split(/\s+/).join(' '), `0 ${ANNA + 14 * 65536} 65536`);
    await ok(anna, ['destroy', 'rough-c1']);
  });
});

describe('igloo ps as a user', () => {
  let annaInit: number;
  let elsaInit: number;
  before(async () => {
    annaInit = await createStarted(anna, 'psu-a');
    elsaInit = await createStarted(elsa, 'psu-e');
  });

  test("shows the caller's processes and containers, nobody else's", async () => {
    const rows = await psRows(anna);
    assert.ok(rows.length > 0);
    for (const r of rows)
      assert.ok(
        r.uid.host === anna.uid || r.container.ownerUid === anna.uid,
        `row of pid ${r.pid} (uid ${r.uid.host}) is not anna's`,
      );
    const init = rows.find((r) => r.pid === annaInit);
    assert.equal(init?.container.name, 'psu-a', "anna's container's init is there, named");
    assert.ok(!rows.some((r) => r.pid === elsaInit), "elsa's init is not");
    assert.ok(!rows.some((r) => r.pid === 2), 'no kernel thread');
    const human = await ok(anna, ['ps']);
    assert.match(human.stdout, /psu-a/);
    assert.doesNotMatch(human.stdout, /\(restricted/);
  });

  test('--all shows the whole host; root sees the whole host as before', async () => {
    const all = await psRows(anna, ['--all']);
    for (const pid of [1, 2, annaInit, elsaInit])
      assert.ok(
        all.some((r) => r.pid === pid),
        `pid ${pid} in anna's --all`,
      );
    const root = await psRows('root');
    for (const pid of [1, 2, annaInit, elsaInit])
      assert.ok(
        root.some((r) => r.pid === pid),
        `pid ${pid} in root's view`,
      );
    const mine = await psRows(elsa, ['psu-e']);
    assert.ok(mine.length > 0 && mine.every((r) => r.container.name === 'psu-e'));
  });
});
