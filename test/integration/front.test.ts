/**
 * The `igloo` command's native front (src/native/front.c) and the prepared
 * plans it runs (src/lifecycle/prepared-plans.ts), as users run it. The proof
 * that a command ran without Node: IGLOO_CLI names a file that does not
 * exist, so any hand-over to the TypeScript CLI fails.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  Cleanup,
  assertRangeFree,
  createUser,
  delegate,
  igloo,
  requireRoot,
  spawnAs,
  stagedFront,
  type TestUser,
} from '../support/host.ts';

const cleanup = new Cleanup();
let ana: TestUser;
let tight: TestUser;
const NO_NODE = { IGLOO_CLI: '/nonexistent/igloo.mjs' };

const dataDir = (u: TestUser) => join(u.home, '.local/share/igloo');
const runDir = (u: TestUser) => `${u.home}/.cache/igloo/run`;
const slotPlan = (u: TestUser) => join(dataDir(u), 'prepared/run/plan');

/** The slot's reserved slice, from its plan's `reserve` line ("u 0 H N g 0 H N"). */
function reserved(u: TestUser): string {
  const line = readFileSync(slotPlan(u), 'latin1')
    .split('\n')
    .find((l) => l.startsWith('reserve '));
  assert.ok(line, 'the prepared run reserves a slice');
  return line.slice('reserve '.length);
}

/** The uid_map line of a one-shot run as "inside outside count". */
async function runMap(u: TestUser, env: Record<string, string> = {}): Promise<string> {
  const r = await igloo(cleanup, u, ['run', '--', '/bin/cat', '/proc/self/uid_map'], { env });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim().split(/\s+/).join(' ');
}

async function ok(u: TestUser, args: string[], env: Record<string, string> = {}) {
  const r = await igloo(cleanup, u, args, { env });
  assert.equal(r.status, 0, `igloo ${args.join(' ')}: ${r.stderr}`);
  return r;
}

/** Destroys the container at cleanup (a failure there is reported). */
function destroyLater(u: TestUser, name: string): void {
  cleanup.add(`destroy ${name}`, async () => {
    const r = await igloo(cleanup, u, ['destroy', '--force', name]);
    if (r.status !== 0) throw new Error(r.stderr);
  });
}

before(async () => {
  requireRoot();
  assertRangeFree(26_000_000, 2_000_000);
  ana = createUser(cleanup, 'igloo-front');
  tight = createUser(cleanup, 'igloo-tight');
  await delegate(ana, 26_000_000, 1_000_000);
  await delegate(tight, 27_000_000, 2 * 65536); // room for two slices only
  stagedFront(cleanup);
});

after(() => cleanup.run());

describe('igloo run -- CMD through a prepared plan', () => {
  test('the first run prepares the next; that one runs without Node, in the reserved slice', async () => {
    const before = await igloo(cleanup, ana, ['run', '--', '/bin/true'], { env: NO_NODE });
    assert.notEqual(before.status, 0, 'nothing is prepared yet: the front hands over (to no CLI)');
    assert.match(before.stderr, /nonexistent/);

    const first = await ok(ana, ['run', '--', '/bin/true']);
    assert.equal(first.stderr, '');
    const slice = reserved(ana);
    assert.match(slice, /^u 0 26\d{6} 65536 g 0 26\d{6} 65536$/);

    const r = await igloo(
      cleanup,
      ana,
      [
        'run',
        '--',
        '/bin/sh',
        '-c',
        'echo $$ $(id -u) $(hostname); cat /proc/self/uid_map; exit 3',
      ],
      { env: NO_NODE },
    );
    assert.equal(r.status, 3, r.stderr);
    const [line, map] = r.stdout.trim().split('\n');
    assert.equal(line, '1 0 run');
    assert.equal(map!.trim().split(/\s+/).join(' '), slice.split(' ').slice(1, 4).join(' '));
    assert.equal(r.stderr, '');
  });

  test('a second run while the slot is busy gets a slice of its own, through TypeScript', async () => {
    const long = spawnAs(ana, [
      stagedFront(cleanup),
      'run',
      '--',
      '/bin/sh',
      '-c',
      'cat /proc/self/uid_map; sleep 3',
    ]);
    await long.waitFor(/\d+\s+\d+\s+\d+/);
    const busy = long.stdout.trim().split(/\s+/).join(' ');
    assert.equal(busy, reserved(ana).split(' ').slice(1, 4).join(' '), 'the long run has the slot');
    const other = await runMap(ana);
    assert.notEqual(other, busy, 'never the same slice as a running container');
    assert.equal(await long.exited, 0);
  });

  test('create never takes the reserved slice, and ls does not show the slot', async () => {
    await ok(ana, ['create', 'fr-c1']);
    destroyLater(ana, 'fr-c1');
    const info = JSON.parse((await ok(ana, ['info', 'fr-c1', '--json'])).stdout) as {
      config: { idmap: { uid: Array<{ outside: number }> } };
    };
    assert.notEqual(
      String(info.config.idmap.uid[0]!.outside),
      reserved(ana).split(' ')[2],
      'the container got another slice',
    );
    const ls = JSON.parse((await ok(ana, ['ls', '--json'])).stdout) as Array<{ name: string }>;
    assert.deepEqual(
      ls.map((c) => c.name),
      ['fr-c1'],
    );
  });

  test('a plan whose host files changed is not used, and the next run makes a new one', async () => {
    const plan = slotPlan(ana);
    const stamp = readFileSync(plan, 'latin1').match(/^stamp .* \/etc\/subuid$/m);
    assert.ok(stamp, 'the plan depends on /etc/subuid');
    // as if the administrator had edited it
    const now = new Date();
    utimesSync('/etc/subuid', now, now);
    const stale = await igloo(cleanup, ana, ['run', '--', '/bin/true'], { env: NO_NODE });
    assert.notEqual(stale.status, 0, 'the stale plan is not run');
    await ok(ana, ['run', '--', '/bin/true']);
    await ok(ana, ['run', '--', '/bin/true'], NO_NODE);
  });

  test('an error before the command runs is told by the TypeScript CLI', async () => {
    const r = await igloo(cleanup, ana, ['run', '--', '/no/such/command']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^igloo: Cannot .*\/no\/such\/command/m);
    assert.doesNotMatch(r.stderr, /^ERROR /m, 'no raw protocol line');
    const nothing = await igloo(cleanup, ana, ['run', '--', '/no/such/command'], { env: NO_NODE });
    assert.notEqual(nothing.status, 0);
    assert.match(nothing.stderr, /nonexistent/, 'the front handed the error over');
  });

  test('options other than the plain form go to TypeScript', async () => {
    const r = await igloo(cleanup, ana, ['run', '--idmap', 'auto', '--', '/bin/true'], {
      env: NO_NODE,
    });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /nonexistent/);
  });

  test('IGLOO_PREPARED=0 neither uses nor makes plans', async () => {
    const off = { IGLOO_PREPARED: '0' };
    const r = await igloo(cleanup, ana, ['run', '--', '/bin/true'], {
      env: { ...off, ...NO_NODE },
    });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /nonexistent/);
  });
});

