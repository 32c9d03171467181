/**
 * Crashes at every failpoint (src/host/failpoint.ts) of create, start,
 * exec, run, stop, destroy, image import and subid grant, as a real test
 * user: igloo (or its helper) is killed with SIGKILL there, then the next
 * commands must tell the truth (ls, info, audit), finish or undo the
 * operation, and leave nothing behind: no process, no mount, no lock, no
 * half-written file, no slice lost or double-booked. Then the faults from
 * outside: the monitor or init killed, the host "rebooted", corrupt files.
 * docs/reliability.md is the table of these.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync, chownSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FAILPOINTS, type Failpoint } from '../../src/host/failpoint.ts';
import { asUser } from '../support/as-user.ts';
import { userWithBlock } from '../support/cli-checks.ts';
import {
  Cleanup,
  createUser,
  igloo,
  liveProcesses,
  rootTestEnv,
  tempDir,
  type RunResult,
  type TestUser,
} from '../support/host.ts';
import { ociArchive, makeTar } from '../support/oci.ts';
import { until } from '../support/wait.ts';

const cleanup = new Cleanup();
const BLOCK = 21_000_000;
const SLICE = 65536;
const CRIU_BLOCK = 25_000_000;
let user: TestUser;
const as = asUser(cleanup, () => user);
const data = () => join(user.home, '.local/share/igloo');
const containers = () => join(data(), 'containers');

before(async () => {
  user = await userWithBlock(cleanup, 'igloo-faults', BLOCK);
});
after(() => cleanup.run());

/** igloo ARGS as the test user with IGLOO_FAILPOINT=NAME: it must die of SIGKILL (or, for a helper failpoint, fail). */
async function crashAt(fp: Failpoint, args: readonly string[], env: Record<string, string> = {}) {
  const r = await as.run(args, { IGLOO_FAILPOINT: fp.name, ...env });
  if (fp.side === 'node')
    assert.equal(
      r.signal,
      'SIGKILL',
      `${fp.name}: igloo ${args.join(' ')} was not killed: ${r.stderr}`,
    );
  else assert.ok(r.signal === 'SIGKILL' || r.status !== null, `${fp.name}: ${r.stderr}`);
  return r;
}

interface Listed {
  name: string;
  state: string;
  pid: number | null;
  error?: string;
  idmap: { uid: Array<{ outside: number }> } | null;
}
async function ls(): Promise<Listed[]> {
  return JSON.parse((await as.ok(['ls', '--json'])).stdout) as Listed[];
}
async function listed(name: string): Promise<Listed | undefined> {
  return (await ls()).find((c) => c.name === name);
}
async function audit(): Promise<Array<{ check: string; subject: string; fix: string }>> {
  const r = await as.run(['audit', '--json']);
  return (
    JSON.parse(r.stdout) as { findings: Array<{ check: string; subject: string; fix: string }> }
  ).findings;
}

/** Live (not zombie) processes whose real uid is UID or in [from, from+count). */
function processesOf(uid: number, from = BLOCK, count = 1_000_000): string[] {
  return liveProcesses()
    .filter((p) => p.uid === uid || (p.uid >= from && p.uid < from + count))
    .map((p) => `${p.pid} uid ${p.uid} ${p.cmdline}`);
}

/** A small OCI archive the test user may read. */
function userArchive(): string {
  const archive = join(tempDir(cleanup, 'igloo-faults-img-'), 'img.tar');
  writeFileSync(
    archive,
    ociArchive({
      layers: [makeTar([{ path: 'hello', data: 'hi\n' }])],
      config: { Cmd: ['/hello'] },
    }),
  );
  chownSync(archive, user.uid, user.gid);
  return archive;
}

/** Creates NAME for this test; it is destroyed (forced) when the test ends, passed or failed. */
async function mine(
  t: { after: (fn: () => Promise<void>) => void },
  name: string,
): Promise<Listed> {
  await as.ok(['create', name, '--net', 'none']);
  t.after(async () => {
    const r = await as.run(['destroy', '--force', name]);
    if (r.status !== 0 && !/No container named/.test(r.stderr)) throw new Error(r.stderr);
  });
  return (await listed(name))!;
}

