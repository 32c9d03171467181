/**
 * The lifecycle through the TypeScript library API (as root, in private
 * directories), and rollback of half-done work through the CLI.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { Igloo, IglooError } from '../../src/api/index.ts';
import {
  Cleanup,
  createUser,
  delegate,
  ensureRootDelegation,
  igloo,
  requireRoot,
  stagedCli,
  tempDir,
  type TestUser,
} from '../support/host.ts';

const execFileP = promisify(execFile);
const cleanup = new Cleanup();
let user: TestUser;
let api: Igloo;
let dirs: { data: string; run: string };

before(async () => {
  requireRoot();
  stagedCli(cleanup);
  await ensureRootDelegation(cleanup);
  user = createUser(cleanup, 'igloo-life');
  await delegate(user, 4_000_000, 131072);
  const base = tempDir(cleanup, 'igloo-api-', 0o700);
  dirs = { data: join(base, 'data'), run: join(base, 'run') };
  api = new Igloo(dirs);
  cleanup.add('destroy API containers', async () => {
    for (const name of await api.names()) await api.destroy(name, { force: true });
  });
});
after(() => cleanup.run());

describe('the library API', () => {
  test('create, start, exec, stop and destroy a container', async () => {
    const config = await api.create('api-c1');
    assert.equal(config.name, 'api-c1');
    assert.equal(config.rootfs, join(dirs.data, 'containers/api-c1/rootfs'));
    const first = config.idmap.uid[0]!.outside;
    assert.ok(first > 0, 'host root is never mapped');
    assert.equal(statSync(config.rootfs).uid, first);
    assert.equal((await api.state('api-c1')).status, 'created');

    const running = await api.start('api-c1');
    assert.equal(running.status, 'running');
    assert.ok(existsSync(`/proc/${running.pid}`));

    // exec inherits this process's stdio; the exit status carries the result
    const ok = await api.exec('api-c1', [
      '/bin/sh',
      '-c',
      'test "$(cat /proc/1/comm)" = init && test "$(id -u)" = 0',
    ]);
    assert.deepEqual(ok, { exitCode: 0, status: 'exited 0' });
    const fail = await api.exec('api-c1', ['/bin/sh', '-c', 'exit 4']);
    assert.equal(fail.exitCode, 4);

    const stopped = await api.stop('api-c1', 5);
    assert.equal(stopped.status, 'stopped');
    assert.match(stopped.lastExit ?? '', /^(exited|signaled)/);
    await api.destroy('api-c1');
    assert.deepEqual(await api.names(), []);
  });

  test('errors are IglooErrors that name the container and say what to do', async () => {
    await assert.rejects(api.start('nope'), (err: unknown) => {
      assert.ok(err instanceof IglooError);
      assert.equal(err.code, 'ENOENT');
      assert.match(err.message, /No container named "nope"/);
      assert.match(err.hint ?? '', /igloo ls/);
      return true;
    });
    await assert.rejects(
      api.create('../escape'),
      (err: unknown) => err instanceof IglooError && err.code === 'EINVAL',
    );
    assert.equal(existsSync(join(dirs.data, 'escape')), false);
    await assert.rejects(
      api.create('x', { idmap: 'b 0 0 65536' }),
      (err: unknown) => err instanceof IglooError && err.code === 'EPERM',
    );
  });

  test('slices never overlap: each new container takes the next free one', async () => {
    const a = await api.create('api-a');
    const b = await api.create('api-b');
    const [sa, sb] = [a.idmap.uid[0]!, b.idmap.uid[0]!];
    assert.ok(sa.outside + sa.count <= sb.outside || sb.outside + sb.count <= sa.outside);
    await api.destroy('api-a');
    const c = await api.create('api-c');
    assert.equal(
      c.idmap.uid[0]!.outside,
      sa.outside,
      "a destroyed container's slice is free again",
    );
    await api.destroy('api-b');
    await api.destroy('api-c');
  });
});

describe('rollback', () => {
  test('a create that fails half-way leaves nothing behind', async () => {
    // An image with a file the user cannot read: the copy fails inside the
    // container's user namespace after the directory and config were made.
    const image = tempDir(cleanup, 'igloo-image-');
    mkdirSync(join(image, 'bin'));
    writeFileSync(join(image, 'bin/readable'), 'x');
    writeFileSync(join(image, 'secret'), 'root only');
    chmodSync(join(image, 'secret'), 0o600);
    const r = await igloo(cleanup, user, ['create', 'half', '--image', image]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /secret/);
    const containers = join(user.home, '.local/share/igloo/containers');
    assert.deepEqual(
      existsSync(containers) ? readdirSync(containers) : [],
      [],
      'no container directory is left',
    );
    const ls = await igloo(cleanup, user, ['ls', '--json']);
    assert.deepEqual(JSON.parse(ls.stdout), []);
    // and the slice is free: the next create gets the first one
    const ok = await igloo(cleanup, user, ['create', 'whole', '--json']);
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(
      (JSON.parse(ok.stdout) as { idmap: { uid: Array<{ outside: number }> } }).idmap.uid[0]!
        .outside,
      4_000_000,
    );
    assert.equal((await igloo(cleanup, user, ['destroy', 'whole'])).status, 0);
  });

  test('a start whose map newuidmap refuses fails clearly and leaves the container stopped', async () => {
    const made = await igloo(cleanup, user, ['create', 'revoked', '--json']);
    assert.equal(made.status, 0, made.stderr);
    const block = '4000000-4131071';
    // The administrator takes the uids back after the container was made.
    await execFileP('usermod', ['--del-subuids', block, user.name]);
    try {
      const r = await igloo(cleanup, user, ['start', 'revoked']);
      assert.equal(r.status, 1);
      assert.match(r.stderr, /start container "revoked".*newuidmap \d+ 0 4000000 65536/);
      assert.match(r.stderr, /delegated to you in \/etc\/subuid/);
      const ls = JSON.parse((await igloo(cleanup, user, ['ls', '--json'])).stdout) as Array<{
        name: string;
        state: string;
      }>;
      assert.deepEqual(
        ls.map((c) => [c.name, c.state]),
        [['revoked', 'created']],
      );
    } finally {
      await execFileP('usermod', ['--add-subuids', block, user.name]);
    }
    assert.equal((await igloo(cleanup, user, ['destroy', 'revoked'])).status, 0);
  });
});
