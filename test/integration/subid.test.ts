/**
 * `igloo subid` against real copies of /etc/subuid and /etc/subgid (pointed
 * at with IGLOO_SUBUID/IGLOO_SUBGID), with real users, as root and as a
 * non-root user.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, copyFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  Cleanup,
  createUser,
  igloo,
  requireRoot,
  tempDir,
  type TestUser,
} from '../support/host.ts';

const cleanup = new Cleanup();
let dir: string;
let files: { IGLOO_SUBUID: string; IGLOO_SUBGID: string };
const users: TestUser[] = [];
const PARALLEL = 12;

function parse(text: string) {
  return text
    .split('\n')
    .filter((l) => /^[^#:\s][^:]*:\d+:\d+$/.test(l))
    .map((l) => {
      const [owner, start, count] = l.split(':');
      return { owner: owner!, start: Number(start), count: Number(count) };
    });
}

function freshCopies(extra = ''): void {
  for (const [name, path] of [
    ['subuid', files.IGLOO_SUBUID],
    ['subgid', files.IGLOO_SUBGID],
  ] as const) {
    if (existsSync(`/etc/${name}`)) copyFileSync(`/etc/${name}`, path);
    else writeFileSync(path, '');
    // Lines the tool must keep byte for byte: a comment, a user with a
    // numeric id, odd spacing is not valid subuid syntax, so none of that.
    writeFileSync(
      path,
      readFileSync(path, 'utf8') + `# kept comment\n4242:5000000:65536\n${extra}`,
    );
  }
}

before(() => {
  requireRoot();
  dir = tempDir(cleanup);
  files = { IGLOO_SUBUID: join(dir, 'subuid'), IGLOO_SUBGID: join(dir, 'subgid') };
  for (let i = 0; i < PARALLEL; i++) users.push(createUser(cleanup, `igloo-grant${i}`));
});
after(() => cleanup.run());

describe('igloo subid grant', () => {
  test(`${PARALLEL} parallel grants lose no line and never overlap`, async () => {
    freshCopies();
    const before = {
      uid: readFileSync(files.IGLOO_SUBUID, 'utf8'),
      gid: readFileSync(files.IGLOO_SUBGID, 'utf8'),
    };
    const results = await Promise.all(
      users.map((u) =>
        igloo(cleanup, 'root', ['subid', 'grant', u.name, '--count', '65536', '--json'], {
          env: files,
        }),
      ),
    );
    for (const r of results) assert.equal(r.status, 0, r.stderr);
    for (const kind of ['uid', 'gid'] as const) {
      const text = readFileSync(kind === 'uid' ? files.IGLOO_SUBUID : files.IGLOO_SUBGID, 'utf8');
      assert.ok(text.startsWith(before[kind]), `every old byte of sub${kind} is kept`);
      const added = parse(text.slice(before[kind].length));
      assert.deepEqual(added.map((e) => e.owner).sort(), users.map((u) => u.name).sort());
      const all = parse(text);
      for (let i = 0; i < all.length; i++) {
        for (let j = i + 1; j < all.length; j++) {
          const a = all[i]!;
          const b = all[j]!;
          assert.ok(
            a.start + a.count <= b.start || b.start + b.count <= a.start,
            `${a.owner} and ${b.owner} overlap`,
          );
        }
      }
      for (const e of added) assert.equal(e.count, 65536);
    }
    // Each user has the same block of uids and gids, and it is what the command said.
    const uids = parse(readFileSync(files.IGLOO_SUBUID, 'utf8'));
    const gids = parse(readFileSync(files.IGLOO_SUBGID, 'utf8'));
    for (const r of results) {
      const said = JSON.parse(r.stdout) as { user: string; start: number; count: number };
      assert.deepEqual(
        uids.find((e) => e.owner === said.user),
        { owner: said.user, start: said.start, count: said.count },
      );
      assert.deepEqual(
        gids.find((e) => e.owner === said.user),
        { owner: said.user, start: said.start, count: said.count },
      );
    }
    assert.ok(!existsSync(`${files.IGLOO_SUBUID}.lock`), 'the lock is released');
  });

  test('grant --start reproduces the talk layout and refuses an overlap, writing nothing', async () => {
    freshCopies();
    const [anna, elsa] = users;
    let r = await igloo(
      cleanup,
      'root',
      ['subid', 'grant', anna!.name, '--start', '2000000', '--count', '1000000'],
      { env: files },
    );
    assert.equal(r.status, 0, r.stderr);
    r = await igloo(
      cleanup,
      'root',
      ['subid', 'grant', elsa!.name, '--start', '3000000', '--count', '1000000'],
      { env: files },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      readFileSync(files.IGLOO_SUBUID, 'utf8'),
      new RegExp(`^${anna!.name}:2000000:1000000\n${elsa!.name}:3000000:1000000\n$`, 'm'),
    );
    const snapshot = readFileSync(files.IGLOO_SUBUID, 'utf8');
    r = await igloo(cleanup, 'root', ['subid', 'grant', users[2]!.name, '--start', '2500000'], {
      env: files,
    });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /overlap/i);
    assert.match(r.stderr, new RegExp(anna!.name));
    assert.equal(readFileSync(files.IGLOO_SUBUID, 'utf8'), snapshot);
    r = await igloo(cleanup, 'root', ['subid', 'grant', anna!.name], { env: files });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /already/);
    assert.equal(readFileSync(files.IGLOO_SUBUID, 'utf8'), snapshot);
  });

  test('a malformed line is reported with file and line, and nothing is written', async () => {
    freshCopies('anna:not-a-number:10\n');
    const snapshot = readFileSync(files.IGLOO_SUBUID, 'utf8');
    const line = snapshot.split('\n').indexOf('anna:not-a-number:10') + 1;
    const r = await igloo(cleanup, 'root', ['subid', 'grant', users[3]!.name], { env: files });
    assert.equal(r.status, 1);
    assert.ok(r.stderr.includes(`${files.IGLOO_SUBUID}`), r.stderr);
    assert.ok(r.stderr.includes(`line ${line}`), r.stderr);
    assert.equal(readFileSync(files.IGLOO_SUBUID, 'utf8'), snapshot);
    const ls = await igloo(cleanup, 'root', ['subid', 'ls', '--json'], { env: files });
    assert.equal(ls.status, 1, 'ls exits 1 when a file has problems');
    const report = JSON.parse(ls.stdout) as Array<{
      kind: string;
      problems: Array<{ line: number }>;
    }>;
    assert.deepEqual(
      report.find((r) => r.kind === 'uid')!.problems.map((p) => p.line),
      [line],
    );
  });

  test('an unknown user and a non-root caller are refused, and nothing is written', async () => {
    freshCopies();
    const snapshot = readFileSync(files.IGLOO_SUBUID, 'utf8');
    let r = await igloo(cleanup, 'root', ['subid', 'grant', 'igloo-no-such-user'], { env: files });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /Cannot find user "igloo-no-such-user"/);
    r = await igloo(cleanup, users[4]!, ['subid', 'grant', users[4]!.name], { env: files });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /only root/);
    assert.equal(readFileSync(files.IGLOO_SUBUID, 'utf8'), snapshot);
  });
});

describe('igloo subid revoke and ls', () => {
  test('revoke removes only that user, keeping other lines byte for byte', async () => {
    freshCopies();
    const original = readFileSync(files.IGLOO_SUBUID, 'utf8');
    const u = users[5]!;
    assert.equal(
      (await igloo(cleanup, 'root', ['subid', 'grant', u.name], { env: files })).status,
      0,
    );
    const ls = await igloo(cleanup, 'root', ['subid', 'ls', '--json'], { env: files });
    const report = JSON.parse(ls.stdout) as Array<{
      kind: string;
      entries: Array<{ owner: string }>;
    }>;
    assert.ok(report.every((r) => r.entries.some((e) => e.owner === u.name)));
    const r = await igloo(cleanup, 'root', ['subid', 'revoke', u.name], { env: files });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readFileSync(files.IGLOO_SUBUID, 'utf8'), original);
    const again = await igloo(cleanup, 'root', ['subid', 'revoke', u.name], { env: files });
    assert.equal(again.status, 1);
    assert.match(again.stderr, /neither/);
  });

  test('ls flags overlapping blocks in its table and its JSON', async () => {
    freshCopies('igloo-x:5000100:10\n');
    const ls = await igloo(cleanup, 'root', ['subid', 'ls'], { env: files });
    assert.equal(ls.status, 1);
    assert.match(ls.stdout, /igloo-x .*overlaps 4242 \(line \d+\)/);
    const json = await igloo(cleanup, 'root', ['subid', 'ls', '--json'], { env: files });
    const report = JSON.parse(json.stdout) as Array<{
      kind: string;
      overlaps: Array<{ a: { owner: string }; b: { owner: string } }>;
    }>;
    for (const r of report)
      assert.deepEqual(
        r.overlaps.map((o) => [o.a.owner, o.b.owner].sort()),
        [['4242', 'igloo-x']],
      );
  });
});
