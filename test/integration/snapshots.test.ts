/**
 * igloo snapshot create | ls | restore | rm, as a real user: the snapshot's
 * files keep the container's owners, a restore brings back files and config,
 * bad input changes nothing, and destroy takes the snapshots along (files a
 * user could not remove by hand: they belong to the container's ids).
 */
import assert from 'node:assert/strict';
import { existsSync, lstatSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Cleanup, igloo, type TestUser } from '../support/host.ts';
import { userWithBlock, expectRefusals, iglooOk, type Refusal } from '../support/cli-checks.ts';

const cleanup = new Cleanup();
let user: TestUser;
const SLICE = 35_000_000;
const dirOf = (name: string) => join(user.home, '.local/share/igloo/containers', name);

const ok = (args: string[]) => iglooOk(cleanup, user, args);

/** Waits for init to answer an exec (start returns before the shell is up). */
async function execOk(name: string, script: string): Promise<string> {
  return ok(['exec', name, '--', 'sh', '-c', script]);
}

before(async () => {
  user = await userWithBlock(cleanup, 'igloo-snap', SLICE);
});
after(() => cleanup.run());

describe('igloo snapshot', () => {
  test('create, ls, restore, rm on a stopped container; files keep their owners', async () => {
    await ok(['create', 's1']);
    cleanup.add(
      'destroy s1',
      async () => void (await igloo(cleanup, user, ['destroy', '--force', 's1'])),
    );
    await ok(['start', 's1']);
    await execOk(
      's1',
      'echo v1 > /root/state; mkdir /home/app; echo mine > /home/app/f; chown -R 1000:1000 /home/app',
    );

    // running: refused, saying why, nothing made
    const r = await igloo(cleanup, user, ['snapshot', 'create', 's1']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /Cannot snapshot "s1": it is running/);
    assert.match(r.stderr, /stop it first \(igloo stop s1\)/);
    assert.ok(!existsSync(join(dirOf('s1'), 'snapshots')));

    await ok(['stop', 's1', '--timeout', '2']);
    assert.equal(await ok(['snapshot', 'create', 's1']), 'Snapshot snap0 of s1 made\n');
    assert.equal(await ok(['snapshot', 'create', 's1', 'second']), 'Snapshot second of s1 made\n');
    const listed = JSON.parse(await ok(['snapshot', 'ls', 's1', '--json'])) as Array<{
      name: string;
      tree: string;
    }>;
    assert.deepEqual(
      listed.map((s) => [s.name, s.tree]),
      [
        ['snap0', 'rootfs'],
        ['second', 'rootfs'],
      ],
    );
    // The copy belongs to the container's ids, exactly as the original.
    const config = JSON.parse(await ok(['info', 's1', '--json'])) as {
      config: { idmap: { uid: Array<{ outside: number }> } };
    };
    const base = config.config.idmap.uid[0]!.outside;
    const snapRoot = join(dirOf('s1'), 'snapshots/snap0/rootfs');
    assert.equal(statSync(join(snapRoot, 'root/state')).uid, base);
    assert.equal(statSync(join(snapRoot, 'home/app/f')).uid, base + 1000);
    assert.equal(readFileSync(join(snapRoot, 'root/state'), 'utf8'), 'v1\n');
    assert.ok(lstatSync(join(snapRoot, 'bin/sh')).isSymbolicLink(), 'links stay links');

    // change files and config, then restore
    await ok(['start', 's1']);
    await execOk('s1', 'echo v2 > /root/state; rm -r /home/app; touch /root/new');
    await ok(['stop', 's1', '--timeout', '2']);
    const configBefore = readFileSync(join(dirOf('s1'), 'config'), 'utf8');
    assert.equal(
      await ok(['snapshot', 'restore', 's1', 'snap0']),
      'Restored s1 from snapshot snap0\n',
    );
    assert.equal(readFileSync(join(dirOf('s1'), 'config'), 'utf8'), configBefore);
    await ok(['start', 's1']);
    assert.equal(
      await execOk('s1', 'cat /root/state; cat /home/app/f; test ! -e /root/new && echo gone'),
      'v1\nmine\ngone\n',
    );
    await ok(['stop', 's1', '--timeout', '2']);

    assert.equal(await ok(['snapshot', 'rm', 's1', 'second']), 'Removed snapshot second of s1\n');
    assert.deepEqual(readdirSync(join(dirOf('s1'), 'snapshots')), ['snap0']);

    // destroy takes the snapshot too (its files belong to the container's ids)
    await ok(['destroy', 's1']);
    assert.ok(!existsSync(dirOf('s1')));
  });

  test('bad input changes nothing and says what to do', async () => {
    await ok(['create', 's2']);
    cleanup.add(
      'destroy s2',
      async () => void (await igloo(cleanup, user, ['destroy', '--force', 's2'])),
    );
    await ok(['snapshot', 'create', 's2', 'keep']);
    const cases: Refusal[] = [
      [['snapshot', 'restore', 's2', 'nope'], /has no snapshot "nope"/, /igloo snapshot ls s2/],
      [['snapshot', 'rm', 's2', 'nope'], /has no snapshot "nope"/, /igloo snapshot ls s2/],
      [
        ['snapshot', 'restore', 's2', '../keep'],
        /has no snapshot "..\/keep"/,
        /igloo snapshot ls s2/,
      ],
      [['snapshot', 'create', 's2', 'keep'], /that snapshot exists/, /igloo snapshot rm s2 keep/],
      [['snapshot', 'create', 's2', '../x'], /Invalid snapshot name/, /letters, digits/],
      [['snapshot', 'create', 'nothing'], /No container named "nothing"/, /igloo ls/],
      [['snapshot', 'ls', 'nothing'], /No container named "nothing"/, /igloo ls/],
    ];
    await expectRefusals(cleanup, user, cases, () => readdirSync(join(dirOf('s2'), 'snapshots')));
    await ok(['destroy', 's2']);
  });
});
