/**
 * igloo config and igloo rename as a real user: get/set/edit go through the
 * key table and are checked before anything is written (an unknown key, a
 * bad value, a fixed key, a failing editor change nothing: the config file's
 * bytes are compared), a change applies at the next start; rename moves a
 * stopped container (directory, config, hostname, log) and refuses a
 * running one, an existing name and an unknown one without changing
 * anything.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  Cleanup,
  assertRangeFree,
  createUser,
  delegate,
  requireRoot,
  stagedCli,
  tempDir,
  type TestUser,
} from '../support/host.ts';
import { asUser } from '../support/as-user.ts';

const cleanup = new Cleanup();
const RANGE = 62_000_000;
let user: TestUser;

const containers = () => join(user.home, '.local/share/igloo/containers');
const configOf = (name: string) => readFileSync(join(containers(), name, 'config'), 'utf8');

const { run, ok, destroyLater } = asUser(cleanup, () => user);

/** An editor script (the user can run it) that applies SED to the file it is given. */
function editor(dir: string, name: string, sed: string, exit = 0): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\nsed -i '${sed}' "$1"\nexit ${exit}\n`);
  chmodSync(path, 0o755);
  return path;
}

let scripts: string;
before(async () => {
  requireRoot();
  assertRangeFree(RANGE, 1_000_000);
  user = createUser(cleanup, 'igloo-cfg');
  await delegate(user, RANGE, 1_000_000);
  stagedCli(cleanup);
  scripts = tempDir(cleanup, 'igloo-editors-');
  destroyLater('cf1');
  await ok(['create', 'cf1']);
});
after(() => cleanup.run());

describe('igloo config', () => {
  test('get prints the values; set replaces them and applies at the next start', async () => {
    assert.equal((await ok(['config', 'cf1', 'get', 'igloo.hostname'])).stdout, 'cf1\n');
    assert.equal((await ok(['config', 'cf1', 'get', 'igloo.autostart'])).stdout, '');
    await ok(['config', 'cf1', 'set', 'igloo.hostname=web-box']);
    await ok(['config', 'cf1', 'set', 'igloo.env=GREETING=hello there']);
    assert.equal(
      (await ok(['config', 'cf1', 'get', 'igloo.env'])).stdout,
      'GREETING=hello there\n',
    );
    const json = JSON.parse(
      (await ok(['config', 'cf1', 'get', 'igloo.hostname', '--json'])).stdout,
    );
    assert.deepEqual(json, { name: 'cf1', key: 'igloo.hostname', values: ['web-box'] });
    await ok(['start', 'cf1']);
    const inside = await ok(['exec', 'cf1', '--', '/bin/sh', '-c', 'hostname; echo "$GREETING"']);
    assert.equal(inside.stdout, 'web-box\nhello there\n');
    await ok(['stop', 'cf1', '--timeout', '5']);
    // an empty value gives the key its default back
    await ok(['config', 'cf1', 'set', 'igloo.env=']);
    assert.match((await ok(['config', 'cf1', 'get', 'igloo.env'])).stdout, /^PATH=/m);
  });

  test('an unknown key, a bad value or a fixed key changes nothing', async () => {
    const before = configOf('cf1');
    const cases: Array<[string[], RegExp]> = [
      [['set', 'igloo.hostnme=x'], /no such config key/],
      [['get', 'igloo.nope'], /no such config key/],
      [['set', 'lxc.uts.name=x'], /no such config key/],
      [['set', 'igloo.hostname=-bad-'], /not a valid host name/],
      [['set', 'igloo.autostart=perhaps'], /is not true or false/],
      [['set', 'igloo.user=root'], /is not an id/],
      [['set', 'igloo.idmap=b 0 62100000 65536'], /Cannot change igloo\.idmap/],
      [['set', 'igloo.rootfs=/'], /Cannot change igloo\.rootfs/],
      [['set', 'igloo.name=other'], /Cannot change igloo\.name[^]*igloo rename/],
      [['set', 'igloo.nesting=true'], /Cannot change igloo\.nesting/],
      [['set', 'noequals'], /expected KEY=VALUE/],
      [['get'], /KEY is missing/],
    ];
    for (const [args, pattern] of cases) {
      const r = await run(['config', 'cf1', ...args]);
      assert.notEqual(r.status, 0, args.join(' '));
      assert.match(r.stderr, pattern, args.join(' '));
      assert.equal(configOf('cf1'), before, `${args.join(' ')} changed nothing`);
    }
    const missing = await run(['config', 'no-such', 'set', 'igloo.hostname=x']);
    assert.match(missing.stderr, /No container named "no-such"/);
    assert.equal(existsSync(join(containers(), 'no-such')), false);
  });

  test('edit runs $EDITOR on a copy and writes it back only when it is valid', async () => {
    const good = editor(scripts, 'good', 's/^igloo.hostname = .*/igloo.hostname = edited/');
    await ok(['config', 'cf1', 'edit'], { EDITOR: good });
    assert.equal((await ok(['config', 'cf1', 'get', 'igloo.hostname'])).stdout, 'edited\n');

    const before = configOf('cf1');
    const bad = editor(scripts, 'bad', 's/^igloo.hostname = .*/igloo.hostname = -x-/');
    const r = await run(['config', 'cf1', 'edit'], { EDITOR: bad });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /nothing was changed/);
    assert.match(r.stderr, /Your edit is kept in \S+config\.edit-/);
    assert.equal(configOf('cf1'), before);
    const unknown = editor(scripts, 'unknown', '$a igloo.colour = blue');
    assert.match(
      (await run(['config', 'cf1', 'edit'], { EDITOR: unknown })).stderr,
      /unknown key "igloo.colour"/,
    );
    const idmap = editor(scripts, 'idmap', 's/62000000/62500000/g');
    assert.match(
      (await run(['config', 'cf1', 'edit'], { EDITOR: idmap })).stderr,
      /Cannot change igloo\.idmap/,
    );
    const failing = editor(scripts, 'failing', 's/^igloo.hostname = .*/igloo.hostname = fine/', 3);
    assert.match(
      (await run(['config', 'cf1', 'edit'], { EDITOR: failing })).stderr,
      /exited 3: nothing was changed/,
    );
    assert.equal(configOf('cf1'), before);
    const copies = readdirSync(join(containers(), 'cf1')).filter((f) =>
      f.startsWith('config.edit-'),
    );
    assert.equal(copies.length, 4, 'each refused edit is kept for another try');
    assert.match(
      (await ok(['config', 'cf1', 'edit'], { EDITOR: '/bin/true' })).stdout,
      /No change/,
    );
  });
});

describe('igloo rename', () => {
  test('moves a stopped container: directory, config, hostname and log go along', async () => {
    destroyLater('rn1');
    destroyLater('rn2');
    await ok(['create', 'rn1']);
    await ok(['start', 'rn1']);
    await ok(['exec', 'rn1', '--', '/bin/sh', '-c', 'echo before-rename > /dev/console']);
    const running = await run(['rename', 'rn1', 'rn2']);
    assert.notEqual(running.status, 0);
    assert.match(running.stderr, /Cannot rename "rn1": it is running/);
    await ok(['stop', 'rn1', '--timeout', '5']);
    const idmapBefore = (await ok(['config', 'rn1', 'get', 'igloo.idmap'])).stdout;
    assert.match((await ok(['rename', 'rn1', 'rn2'])).stdout, /Renamed rn1 to rn2/);
    assert.equal(existsSync(join(containers(), 'rn1')), false);
    assert.equal((await ok(['config', 'rn2', 'get', 'igloo.name'])).stdout, 'rn2\n');
    assert.equal((await ok(['config', 'rn2', 'get', 'igloo.hostname'])).stdout, 'rn2\n');
    assert.equal(
      (await ok(['config', 'rn2', 'get', 'igloo.rootfs'])).stdout,
      `${join(containers(), 'rn2', 'rootfs')}\n`,
    );
    assert.equal((await ok(['config', 'rn2', 'get', 'igloo.idmap'])).stdout, idmapBefore);
    assert.match((await ok(['logs', 'rn2'])).stdout, /before-rename/);
    await ok(['start', 'rn2']);
    assert.equal((await ok(['exec', 'rn2', '--', 'hostname'])).stdout, 'rn2\n');
    await ok(['stop', 'rn2', '--timeout', '5']);
    const ls = (await ok(['ls'])).stdout;
    assert.match(ls, /^rn2 /m);
    assert.doesNotMatch(ls, /^rn1 /m);
  });

  test('onto an existing name, from an unknown one, to a bad name: refused, nothing changes', async () => {
    const listing = () => readdirSync(containers()).sort().join(' ');
    const before = listing();
    const configs = { cf1: configOf('cf1'), rn2: configOf('rn2') };
    const cases: Array<[string[], RegExp]> = [
      [['rename', 'rn2', 'cf1'], /"cf1" exists already/],
      [['rename', 'no-such', 'x1'], /No container named "no-such"/],
      [['rename', 'rn2', '../evil'], /not a valid|Invalid|name/i],
      [['rename', 'rn2', 'rn2'], /to itself/],
    ];
    for (const [args, pattern] of cases) {
      const r = await run(args);
      assert.notEqual(r.status, 0, args.join(' '));
      assert.match(r.stderr, pattern, args.join(' '));
      assert.equal(listing(), before, `${args.join(' ')} changed nothing`);
    }
    assert.deepEqual({ cf1: configOf('cf1'), rn2: configOf('rn2') }, configs);
  });
});
