/**
 * podman drives igloo-runc (issue 16): `podman --runtime igloo-runc` with
 * a containers.conf of the test's own (test/support/oci-engines.ts), on a
 * busybox image loaded from an archive the test wrote, as root and as a
 * rootless test user. Each step is checked from the engine's side and from
 * the host's (the init's pid and namespaces, its cgroup files, the
 * runtime's calls as the logging wrapper saw them).
 *
 * While igloo-runc is young, IGLOO_OCI_TEST_RUNTIME=runc runs the same test
 * against runc (the harness's own check); what CI runs is igloo-runc.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  Cleanup,
  assertRangeFree,
  createUser,
  delegate,
  procStatus,
  requireRoot,
  type TestUser,
} from '../support/host.ts';
import {
  podman,
  ptyDrive,
  runtimeUnderTest,
  waitUntil,
  type Podman,
  type RuntimeUnderTest,
} from '../support/oci-engines.ts';

const IMAGE = 'localhost/igloo-engines:test';
const RANGE = 91_000_000;
const cleanup = new Cleanup();
let runtime: RuntimeUnderTest;

/** init: says it started, ticks every 0.2 s, and ends cleanly on SIGTERM */
const INIT = [
  'sh',
  '-c',
  'echo started; trap "echo got-term; exit 0" TERM; i=0; while :; do i=$((i+1)); echo tick-$i; sleep 0.2 & wait; done',
];

async function state(p: Podman, name: string): Promise<{ status: string; pid: number }> {
  const r = await p.ok(['inspect', '-f', '{{.State.Status}} {{.State.Pid}}', name]);
  const [status, pid] = r.stdout.trim().split(' ');
  return { status: status!, pid: Number(pid) };
}

/** The host path of PID's cgroup in the v1 hierarchy CONTROLLER. */
function cgroupDir(pid: number, controller: string): string {
  const line = readFileSync(`/proc/${pid}/cgroup`, 'utf8')
    .split('\n')
    .find((l) => l.split(':')[1]!.split(',').includes(controller));
  assert.ok(line, `pid ${pid} has no ${controller} cgroup`);
  return `/sys/fs/cgroup/${controller}${line.split(':')[2]}`;
}

const lastTick = (logs: string) =>
  Math.max(0, ...[...logs.matchAll(/tick-(\d+)/g)].map((m) => Number(m[1])));

async function waitForLogs(
  p: Podman,
  name: string,
  check: (logs: string) => boolean,
  what: string,
) {
  let logs = '';
  await waitUntil(
    async () => {
      logs = (await p.ok(['logs', name])).stdout;
      return check(logs);
    },
    `${what} in podman logs ${name} (last: ${logs.slice(-200)})`,
  );
  return logs;
}

/** The lifecycle both identities share: run -d, exec, exec -t, logs. Returns init's host pid. */
async function runDetached(p: Podman, name: string): Promise<number> {
  const id = (await p.ok(['run', '-d', '--name', name, IMAGE, ...INIT])).stdout.trim();
  assert.match(id, /^[0-9a-f]{64}$/);
  const s = await state(p, name);
  assert.equal(s.status, 'running');
  // the runtime made it: podman's create went through the wrapper to the runtime under test
  assert.ok(
    p.runtime.calls().some((c) => c.includes('create') && c.includes('--bundle') && c.endsWith(id)),
    `no create call for ${id}:\n${p.runtime.text()}`,
  );
  // the host sees init as pid 1 of a pid namespace of its own
  const nspid = procStatus(s.pid).NSpid!.split('\t');
  assert.equal(nspid.length, 2, `NSpid ${nspid.join(' ')}`);
  assert.equal(nspid[1], '1');
  await waitForLogs(p, name, (l) => /started/.test(l) && lastTick(l) >= 1, 'the first tick');
  return s.pid;
}

async function execChecks(
  p: Podman,
  name: string,
  hostUser: string,
  hostUid: number,
): Promise<void> {
  const r = await p.ok(['exec', name, 'sh', '-c', 'id -u; cat /proc/1/cmdline | tr "\\0" " "']);
  const [uid, cmdline] = r.stdout.split('\n');
  assert.equal(uid, '0');
  assert.match(cmdline!, /^sh -c echo started/);
  assert.ok(
    p.runtime.calls().some((c) => /\bexec\b.*--process/.test(c)),
    p.runtime.text(),
  );
  const t = await p.ok(['exec', '-t', name, 'sh', '-c', 'tty; test -t 1 && echo stdout-is-a-tty']);
  assert.match(t.stdout, /^\/dev\/pts\/\d+\r?\n/);
  assert.match(t.stdout, /stdout-is-a-tty/);
  assert.ok(
    p.runtime
      .calls()
      .some(
        (c) =>
          /\bexec\b.*--tty.*--console-socket/.test(c) ||
          /\bexec\b.*--console-socket.*--tty/.test(c),
      ),
    `exec -t did not ask for a console socket:\n${p.runtime.text()}`,
  );
  // podman reads the container's processes from the host: init runs as HOSTUSER (HOSTUID) there
  const ids = (await p.ok(['top', name, 'huser', 'args'])).stdout;
  assert.match(ids, new RegExp(`^(${hostUser}|${hostUid})\\s+sh -c echo started`, 'm'), ids);
}