/** Nothing of the user's is left: no process, no mount below their home, no lock or temp file. */
async function assertNothingLeft(context: string): Promise<void> {
  await until(
    `${context}: no process of ${user.name} or their ids (${processesOf(user.uid).join('; ')})`,
    () => processesOf(user.uid).length === 0,
  );
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.includes(user.home));
  assert.deepEqual(mounts, [], `${context}: mounts left`);
  const stray: string[] = [];
  const walk = (dir: string, depth: number) => {
    if (!existsSync(dir) || depth > 2) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (/\.lock$|\.igloo-\d|^\.import-|^\.build-/.test(e.name)) stray.push(join(dir, e.name));
      if (e.isDirectory() && e.name !== 'rootfs' && e.name !== 'layers')
        walk(join(dir, e.name), depth + 1);
    }
  };
  walk(data(), 0);
  assert.deepEqual(stray, [], `${context}: lock, temp or staging files left`);
}

/** The truth about NAME: ls says running exactly when its init lives, and no other of its processes exists. */
async function assertTruthful(name: string, context: string): Promise<Listed> {
  const c = await listed(name);
  assert.ok(c, `${context}: ${name} is not listed`);
  const root = c.idmap?.uid[0]?.outside;
  if (c.state === 'running') {
    assert.ok(
      c.pid && existsSync(`/proc/${c.pid}`),
      `${context}: ls says running, pid ${c.pid} is gone`,
    );
  } else if (root !== undefined) {
    await until(
      `${context}: ${name} is ${c.state}, yet its ids run ${processesOf(-1, root, SLICE).join('; ')}`,
      () => processesOf(-1, root, SLICE).length === 0,
    );
  }
  const info = await as.run(['info', name]);
  assert.equal(info.status, 0, `${context}: info: ${info.stderr}`);
  assert.match(info.stdout, new RegExp(`state\\s+${c.state}`), `${context}: info and ls differ`);
  return c;
}

