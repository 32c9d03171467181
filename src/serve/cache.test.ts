/**
 * The list's cache (cache.ts) on real files in a temporary directory: kept
 * between lists, read again when the watchers (events.ts, real inotify)
 * say a container changed, and, when no watcher says anything (what a
 * dropped IN_Q_OVERFLOW looks like), read again after the trust window.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Igloo } from '../lifecycle/igloo.ts';
import { ContainerCache } from './cache.ts';
import { ContainerEvents } from './events.ts';

const top = mkdtempSync(join(tmpdir(), 'igloo-cache-test-'));
after(() => rmSync(top, { recursive: true, force: true }));

function home(name: string): Igloo {
  const dir = join(top, name);
  mkdirSync(join(dir, 'data', 'containers'), { recursive: true, mode: 0o700 });
  mkdirSync(join(dir, 'run'), { recursive: true, mode: 0o700 });
  return new Igloo({ data: join(dir, 'data'), run: join(dir, 'run') });
}

/** A container's config as igloo writes it: replaced atomically (a new inode). */
function writeConfig(igloo: Igloo, name: string, hostname: string): void {
  const dir = igloo.paths(name).dir;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const text = `igloo.name = ${name}
igloo.rootfs = ${join(dir, 'rootfs')}
igloo.hostname = ${hostname}
igloo.idmap = u 0 2000000 65536
igloo.idmap = g 0 2000000 65536
`;
  writeFileSync(join(dir, '.config.tmp'), text);
  renameSync(join(dir, '.config.tmp'), igloo.paths(name).config);
}

const hostnames = async (cache: ContainerCache) =>
  (await cache.list()).map((c) => [c.name, c.config?.hostname ?? c.error]);

async function waitFor(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out waiting for a condition');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('the list cache', () => {
  test('a second list reads no file again; changed(NAME) reads that one only', async () => {
    const igloo = home('kept');
    writeConfig(igloo, 'a', 'ha');
    writeConfig(igloo, 'b', 'hb');
    const cache = new ContainerCache(igloo, { trustMs: 3_600_000 });
    assert.deepEqual(await hostnames(cache), [
      ['a', 'ha'],
      ['b', 'hb'],
    ]);
    assert.equal(cache.stats.reads, 2);
    assert.deepEqual(await hostnames(cache), [
      ['a', 'ha'],
      ['b', 'hb'],
    ]);
    assert.equal(cache.stats.reads, 2);
    // the same objects while nothing changed (the server keeps their JSON by identity)
    const [a1, b1] = await cache.list();
    const [a2, b2] = await cache.list();
    assert.ok(a1 === a2 && b1 === b2);
    writeConfig(igloo, 'b', 'hb2');
    cache.changed('b');
    const [a3, b3] = await cache.list();
    assert.ok(a3 === a1 && b3 !== b1);
    assert.deepEqual(await hostnames(cache), [
      ['a', 'ha'],
      ['b', 'hb2'],
    ]);
    assert.equal(cache.stats.reads, 3);
    // a new container, then one gone
    writeConfig(igloo, 'c', 'hc');
    cache.changedNames();
    assert.deepEqual((await hostnames(cache)).at(-1), ['c', 'hc']);
    rmSync(igloo.paths('a').dir, { recursive: true });
    cache.changedNames();
    assert.deepEqual(
      (await hostnames(cache)).map(([n]) => n),
      ['b', 'c'],
    );
  });

  test('an entry that cannot be read is not kept: it is read again at the next list', async () => {
    const igloo = home('unreadable');
    mkdirSync(igloo.paths('half').dir, { recursive: true }); // a directory without its config yet
    const cache = new ContainerCache(igloo, { trustMs: 3_600_000 });
    const first = await cache.list();
    assert.equal(first.length, 1);
    assert.match(first[0]!.error ?? '', /half/);
    writeConfig(igloo, 'half', 'made'); // nobody says so
    assert.deepEqual(await hostnames(cache), [['half', 'made']]);
  });

  test("the watchers' inotify events drop what changed, with nothing else telling", async () => {
    const igloo = home('watched');
    writeConfig(igloo, 'w', 'h1');
    const cache = new ContainerCache(igloo, { trustMs: 3_600_000 });
    const events = new ContainerEvents(igloo, cache);
    await events.start();
    try {
      assert.deepEqual(await hostnames(cache), [['w', 'h1']]);
      writeConfig(igloo, 'w', 'h2');
      await waitFor(async () => (await hostnames(cache))[0]![1] === 'h2');
      writeConfig(igloo, 'new', 'hn');
      await waitFor(async () => (await hostnames(cache)).length === 2);
      assert.deepEqual(await hostnames(cache), [
        ['new', 'hn'],
        ['w', 'h2'],
      ]);
    } finally {
      events.close();
    }
  });

  test('a change no watcher reported (a dropped overflow) is served for at most the trust window', async () => {
    const igloo = home('missed');
    writeConfig(igloo, 'm', 'old');
    const cache = new ContainerCache(igloo, { trustMs: 200 });
    assert.deepEqual(await hostnames(cache), [['m', 'old']]);
    const sweeps = cache.stats.sweeps;
    writeConfig(igloo, 'm', 'new');
    writeConfig(igloo, 'n', 'added');
    await waitFor(
      async () =>
        JSON.stringify(await hostnames(cache)) ===
        JSON.stringify([
          ['m', 'new'],
          ['n', 'added'],
        ]),
    );
    assert.ok(cache.stats.sweeps > sweeps, 'found by a sweep, not by a watcher');
  });

  test('drop() (a watcher failed) trusts nothing kept', async () => {
    const igloo = home('dropped');
    writeConfig(igloo, 'd', 'x');
    const cache = new ContainerCache(igloo, { trustMs: 3_600_000 });
    await cache.list();
    writeConfig(igloo, 'd', 'y');
    cache.drop();
    assert.deepEqual(await hostnames(cache), [['d', 'y']]);
  });
});
