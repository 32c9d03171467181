/**
 * `igloo audit` finds each misconfiguration a test plants, and nothing on a
 * clean setup. Everything lives in private directories and in copies of
 * the subid files (IGLOO_DATA_DIR, IGLOO_RUN_DIR, IGLOO_SUBUID,
 * IGLOO_SUBGID): the real /etc/subuid is never touched.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  Cleanup,
  createUser,
  igloo,
  requireRoot,
  stagedCli,
  tempDir,
  type TestUser,
} from '../support/host.ts';

const cleanup = new Cleanup();
let owner: TestUser;
let work: string;

interface Finding {
  severity: 'error' | 'warn';
  check: string;
  subject: string;
  message: string;
  why: string;
  fix: string;
}

function env(name: string, subuid: string): Record<string, string> {
  const base = join(work, name);
  const subPath = join(work, `${name}.subid`);
  writeFileSync(subPath, subuid);
  return {
    IGLOO_DATA_DIR: join(base, 'data'),
    IGLOO_RUN_DIR: join(base, 'run'),
    IGLOO_SUBUID: subPath,
    IGLOO_SUBGID: subPath,
  };
}

/** Writes a container's config directly, as a careless hand (or an old igloo) could. */
function plant(data: string, name: string, lines: string[], mode = 0o700): void {
  const dir = join(data, 'containers', name);
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, mode);
  writeFileSync(
    join(dir, 'config'),
    [`igloo.name = ${name}`, `igloo.rootfs = ${join(dir, 'rootfs')}`, ...lines, ''].join('\n'),
  );
}

before(() => {
  requireRoot();
  work = tempDir(cleanup, 'igloo-hard-audit-');
  owner = createUser(cleanup, 'igloo-hard-aud');
  stagedCli(cleanup);
});
after(() => cleanup.run());