describe('when a container needs the slot', () => {
  test('the slot gives its slice up to create, and refuses while a run uses it', async () => {
    await ok(tight, ['run', '--', '/bin/true']);
    const slot = reserved(tight);
    await ok(tight, ['create', 'ti-c1']);
    destroyLater(tight, 'ti-c1');
    assert.ok(existsSync(slotPlan(tight)), 'one slice was still free: the slot kept its own');

    const long = spawnAs(tight, [stagedFront(cleanup), 'run', '--', '/bin/sleep', '2']);
    await new Promise((r) => setTimeout(r, 500));
    const busy = await igloo(cleanup, tight, ['create', 'ti-c2']);
    assert.equal(busy.status, 1);
    assert.match(busy.stderr, /one-shot run slot: a run is using them/);
    assert.equal(await long.exited, 0);
    assert.equal(
      (await ok(tight, ['ls', '--json'])).stdout.includes('ti-c2'),
      false,
      'the refused create left nothing',
    );

    await ok(tight, ['create', 'ti-c2']);
    destroyLater(tight, 'ti-c2');
    const info = JSON.parse((await ok(tight, ['info', 'ti-c2', '--json'])).stdout) as {
      config: { idmap: { uid: Array<{ outside: number }> } };
    };
    assert.equal(String(info.config.idmap.uid[0]!.outside), slot.split(' ')[2]);
    assert.equal(existsSync(slotPlan(tight)), false, 'the slot is gone');
  });
});

describe('igloo exec NAME -- CMD through a prepared plan', () => {
  before(async () => {
    await ok(ana, ['create', 'fr-x']);
    destroyLater(ana, 'fr-x');
    await ok(ana, ['start', 'fr-x']);
  });

  test('runs in the container without Node, with its status, and -t gives a pty', async () => {
    let r = await igloo(
      cleanup,
      ana,
      ['exec', 'fr-x', '--', '/bin/sh', '-c', 'echo $(hostname) $(id -u) $PATH; exit 5'],
      { env: NO_NODE },
    );
    assert.equal(r.status, 5, r.stderr);
    assert.equal(r.stdout, 'fr-x 0 /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n');
    r = await igloo(cleanup, ana, ['exec', '-t', 'fr-x', '--', '/usr/bin/tty'], { env: NO_NODE });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^\/dev\/pts\/\d+\r?\n$/);
  });

  test('options the front does not know go to TypeScript, and are honoured', async () => {
    const r = await igloo(cleanup, ana, [
      'exec',
      '--env',
      'A=b',
      'fr-x',
      '--',
      '/bin/sh',
      '-c',
      'echo $A',
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'b\n');
  });

  test('a plan others could have written is ignored', async () => {
    const plan = join(runDir(ana), 'fr-x', 'prepared-exec');
    chmodSync(plan, 0o666);
    try {
      const r = await igloo(cleanup, ana, ['exec', 'fr-x', '--', '/bin/true'], { env: NO_NODE });
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /nonexistent/);
    } finally {
      chmodSync(plan, 0o600);
    }
    await ok(ana, ['exec', 'fr-x', '--', '/bin/true'], NO_NODE);
  });

  test('after stop the plan is not used; a new start prepares a new one', async () => {
    await ok(ana, ['stop', 'fr-x', '--timeout', '5']);
    const r = await igloo(cleanup, ana, ['exec', 'fr-x', '--', '/bin/true']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /not running/);
    await ok(ana, ['start', 'fr-x']);
    await ok(ana, ['exec', 'fr-x', '--', '/bin/true'], NO_NODE);
  });
});
