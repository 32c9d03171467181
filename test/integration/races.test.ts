/**
 * Races between real igloo processes, each run N times: start/start,
 * start/destroy, create/create of one name, exec during stop, parallel
 * creates by one user and by two, and `subid grant` during a create. Each
 * round asserts the invariant: exactly one winner, the loser's clear
 * error, no slice shared, nothing left running. No sleep: the commands
 * are started together and their ends awaited.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { asUser } from '../support/as-user.ts';
import { userWithBlock } from '../support/cli-checks.ts';
import {
  Cleanup,
  createUser,
  igloo,
  liveProcesses,
  tempDir,
  type TestUser,
} from '../support/host.ts';

const N = 5;
const cleanup = new Cleanup();
const BLOCK_A = 23_000_000;
const BLOCK_B = 24_000_000;
let anna: TestUser;
let bert: TestUser;
const asAnna = asUser(cleanup, () => anna);
const asBert = asUser(cleanup, () => bert);

before(async () => {
  anna = await userWithBlock(cleanup, 'igloo-race-a', BLOCK_A);
  bert = await userWithBlock(cleanup, 'igloo-race-b', BLOCK_B);
});
after(() => cleanup.run());

interface Listed {
  name: string;
  state: string;
  pid: number | null;
  idmap: { uid: Array<{ outside: number; count: number }> } | null;
}
async function ls(as: typeof asAnna): Promise<Listed[]> {
  return JSON.parse((await as.ok(['ls', '--json'])).stdout) as Listed[];
}

/** igloo-helper processes (monitors) of UID that are alive. */
function monitorsOf(uid: number): number[] {
  return liveProcesses()
    .filter((p) => p.uid === uid && p.cmdline.includes('igloo-helper'))
    .map((p) => p.pid);
}

/** Exactly one of the results succeeded; the others failed with an error matching LOSER. */
function oneWinner(
  results: Array<{ status: number | null; stderr: string }>,
  loser: RegExp,
  what: string,
) {
  const won = results.filter((r) => r.status === 0);
  assert.equal(
    won.length,
    1,
    `${what}: ${won.length} winners: ${results.map((r) => r.stderr).join(' | ')}`,
  );
  for (const r of results.filter((r) => r.status !== 0)) {
    assert.equal(r.status, 1, `${what}: the loser: ${r.stderr}`);
    assert.match(r.stderr, loser, `${what}: the loser's error`);
    assert.match(r.stderr, /hint:/, `${what}: the loser's error has a hint`);
  }
}

/** No two of the containers share a host id. */
function disjoint(all: Listed[], what: string): void {
  const ranges = all.flatMap((c) =>
    (c.idmap?.uid ?? []).map((e) => ({ name: c.name, start: e.outside, end: e.outside + e.count })),
  );
  for (const a of ranges)
    for (const b of ranges)
      if (a !== b && a.start < b.end && b.start < a.end)
        assert.fail(`${what}: ${a.name} and ${b.name} share host ids`);
}