describe('a crash at each failpoint', () => {
  test('create: the container is half-made, says so, and destroy removes it; its slice is not lost', async () => {
    const first = (await mine({ after: () => undefined }, 'fc-probe')).idmap!.uid[0]!.outside;
    await as.ok(['destroy', 'fc-probe']);
    for (const fp of FAILPOINTS.create) {
      const name = `fc-${fp.name.replace(/^create-/, '')}`.slice(0, 30);
      await crashAt(fp, ['create', name, '--net', 'none']);
      const c = await listed(name);
      assert.ok(c, `${fp.name}: not listed`);
      assert.match(
        c.error ?? '',
        /half-made.*igloo destroy/,
        `${fp.name}: ls: ${JSON.stringify(c)}`,
      );
      const start = await as.run(['start', name]);
      assert.equal(start.status, 1, `${fp.name}: start of a half-made container`);
      assert.match(start.stderr, /half-made/);
      assert.match(start.stderr, new RegExp(`igloo destroy ${name}`));
      const again = await as.run(['create', name, '--net', 'none']);
      assert.match(again.stderr, /half-made/, `${fp.name}: create again`);
      const found = (await audit()).filter((f) => f.check === 'half-made');
      assert.equal(found.length, 1, `${fp.name}: audit: ${JSON.stringify(found)}`);
      assert.match(found[0]!.fix, new RegExp(`igloo destroy ${name}`));
      await as.ok(['destroy', name]);
      assert.equal(existsSync(join(containers(), name)), false, `${fp.name}: directory left`);
      assert.equal(await listed(name), undefined);
      // The slice came back: a new container gets the block's first one.
      await as.ok(['create', 'fc-after', '--net', 'none']);
      assert.equal((await listed('fc-after'))?.idmap?.uid[0]?.outside, first, fp.name);
      await as.ok(['destroy', 'fc-after']);
      await assertNothingLeft(fp.name);
    }
  });

  test('start: ls and info tell the truth, stop and start work after', async (t) => {
    await mine(t, 'fs');
    for (const fp of FAILPOINTS.start) {
      await crashAt(fp, ['start', 'fs']);
      const c = await assertTruthful('fs', fp.name);
      if (fp.name === 'monitor-started' || (fp.side === 'node' && fp.name !== 'start-rundir-made'))
        assert.equal(c.state, 'running', `${fp.name}: init runs after READY: ${JSON.stringify(c)}`);
      if (c.state === 'running') {
        const again = await as.run(['start', 'fs']);
        assert.match(again.stderr, /running already/, `${fp.name}: a second init`);
        await as.ok(['exec', 'fs', '--', '/bin/true']);
        await as.ok(['stop', 'fs', '--timeout', '0']);
        await assertTruthful('fs', `${fp.name}, stopped`);
      }
      await as.ok(['start', 'fs']);
      assert.equal(
        (await as.ok(['exec', 'fs', '--', '/bin/cat', '/proc/1/comm'])).stdout.trim(),
        'init',
      );
      await as.ok(['stop', 'fs', '--timeout', '0']);
      await assertNothingLeft(fp.name);
    }
  });

  test('exec: the container runs on and the next exec works', async (t) => {
    await mine(t, 'fe');
    await as.ok(['start', 'fe']);
    const init = (await listed('fe'))!.pid!;
    const count = async () =>
      Number(
        (await as.ok(['exec', 'fe', '--', '/bin/sh', '-c', "ls /proc | grep -c '^[0-9]'"])).stdout,
      );
    const baseline = await count();
    for (const fp of FAILPOINTS.exec) {
      // The Node side runs only without a prepared plan (the native front runs those).
      await crashAt(fp, ['exec', 'fe', '--', '/bin/sleep', '0.2'], {
        ...(fp.side === 'node' && { IGLOO_PREPARED: '0' }),
      });
      const c = await assertTruthful('fe', fp.name);
      assert.equal(c.pid, init, `${fp.name}: init changed`);
      // Killed before it ran, or ended (an exec outlives its killed client, as in runc): none left.
      await until(
        `${fp.name}: no process of the exec left in fe`,
        async () => (await count()) === baseline,
      );
    }
    await as.ok(['stop', 'fe', '--timeout', '0']);
    await assertNothingLeft('exec');
  });

  test('run: the state follows the process, the next run works', async (t) => {
    await mine(t, 'fr');
    for (const fp of FAILPOINTS.run) {
      await crashAt(fp, ['run', '--name', 'fr', '--', '/bin/sleep', '0.3']);
      await assertTruthful('fr', fp.name);
      await until(`${fp.name}: fr stops`, async () => (await listed('fr'))?.state !== 'running');
      const r = await as.ok(['run', '--name', 'fr', '--', '/bin/sh', '-c', 'echo ran']);
      assert.equal(r.stdout.trim(), 'ran');
      assert.equal((await listed('fr'))?.state, 'stopped');
      await assertNothingLeft(fp.name);
    }
  });

  test('stop: the container ends stopped, and starts again', async (t) => {
    await mine(t, 'fx');
    for (const fp of FAILPOINTS.stop) {
      await as.ok(['start', 'fx']);
      await crashAt(fp, ['stop', 'fx', '--timeout', '0']);
      await until(`${fp.name}: fx stops`, async () => (await listed('fx'))?.state === 'stopped');
      await assertTruthful('fx', fp.name);
      await as.ok(['stop', 'fx']);
      await as.ok(['start', 'fx']);
      await as.ok(['stop', 'fx', '--timeout', '0']);
      await assertNothingLeft(fp.name);
    }
  });

  test('destroy: a second destroy finishes it and frees the slice', async (t) => {
    for (const fp of FAILPOINTS.destroy) {
      const slice = (await mine(t, 'fd')).idmap!.uid[0]!.outside;
      await as.ok(['start', 'fd']);
      await crashAt(fp, ['destroy', '--force', 'fd']);
      await assertTruthful('fd', fp.name);
      await as.ok(['destroy', '--force', 'fd']);
      assert.equal(existsSync(join(containers(), 'fd')), false, `${fp.name}: directory left`);
      await as.ok(['create', 'fd-after', '--net', 'none']);
      assert.equal((await listed('fd-after'))?.idmap?.uid[0]?.outside, slice, fp.name);
      await as.ok(['destroy', 'fd-after']);
      await assertNothingLeft(fp.name);
    }
  });

  test('image import: a killed import leaves no image and no staging; the next import works', async () => {
    const archive = userArchive();
    for (const fp of FAILPOINTS['image import']) {
      await crashAt(fp, ['image', 'import', archive, '--name', 'fimg']);
      const images = (await as.ok(['image', 'ls'])).stdout;
      if (fp.name === 'image-import-saved') assert.match(images, /fimg/, fp.name);
      else {
        assert.doesNotMatch(images, /fimg/, fp.name);
        assert.ok(
          (await audit()).some((f) => f.check === 'half-made-image'),
          `${fp.name}: audit`,
        );
      }
      await as.run(['image', 'rm', 'fimg']);
      await as.ok(['image', 'import', archive, '--name', 'fimg']);
      await as.ok(['image', 'rm', 'fimg']);
      await assertNothingLeft(fp.name);
    }
  });

  test('subid grant: the interrupted grant is reported and the next grant finishes it', async () => {
    const dir = tempDir(cleanup, 'igloo-faults-subid-');
    const env = { IGLOO_SUBUID: join(dir, 'subuid'), IGLOO_SUBGID: join(dir, 'subgid') };
    writeFileSync(env.IGLOO_SUBUID, 'someone:100000:65536\n');
    writeFileSync(env.IGLOO_SUBGID, 'someone:100000:65536\n');
    const grantee = createUser(cleanup, 'igloo-fgrant');
    for (const fp of FAILPOINTS['subid grant']) {
      const args = ['subid', 'grant', grantee.name, '--start', '300000', '--count', '65536'];
      const r = await igloo(cleanup, 'root', args, { env: { ...env, IGLOO_FAILPOINT: fp.name } });
      assert.equal(r.signal, 'SIGKILL', r.stderr);
      const half = await igloo(cleanup, 'root', ['audit', '--json'], { env });
      assert.match(half.stdout, /subid-unpaired/, fp.name);
      const done = await igloo(cleanup, 'root', args, { env });
      assert.equal(done.status, 0, done.stderr);
      const line = `${grantee.name}:300000:65536`;
      assert.equal(
        readFileSync(env.IGLOO_SUBUID, 'utf8')
          .split('\n')
          .filter((l) => l === line).length,
        1,
      );
      assert.equal(
        readFileSync(env.IGLOO_SUBGID, 'utf8')
          .split('\n')
          .filter((l) => l === line).length,
        1,
      );
      assert.deepEqual(
        readdirSync(dir).sort(),
        ['subgid', 'subuid'],
        `${fp.name}: lock or temp left`,
      );
      const clean = await igloo(cleanup, 'root', ['audit', '--json'], { env });
      assert.doesNotMatch(clean.stdout, /subid-unpaired/);
      assert.equal(
        (await igloo(cleanup, 'root', ['subid', 'revoke', grantee.name], { env })).status,
        0,
      );
    }
  });
});