describe('igloo audit', () => {
  test('finds every planted misconfiguration, each with why and fix', async () => {
    const e = env(
      'planted',
      `igloo-hard-aud:13000000:500000\nigloo-hard-other:13400000:200000\nbroken line\n`,
    );
    const data = e.IGLOO_DATA_DIR!;
    mkdirSync(join(data, 'containers'), { recursive: true, mode: 0o700 });
    const slice = (start: number) => [`igloo.idmap = b 0 ${start} 65536`];
    plant(data, 'share1', slice(13_000_000));
    plant(data, 'share2', slice(13_000_000));
    plant(data, 'hostroot', ['igloo.idmap = u 0 0 1', 'igloo.idmap = g 0 13100000 1']);
    plant(data, 'realuser', [...slice(13_100_000), 'igloo.idmap = u 65536 1 1']);
    plant(data, 'ownuid', [`igloo.idmap = u 0 ${owner.uid} 1`, `igloo.idmap = g 0 ${owner.gid} 1`]);
    plant(data, 'traverse', slice(13_200_000), 0o755);
    plant(data, 'unconfined', [...slice(13_300_000), 'igloo.seccomp = unconfined']);
    plant(data, 'morecaps', [...slice(13_310_000), 'igloo.cap.keep = sys_time, syslog']);
    plant(data, 'nonnp', [...slice(13_320_000), 'igloo.no_new_privs = false']);
    plant(data, 'notdeleg', slice(13_700_000));

    const r = await igloo(cleanup, 'root', ['audit', '--json', '--probe', '--user', owner.name], {
      env: e,
    });
    assert.equal(r.status, 1, r.stderr);
    const out = JSON.parse(r.stdout) as { ok: boolean; findings: Finding[] };
    assert.equal(out.ok, false);
    const has = (check: string, subject: RegExp, severity: 'error' | 'warn') => {
      const f = out.findings.find((x) => x.check === check && subject.test(x.subject));
      assert.ok(f, `${check} ${subject}: ${JSON.stringify(out.findings, null, 1)}`);
      assert.equal(f.severity, severity, `${check} severity`);
      assert.ok(f.why.length > 20 && f.fix.length > 5, `${check} says why and how to fix`);
    };
    has('subid-overlap', /planted\.subid/, 'error');
    has('subid-malformed', /planted\.subid/, 'warn');
    has('shared-slice', /share1, share2/, 'warn');
    has('maps-host-root', /hostroot/, 'error');
    has('maps-real-user', /realuser/, 'error');
    has('not-delegated', /realuser/, 'error');
    has('maps-owner', /ownuid/, 'warn');
    has('escape-reads', /ownuid/, 'error');
    has('traversable-dir', /traverse/, 'error');
    has('no-seccomp', /unconfined/, 'error');
    has('extra-caps', /morecaps/, 'warn');
    has('no-new-privs-off', /nonnp/, 'warn');
    has('not-delegated', /notdeleg/, 'error');
    const overlap = out.findings.find((f) => f.check === 'subid-overlap')!;
    assert.match(overlap.message, /igloo-hard-aud.*13000000-13499999.*igloo-hard-other/);
    const escaped = out.findings.find((f) => f.check === 'escape-reads')!;
    assert.match(escaped.message, new RegExp(`host root uid ${owner.uid}`));
    // a clean container of the same set has no finding of its own
    assert.equal(
      out.findings.some((f) => /container nonnp/.test(f.subject) && f.check !== 'no-new-privs-off'),
      false,
    );

    const text = await igloo(cleanup, 'root', ['audit', '--user', owner.name], { env: e });
    assert.equal(text.status, 1);
    assert.match(
      text.stdout,
      /^ERROR {2}maps-host-root {2}hostroot's id map includes host uid 0$/m,
    );
    assert.match(text.stdout, /^ {7}why: /m);
    assert.match(text.stdout, /^ {7}fix: /m);
  });

  test('reports nothing on a clean setup, with a running container probed', async () => {
    const e = env('clean', `root:13600000:400000\n`);
    const created = await igloo(cleanup, 'root', ['create', 'clean1'], { env: e });
    assert.equal(created.status, 0, created.stderr);
    cleanup.add('destroy clean1', async () => {
      const d = await igloo(cleanup, 'root', ['destroy', '--force', 'clean1'], { env: e });
      if (d.status !== 0 && !/No container named/.test(d.stderr)) throw new Error(d.stderr);
    });
    const started = await igloo(cleanup, 'root', ['start', 'clean1'], { env: e });
    assert.equal(started.status, 0, started.stderr);
    const r = await igloo(cleanup, 'root', ['audit', '--json', '--probe'], { env: e });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const out = JSON.parse(r.stdout) as { ok: boolean; findings: Finding[] };
    assert.deepEqual(out.findings, []);
    assert.equal(out.ok, true);
    const text = await igloo(cleanup, 'root', ['audit'], { env: e });
    assert.match(text.stdout, /^ok {2}no findings for root/);
  });

  test("ids reserved for root's shared images: audit flags a block over them, create never maps them", async () => {
    // 0x7FFE0000 + 3 * 65536: a hand-written block whose middle slice is the reserved range.
    const e = env('reserved', `root:2147352576:196608\n`);
    const audit = await igloo(cleanup, 'root', ['audit', '--json', '--user', owner.name], {
      env: e,
    });
    assert.equal(audit.status, 1, audit.stderr);
    const out = JSON.parse(audit.stdout) as { ok: boolean; findings: Finding[] };
    const flagged = out.findings.filter((f) => f.check === 'subid-reserved');
    // Once for each of the two files (here one file serves as both).
    assert.equal(flagged.length, 2, JSON.stringify(out.findings, null, 1));
    for (const f of flagged) {
      assert.match(f.message, /"root" 2147352576-2147549183 \(line 1\)/);
      assert.equal(f.severity, 'error');
      assert.match(f.message, /2147418112-2147483647/);
      assert.match(f.fix, /igloo subid revoke/);
    }
    for (const args of [
      ['create', 'reserved1', '--idmap', 'b 0 2147418112 65536'],
      ['create', 'reserved1', '--idmap', 'u 0 2147352576 65537 g 0 2147352576 1'],
      ['create', 'reserved1', '--slice-start', '2147418112'],
    ]) {
      const r = await igloo(cleanup, 'root', args, { env: e });
      assert.notEqual(r.status, 0, `${args.join(' ')} was refused`);
      assert.match(r.stderr, /reserved for the owners of root's shared images/, r.stderr);
      assert.ok(
        !existsSync(join(e.IGLOO_DATA_DIR!, 'containers', 'reserved1')),
        `${args.join(' ')} changed nothing`,
      );
    }
  });

  test('--probe and --user need root', async () => {
    for (const args of [
      ['audit', '--probe'],
      ['audit', '--user', 'root'],
    ]) {
      const r = await igloo(cleanup, owner, args, {
        env: { IGLOO_DATA_DIR: join(work, 'u-data'), IGLOO_RUN_DIR: join(work, 'u-run') },
      });
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /root/);
      assert.match(r.stderr, /hint: /);
    }
  });
});