async function stopAndRemove(p: Podman, name: string, pid: number): Promise<void> {
  await p.ok(['stop', '-t', '10', name]);
  const s = await state(p, name);
  assert.equal(s.status, 'exited');
  assert.equal((await p.ok(['inspect', '-f', '{{.State.ExitCode}}', name])).stdout.trim(), '0');
  assert.match((await p.ok(['logs', name])).stdout, /got-term/);
  assert.ok(
    p.runtime.calls().some((c) => /\bkill\b.* 15$/.test(c)),
    p.runtime.text(),
  );
  assert.equal(existsSync(`/proc/${pid}`), false, `init ${pid} is still there`);
  await p.ok(['rm', name]);
  assert.equal((await p.run(['inspect', name])).status, 125);
  assert.ok(
    p.runtime.calls().some((c) => /\bdelete\b/.test(c)),
    p.runtime.text(),
  );
}

async function interactive(p: Podman, name: string): Promise<void> {
  const r = await ptyDrive(
    p.user,
    p.argv(['run', '--rm', '-it', '--name', name, IMAGE, 'sh']),
    [
      { expect: '# ' },
      { send: 'tty; echo answer-$((6*7))\r', expect: '/dev/pts/\\d+' },
      { expect: 'answer-42' },
      { send: 'exit 3\r' },
    ],
    { env: p.env },
  );
  assert.equal(r.status, 3, `podman run -it: ${r.stderr}\n${r.stdout}\n${p.runtime.text()}`);
  assert.ok(
    p.runtime.calls().some((c) => /\bcreate\b.*--console-socket/.test(c)),
    p.runtime.text(),
  );
  assert.equal((await p.run(['inspect', name])).status, 125, `${name} was not removed`);
}

before(() => {
  requireRoot();
  runtime = runtimeUnderTest(cleanup);
});
after(() => cleanup.run());

describe(`podman --runtime igloo-runc as root`, { timeout: 300_000 }, () => {
  let p: Podman;
  let pid: number;
  before(async () => {
    p = await podman(cleanup, { user: 'root', runtime, image: IMAGE });
  });

  test('run -d: the container runs, init is pid 1 of its own pid namespace', async () => {
    pid = await runDetached(p, 'c1');
  });

  test('exec, exec -t (a pty from the console socket), top', async () => {
    await execChecks(p, 'c1', 'root', 0);
  });

  test('pause and unpause freeze and thaw the container (cgroup freezer)', async () => {
    await p.ok(['pause', 'c1']);
    assert.equal((await state(p, 'c1')).status, 'paused');
    const freezer = `${cgroupDir(pid, 'freezer')}/freezer.state`;
    assert.equal(readFileSync(freezer, 'utf8').trim(), 'FROZEN');
    await p.ok(['unpause', 'c1']);
    assert.equal((await state(p, 'c1')).status, 'running');
    assert.equal(readFileSync(freezer, 'utf8').trim(), 'THAWED');
    assert.ok(
      p.runtime.calls().some((c) => /\bpause\b/.test(c)),
      p.runtime.text(),
    );
    assert.ok(
      p.runtime.calls().some((c) => /\bresume\b/.test(c)),
      p.runtime.text(),
    );
    const before = lastTick((await p.ok(['logs', 'c1'])).stdout);
    await waitForLogs(p, 'c1', (l) => lastTick(l) > before, 'a tick after unpause');
  });

  test('update --memory sets the limit in the container cgroup', async () => {
    await p.ok(['update', '--memory', '64m', 'c1']);
    const limit = `${cgroupDir(pid, 'memory')}/memory.limit_in_bytes`;
    assert.equal(readFileSync(limit, 'utf8').trim(), String(64 * 1024 * 1024));
    assert.ok(
      p.runtime.calls().some((c) => /\bupdate\b.*--resources/.test(c)),
      p.runtime.text(),
    );
  });

  test('stop sends SIGTERM, rm deletes', async () => {
    await stopAndRemove(p, 'c1', pid);
  });

  test('run --rm -it through a pty', async () => {
    await interactive(p, 'c2');
  });
});

describe(`podman --runtime igloo-runc rootless`, { timeout: 300_000 }, () => {
  let p: Podman;
  let user: TestUser;
  let pid: number;
  before(async () => {
    assertRangeFree(RANGE, 65_536);
    user = createUser(cleanup, 'igloo-podman');
    await delegate(user, RANGE, 65_536);
    p = await podman(cleanup, { user, runtime, image: IMAGE });
  });

  test('run -d: the container runs in the user namespace podman made', async () => {
    pid = await runDetached(p, 'r1');
    // podman's map: root inside is the user, the rest their delegated range
    const map = readFileSync(`/proc/${pid}/uid_map`, 'utf8').trim().split('\n');
    assert.deepEqual(
      map.map((l) => l.trim().split(/\s+/).map(Number)),
      [
        [0, user.uid, 1],
        [1, RANGE, 65_536],
      ],
    );
    assert.equal(procStatus(pid).Uid!.split('\t')[0], String(user.uid));
    // igloo-runc, uid 0 of podman's namespace and given no --root, keeps its
    // state under the user's XDG_RUNTIME_DIR, not the host's /run/igloo-runc
    const root = join(p.dir, 'xdg', 'igloo-runc');
    const ids = readdirSync(root).filter((id) => {
      const state = join(root, id, 'state.json');
      return (
        existsSync(state) &&
        (JSON.parse(readFileSync(state, 'utf8')) as { pid?: number }).pid === pid
      );
    });
    assert.equal(ids.length, 1, `one state dir for pid ${pid} in ${root}`);
    assert.ok(!existsSync(join('/run/igloo-runc', ids[0]!)), 'nothing under /run/igloo-runc');
  });

  test('exec, exec -t, top', async () => {
    await execChecks(p, 'r1', user.name, user.uid);
  });

  test('stop and rm', async () => {
    await stopAndRemove(p, 'r1', pid);
  });

  test('run --rm -it through a pty', async () => {
    await interactive(p, 'r2');
  });
});