describe('faults from outside', () => {
  test('the monitor killed while the container runs: ls says running, exec and stop work', async (t) => {
    await mine(t, 'fm');
    await as.ok(['start', 'fm']);
    const { pid } = (await listed('fm'))!;
    const monitor = Number(
      readFileSync(join('/proc', String(pid), 'stat'), 'utf8')
        .split(') ')[1]!
        .split(' ')[1],
    );
    assert.match(readFileSync(`/proc/${monitor}/cmdline`, 'utf8'), /igloo-helper/);
    process.kill(monitor, 'SIGKILL');
    await until(
      'the monitor is gone',
      () =>
        !existsSync(`/proc/${monitor}/cmdline`) ||
        /^State:\s+Z/m.test(readFileSync(`/proc/${monitor}/status`, 'utf8')),
    );
    assert.equal((await assertTruthful('fm', 'monitor killed')).state, 'running');
    await as.ok(['exec', 'fm', '--', '/bin/true']);
    await as.ok(['stop', 'fm', '--timeout', '0']);
    assert.equal((await assertTruthful('fm', 'monitor killed, stopped')).state, 'stopped');
    await as.ok(['start', 'fm']);
    await as.ok(['stop', 'fm', '--timeout', '0']);
    await assertNothingLeft('monitor killed');
  });

  test('init killed: ls says stopped with how it ended, start works', async (t) => {
    await mine(t, 'fi');
    await as.ok(['start', 'fi']);
    process.kill((await listed('fi'))!.pid!, 'SIGKILL');
    await until('fi stops', async () => (await listed('fi'))?.state === 'stopped');
    const c = await assertTruthful('fi', 'init killed');
    assert.match(JSON.stringify(c), /SIGKILL/);
    await as.ok(['start', 'fi']);
    await as.ok(['stop', 'fi', '--timeout', '0']);
    await assertNothingLeft('init killed');
  });

  test('the host rebooted (processes gone, run directory emptied): ls says stopped, start works', async (t) => {
    await mine(t, 'fb');
    await as.ok(['start', 'fb']);
    const { pid } = (await listed('fb'))!;
    const monitor = Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
    process.kill(monitor, 'SIGKILL');
    process.kill(pid!, 'SIGKILL');
    const run = join(user.home, '.cache/igloo/run');
    assert.ok(existsSync(run), 'the run directory is where the test expects it');
    await until('init is gone', () => processesOf(user.uid).length === 0);
    rmSync(run, { recursive: true, force: true });
    assert.equal((await assertTruthful('fb', 'rebooted')).state, 'stopped');
    await as.ok(['start', 'fb']);
    await as.ok(['exec', 'fb', '--', '/bin/true']);
    await as.ok(['stop', 'fb', '--timeout', '0']);
    await assertNothingLeft('rebooted');
  });

  test('corrupt and truncated files: a clear error naming the file, audit reports it, nothing starts', async (t) => {
    await mine(t, 'fk');
    const dir = join(containers(), 'fk');
    const write = (file: string, text: string) => {
      writeFileSync(join(dir, file), text);
      chownSync(join(dir, file), user.uid, user.gid);
    };
    const state = readFileSync(join(dir, 'state.json'), 'utf8');
    const config = readFileSync(join(dir, 'config'), 'utf8');

    const expectRefused = async (file: string, context: string, r: RunResult) => {
      assert.equal(r.status, 1, `${context}: ${r.stderr}`);
      assert.ok(
        r.stderr.includes(join(dir, file)),
        `${context}: the error names ${file}: ${r.stderr}`,
      );
      assert.doesNotMatch(
        r.stderr,
        /at .*\.ts:\d+|TypeError|SyntaxError: Unexpected/,
        `${context}: a crash`,
      );
      assert.equal(processesOf(user.uid).length, 0, `${context}: something started`);
    };
    try {
      for (const [what, text] of [
        ['truncated', state.slice(0, 10)],
        ['empty', ''],
        ['garbage', '\u0000\u0001{{'],
      ] as const) {
        write('state.json', text);
        await expectRefused(
          'state.json',
          `state.json ${what}: start`,
          await as.run(['start', 'fk']),
        );
        await expectRefused('state.json', `state.json ${what}: info`, await as.run(['info', 'fk']));
        assert.ok(
          (await audit()).some((f) => f.check === 'corrupt-state' && f.subject === 'container fk'),
          `state.json ${what}: audit`,
        );
        assert.ok(
          (await ls()).some((c) => c.name === 'fk' && c.error),
          `state.json ${what}: ls`,
        );
      }
      write('state.json', state);
      for (const [what, text] of [
        ['truncated', config.slice(0, config.indexOf('idmap') + 12)],
        ['garbage', 'igloo.idmap = u 0\n\u0000'],
      ] as const) {
        write('config', text);
        await expectRefused('config', `config ${what}: start`, await as.run(['start', 'fk']));
        assert.ok(
          (await audit()).some((f) => f.check === 'invalid-config' && f.subject === 'container fk'),
          `config ${what}: audit`,
        );
      }
    } finally {
      write('state.json', state);
      write('config', config);
    }
    await as.ok(['start', 'fk']);
    await as.ok(['stop', 'fk', '--timeout', '0']);
  });
});