describe('races between two igloo processes', () => {
  test('start/start: one init, the other start says it runs already', async () => {
    await asAnna.ok(['create', 'rs', '--net', 'none']);
    asAnna.destroyLater('rs');
    for (let i = 0; i < N; i++) {
      const results = await Promise.all([asAnna.run(['start', 'rs']), asAnna.run(['start', 'rs'])]);
      oneWinner(results, /running already/, `round ${i}`);
      assert.equal(monitorsOf(anna.uid).length, 1, `round ${i}: one monitor`);
      await asAnna.ok(['stop', 'rs', '--timeout', '0']);
      assert.deepEqual(monitorsOf(anna.uid), [], `round ${i}: the monitor is gone`);
    }
  });

  test('start/destroy: either it runs and stays, or it is gone with nothing running', async () => {
    for (let i = 0; i < N; i++) {
      await asAnna.ok(['create', 'rd', '--net', 'none']);
      const [start, destroy] = await Promise.all([
        asAnna.run(['start', 'rd']),
        asAnna.run(['destroy', 'rd']),
      ]);
      const c = (await ls(asAnna)).find((x) => x.name === 'rd');
      if (destroy.status === 0) {
        assert.equal(c, undefined, `round ${i}: destroyed, yet listed`);
        assert.notEqual(start.status, 0, `round ${i}: started and destroyed`);
        assert.match(
          start.stderr,
          /No container named|not running|rootfs|No such file/,
          start.stderr,
        );
        assert.deepEqual(monitorsOf(anna.uid), [], `round ${i}: destroyed, yet running`);
      } else {
        assert.match(destroy.stderr, /running|started meanwhile/, `round ${i}: ${destroy.stderr}`);
        assert.equal(start.status, 0, `round ${i}: start: ${start.stderr}`);
        assert.equal(c?.state, 'running', `round ${i}`);
        await asAnna.ok(['destroy', '--force', 'rd']);
      }
      assert.deepEqual(monitorsOf(anna.uid), [], `round ${i}: left running`);
    }
  });

  test('create/create of one name: one container, the other says it exists', async () => {
    for (let i = 0; i < N; i++) {
      const results = await Promise.all([
        asAnna.run(['create', 'rc', '--net', 'none']),
        asAnna.run(['create', 'rc', '--net', 'none']),
      ]);
      oneWinner(results, /exists already/, `round ${i}`);
      // The loser took nothing of the winner's: it starts.
      await asAnna.ok(['start', 'rc']);
      await asAnna.ok(['destroy', '--force', 'rc']);
    }
  });

  test('exec during stop: the exec ends (ran, refused or killed), nothing is left running', async () => {
    await asAnna.ok(['create', 're', '--net', 'none']);
    asAnna.destroyLater('re');
    for (let i = 0; i < N; i++) {
      await asAnna.ok(['start', 're']);
      const [exec, stop] = await Promise.all([
        asAnna.run(['exec', 're', '--', '/bin/sleep', '2']),
        asAnna.run(['stop', 're', '--timeout', '0']),
      ]);
      assert.equal(stop.status, 0, stop.stderr);
      assert.ok(
        exec.status === 0 ||
          /not running|No such process|signaled|killed/i.test(exec.stderr) ||
          exec.status === 137,
        `round ${i}: exec: ${exec.status} ${exec.stderr}`,
      );
      assert.equal((await ls(asAnna)).find((c) => c.name === 're')?.state, 'stopped');
      assert.deepEqual(monitorsOf(anna.uid), [], `round ${i}: left running`);
    }
  });

  test('parallel creates by one user and by two: every one succeeds, no slice is shared', async () => {
    for (let i = 0; i < N; i++) {
      const names = ['p1', 'p2', 'p3', 'p4'];
      const results = await Promise.all([
        ...names.map((n) => asAnna.run(['create', n, '--net', 'none'])),
        ...names.map((n) => asBert.run(['create', n, '--net', 'none'])),
      ]);
      for (const r of results) assert.equal(r.status, 0, `round ${i}: ${r.stderr}`);
      const a = await ls(asAnna);
      const b = await ls(asBert);
      for (const n of names) {
        assert.ok(
          a.some((c) => c.name === n),
          `round ${i}: ${anna.name}'s ${n}`,
        );
        assert.ok(
          b.some((c) => c.name === n),
          `round ${i}: ${bert.name}'s ${n}`,
        );
      }
      disjoint([...a, ...b.map((c) => ({ ...c, name: `bert:${c.name}` }))], `round ${i}`);
      for (const c of a)
        assert.ok(
          c.idmap!.uid[0]!.outside >= BLOCK_A && c.idmap!.uid[0]!.outside < BLOCK_A + 1_000_000,
        );
      for (const c of b)
        assert.ok(
          c.idmap!.uid[0]!.outside >= BLOCK_B && c.idmap!.uid[0]!.outside < BLOCK_B + 1_000_000,
        );
      await Promise.all([
        ...names.map((n) => asAnna.ok(['destroy', n])),
        ...names.map((n) => asBert.ok(['destroy', n])),
      ]);
    }
  });

  test('subid grant during a create: both succeed, each file whole', async () => {
    const dir = tempDir(cleanup, 'igloo-race-subid-');
    const env = { IGLOO_SUBUID: join(dir, 'subuid'), IGLOO_SUBGID: join(dir, 'subgid') };
    const lines = `${anna.name}:${BLOCK_A}:1000000\n`;
    writeFileSync(env.IGLOO_SUBUID, lines, { mode: 0o644 });
    writeFileSync(env.IGLOO_SUBGID, lines, { mode: 0o644 });
    const grantee = createUser(cleanup, 'igloo-race-g');
    for (let i = 0; i < N; i++) {
      const [create, grant] = await Promise.all([
        asAnna.run(['create', 'rg', '--net', 'none'], env),
        igloo(cleanup, 'root', ['subid', 'grant', grantee.name, '--start', '600000'], { env }),
      ]);
      assert.equal(create.status, 0, `round ${i}: create: ${create.stderr}`);
      assert.equal(grant.status, 0, `round ${i}: grant: ${grant.stderr}`);
      for (const f of [env.IGLOO_SUBUID, env.IGLOO_SUBGID])
        assert.equal(
          readFileSync(f, 'utf8'),
          `${lines}${grantee.name}:600000:65536\n`,
          `round ${i}: ${f}`,
        );
      await asAnna.ok(['destroy', 'rg'], env);
      const revoke = await igloo(cleanup, 'root', ['subid', 'revoke', grantee.name], { env });
      assert.equal(revoke.status, 0, revoke.stderr);
    }
  });
});
