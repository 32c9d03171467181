/**
 * A Debian system container, built and booted by an unprivileged user:
 * debootstrap in the user's namespaces, sysvinit as pid 1 reaching its
 * runlevel, a login on the console, and a clean shutdown through init.
 * Needs the Debian mirror (CI reaches Debian's packages).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  Cleanup,
  createUser,
  delegate,
  igloo,
  requireRoot,
  spawnAs,
  stagedCli,
  type TestUser,
} from '../support/host.ts';

const cleanup = new Cleanup();
let user: TestUser;

before(async () => {
  requireRoot();
  stagedCli(cleanup);
  user = createUser(cleanup, 'igloo-deb');
  await delegate(user, 18_000_000, 1_000_000);
});
after(() => cleanup.run());

test(
  'an unprivileged user builds a Debian image, boots it to runlevel 2, logs in on the console and stops it',
  { timeout: 900_000 },
  async () => {
    let r = await igloo(
      cleanup,
      user,
      ['image', 'build', 'debian', '--suite', 'bookworm', '--name', 'deb'],
      { timeoutMs: 800_000 },
    );
    assert.equal(r.status, 0, r.stderr.slice(-3000));
    assert.match(r.stdout, /^Built deb \(\d+ MB\)\n$/);

    r = await igloo(cleanup, user, ['create', 'deb1', '--image', 'deb']);
    assert.equal(r.status, 0, r.stderr);
    cleanup.add(
      'destroy deb1',
      async () => void (await igloo(cleanup, user, ['destroy', '--force', 'deb1'])),
    );
    r = await igloo(cleanup, user, ['start', 'deb1']);
    assert.equal(r.status, 0, r.stderr);

    // sysvinit runs the rcS and rc2 scripts, then its gettys
    let level = '';
    for (let i = 0; i < 120 && level !== 'N 2'; i++) {
      level = (await igloo(cleanup, user, ['exec', 'deb1', '--', '/sbin/runlevel'])).stdout.trim();
      if (level !== 'N 2') await new Promise((res) => setTimeout(res, 500));
    }
    assert.equal(level, 'N 2');
    const ps = await igloo(cleanup, user, [
      'exec',
      'deb1',
      '--',
      '/bin/ps',
      '-o',
      'pid=,comm=',
      '-p',
      '1',
    ]);
    assert.match(ps.stdout, /^\s*1 init$/m);
    const os = await igloo(cleanup, user, [
      'exec',
      'deb1',
      '--',
      '/bin/cat',
      '/etc/debian_version',
    ]);
    assert.match(os.stdout, /^12\./);

    const console = spawnAs(user, [process.execPath, stagedCli(cleanup), 'console', 'deb1']);
    try {
      console.child.stdin.write('\n');
      await console.waitFor(/login: /, 20_000);
      console.child.stdin.write('\x01q');
      assert.equal(await console.exited, 0);
    } finally {
      console.child.kill('SIGKILL');
    }

    r = await igloo(cleanup, user, ['stop', 'deb1', '--timeout', '30']);
    assert.equal(r.status, 0, r.stderr);
    const info = JSON.parse((await igloo(cleanup, user, ['info', 'deb1', '--json'])).stdout) as {
      state: { status: string; lastExit: string };
    };
    assert.equal(info.state.status, 'stopped');
    // halt in a pid namespace ends init with SIGINT; SIGKILL would mean the shutdown did not happen
    assert.equal(info.state.lastExit, 'signaled SIGINT');
  },
);