test('checkpoint and restore (root, CRIU): after a crash at each point, the truth and a way on', async () => {
  const dir = tempDir(cleanup, 'igloo-faults-criu-', 0o700);
  const env = rootTestEnv(dir, CRIU_BLOCK);
  const root = (args: readonly string[], more: Record<string, string> = {}) =>
    igloo(cleanup, 'root', args, { env: { ...env, ...more } });
  const ok = async (args: readonly string[]) => {
    const r = await root(args);
    assert.equal(r.status, 0, `igloo ${args.join(' ')}: ${r.stderr}`);
    return r;
  };
  const state = async () =>
    (JSON.parse((await ok(['ls', '--json'])).stdout) as Listed[]).find((c) => c.name === 'ck')!;
  const idsRun = () => processesOf(-1, CRIU_BLOCK, 1_000_000).length > 0;
  const stopped = async (context: string) => {
    await until(`${context}: ck is stopped and nothing of it runs`, async () => {
      const c = await state();
      return c.state !== 'running' && !idsRun();
    });
  };
  const container = join(env.IGLOO_DATA_DIR!, 'containers', 'ck');
  const leftovers = () => readdirSync(container).filter((e) => e.includes('.igloo-'));
  cleanup.add('destroy ck', async () => {
    await root(['destroy', '--force', 'ck']);
  });
  await ok(['create', 'ck', '--net', 'none']);
  for (const fp of FAILPOINTS.checkpoint) {
    await ok(['start', 'ck']);
    const r = await root(['checkpoint', 'ck'], { IGLOO_FAILPOINT: fp.name });
    assert.equal(r.signal, 'SIGKILL', `${fp.name}: ${r.stderr}`);
    // criu killed the tree: ls says stopped, whatever state.json said.
    await stopped(fp.name);
    if (fp.name === 'checkpoint-renamed') {
      await ok(['restore', 'ck']);
      assert.equal((await state()).state, 'running', `${fp.name}: restored`);
      await ok(['exec', 'ck', '--', '/bin/true']);
    } else {
      await ok(['start', 'ck']);
      await ok(['checkpoint', 'ck']); // sweeps what the killed one left
      assert.deepEqual(leftovers(), [], `${fp.name}: temporary directories left`);
      await ok(['restore', 'ck']);
    }
    await ok(['stop', 'ck', '--timeout', '0']);
    await stopped(`${fp.name}, stopped`);
  }
  await ok(['start', 'ck']);
  await ok(['checkpoint', 'ck']);
  for (const fp of FAILPOINTS.restore) {
    const r = await root(['restore', 'ck'], { IGLOO_FAILPOINT: fp.name });
    assert.equal(r.signal, 'SIGKILL', `${fp.name}: ${r.stderr}`);
    const c = await state();
    if (fp.name === 'restore-ready') {
      assert.equal(c.state, 'running', `${fp.name}: init was restored: ${JSON.stringify(c)}`);
      assert.ok(c.pid && existsSync(`/proc/${c.pid}`));
      assert.match((await root(['restore', 'ck'])).stderr, /running/);
      await ok(['exec', 'ck', '--', '/bin/true']);
      await ok(['checkpoint', 'ck']);
    } else await stopped(fp.name);
    await ok(['restore', 'ck']);
    await ok(['checkpoint', 'ck']);
  }
  await ok(['destroy', 'ck']);
  await until('nothing of ck runs', () => !idsRun());
});

