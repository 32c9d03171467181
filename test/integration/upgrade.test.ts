/**
 * Upgrade (issue 18): a container made by an earlier igloo keeps working.
 * test/fixtures/upgrade/files/ is the on-disk format an igloo release left
 * (config, state.json, the run slot's and the container's prepared plans;
 * written by test/fixtures/upgrade/generate.ts). The rootfs is not in the
 * fixture: the test makes one with this build's `create` on the same slice,
 * puts the fixture's files around it, and this build lists, starts, execs
 * in and destroys the container.
 */
import assert from 'node:assert/strict';
import {
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { after, before, test } from 'node:test';
import { asUser } from '../support/as-user.ts';
import {
  assertRangeFree,
  Cleanup,
  createUser,
  delegate,
  requireRoot,
  root,
  stagedCli,
  type TestUser,
} from '../support/host.ts';
import { UPGRADE_BASE, UPGRADE_USER } from '../fixtures/upgrade/generate.ts';

const fixture = join(root, 'test/fixtures/upgrade/files');
const cleanup = new Cleanup();
let user: TestUser;
const me = asUser(cleanup, () => user);

function fixtureFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    return lstatSync(p).isDirectory() ? fixtureFiles(p) : [p];
  });
}

/** mkdir -p, each new directory the user's and private. */
function userDirs(path: string): void {
  if (existsSync(path)) return;
  userDirs(dirname(path));
  mkdirSync(path, { mode: 0o700 });
  chownSync(path, user.uid, user.gid);
}

before(async () => {
  requireRoot();
  stagedCli(cleanup);
  assertRangeFree(UPGRADE_BASE, 4 * 65536);
  user = createUser(cleanup, UPGRADE_USER);
  await delegate(user, UPGRADE_BASE, 4 * 65536);
});
after(() => cleanup.run());

test("a container in the previous release's on-disk format lists, starts, execs and is destroyed", async () => {
  const files = fixtureFiles(fixture).map((f) => relative(fixture, f));
  assert.ok(files.includes('data/containers/old/config'), files.join(' '));
  assert.ok(files.includes('data/containers/old/state.json'), files.join(' '));
  assert.ok(
    files.some((f) => f.startsWith('run/old/prepared-exec')),
    'the fixture has prepared plans',
  );
  const data = join(user.home, '.local/share/igloo');
  const run = join(user.home, '.cache/igloo/run');
  // The fixture was made with a home path of the same length: prepared plans count bytes.
  const made = Number(readFileSync(join(fixture, '../home-length'), 'utf8'));
  assert.equal(user.home.length, made, `home ${user.home}: TMPDIR differs from the fixture's`);

  // A rootfs on the container's slice (the first of the block), made by this build.
  me.destroyLater('old');
  await me.ok(['create', 'donor']);
  const rootfs = join(data, 'containers/donor/rootfs');
  const kept = join(data, 'rootfs-for-old');
  renameSync(rootfs, kept);
  rmSync(join(data, 'containers/donor'), { recursive: true, force: true });
  for (const f of files) {
    const to = join(f.startsWith('data/') ? data : run, f.replace(/^(data|run)\//, ''));
    userDirs(dirname(to));
    const text = readFileSync(join(fixture, f), 'latin1').split('@HOME@').join(user.home);
    writeFileSync(to, text, { encoding: 'latin1', mode: 0o600 });
    chownSync(to, user.uid, user.gid);
  }
  renameSync(kept, join(data, 'containers/old/rootfs'));

  const ls = JSON.parse((await me.ok(['ls', '--json'])).stdout) as Array<{
    name: string;
    state: string;
  }>;
  assert.deepEqual(
    ls.map((c) => [c.name, c.state]),
    [['old', 'stopped']],
  );
  await me.ok(['start', 'old']);
  const hi = await me.ok(['exec', 'old', '--', '/bin/sh', '-c', 'echo upgraded-$((40+2))']);
  assert.equal(hi.stdout, 'upgraded-42\n');
  // the one-shot slot prepared by the old release: a run works too
  assert.equal((await me.ok(['run', '--', '/bin/sh', '-c', 'echo ran'])).stdout, 'ran\n');
  await me.ok(['stop', 'old']);
  await me.ok(['destroy', 'old']);
  assert.deepEqual(JSON.parse((await me.ok(['ls', '--json'])).stdout), []);
  assert.equal(existsSync(join(data, 'containers/old')), false);
});