test('a corrupt image.json, prepared plan or subid line: named, reported, never a wrong start', async (t) => {
  // image.json
  const archive = userArchive();
  await as.ok(['image', 'import', archive, '--name', 'fbad']);
  const imageJson = join(data(), 'images', 'fbad+latest', 'image.json');
  assert.ok(existsSync(imageJson), imageJson);
  t.after(() => rmSync(join(data(), 'images', 'fbad+latest'), { recursive: true, force: true }));
  writeFileSync(imageJson, readFileSync(imageJson, 'utf8').slice(0, 40));
  const create = await as.run(['create', 'fbad-c', '--image', 'fbad', '--net', 'none']);
  assert.equal(create.status, 1, create.stderr);
  assert.ok(create.stderr.includes(imageJson), `the error names image.json: ${create.stderr}`);
  assert.equal(await listed('fbad-c'), undefined, 'nothing was created');
  assert.ok((await audit()).some((f) => f.check === 'corrupt-image' && f.subject === imageJson));

  // prepared plans: garbage is never run; igloo exec and run go through Node instead
  await mine(t, 'fp');
  await as.ok(['start', 'fp']);
  const run = join(user.home, '.cache/igloo/run');
  const plan = join(run, 'fp', 'prepared-exec');
  assert.ok(existsSync(plan), 'start wrote a prepared exec plan');
  for (const text of [
    readFileSync(plan, 'utf8').slice(0, 50),
    'igloo-prepared\nexec /bin/false 0 0\n',
  ]) {
    writeFileSync(plan, text);
    chownSync(plan, user.uid, user.gid);
    const r = await as.run(['exec', 'fp', '--', '/bin/sh', '-c', 'echo in-$(hostname)']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'in-fp');
  }
  await as.ok(['stop', 'fp', '--timeout', '0']);
  await as.ok(['run', '--net', 'none', '--', '/bin/true']); // prepares the next one-shot run
  const runPlan = join(data(), 'prepared', 'run', 'plan');
  if (existsSync(runPlan)) {
    writeFileSync(runPlan, 'igloo-prepared\n\u0000garbage');
    const r = await as.run(['run', '--', '/bin/sh', '-c', 'echo one-shot']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'one-shot');
  }

  // subid lines: a malformed line is named with its file and line; others' containers still work
  const sub = tempDir(cleanup, 'igloo-faults-sub-');
  const env = { IGLOO_SUBUID: join(sub, 'subuid'), IGLOO_SUBGID: join(sub, 'subgid') };
  writeFileSync(env.IGLOO_SUBUID, `${user.name}:${BLOCK}:1000000\n${user.name}:12x:1\n`);
  writeFileSync(env.IGLOO_SUBGID, `${user.name}:${BLOCK}:1000000\ngarbage\n`);
  const findings = JSON.parse((await as.run(['audit', '--json'], env)).stdout) as {
    findings: Array<{ check: string; message: string }>;
  };
  const malformed = findings.findings.filter((f) => f.check === 'subid-malformed');
  assert.equal(malformed.length, 2, JSON.stringify(findings));
  assert.ok(malformed.some((f) => f.message.includes(`${env.IGLOO_SUBUID} line 2`)));
  assert.ok(malformed.some((f) => f.message.includes(`${env.IGLOO_SUBGID} line 2`)));
  const grant = await igloo(cleanup, 'root', ['subid', 'grant', 'root'], { env });
  assert.equal(grant.status, 1, grant.stderr);
  assert.ok(grant.stderr.includes(env.IGLOO_SUBUID), grant.stderr);
  assert.equal(readFileSync(env.IGLOO_SUBUID, 'utf8').split('\n').length, 3, 'grant wrote nothing');
  await as.ok(['create', 'fsub', '--net', 'none'], env);
  await as.ok(['destroy', 'fsub'], env);
});
