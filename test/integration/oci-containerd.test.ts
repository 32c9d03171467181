/**
 * containerd drives igloo-runc (issue 16): a containerd of the test's own
 * (test/support/oci-engines.ts), its runc shim (io.containerd.runc.v2) told
 * to call igloo-runc by `ctr run --runc-binary`, on a busybox image imported
 * from an archive the test wrote. run, exec, ps, kill, delete and a tty,
 * each checked from ctr's side and from the host's.
 *
 * IGLOO_OCI_TEST_RUNTIME=runc runs the same against runc (the harness's
 * own check while igloo-runc is young); CI runs igloo-runc.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Cleanup, procStatus, requireRoot } from '../support/host.ts';
import {
  containerd,
  ptyDrive,
  runtimeUnderTest,
  waitUntil,
  type Containerd,
} from '../support/oci-engines.ts';

const IMAGE = 'localhost/igloo-engines:test';
const cleanup = new Cleanup();
let c: Containerd;

/** init: says it started and ends cleanly on SIGTERM */
const INIT = [
  'sh',
  '-c',
  'echo started; trap "echo got-term; exit 0" TERM; while :; do sleep 0.2 & wait; done',
];

/** `ctr task ls` as {status, pid} for ID (undefined when there is no task). */
async function task(id: string): Promise<{ status: string; pid: number } | undefined> {
  const r = await c.ok(['tasks', 'ls']);
  const line = r.stdout.split('\n').find((l) => l.split(/\s+/)[0] === id);
  if (!line) return undefined;
  const [, pid, status] = line.trim().split(/\s+/);
  return { status: status!, pid: Number(pid) };
}

before(async () => {
  requireRoot();
  c = await containerd(cleanup, { runtime: runtimeUnderTest(cleanup), image: IMAGE });
});
after(() => cleanup.run());

describe('ctr run --runc-binary igloo-runc', { timeout: 300_000 }, () => {
  let pid: number;
  const log = () => join(c.dir, 'k1.log');

  test('run -d: the shim creates and starts the container through the runtime', async () => {
    await c.ok([
      'run',
      '-d',
      ...c.runFlags(),
      '--log-uri',
      `file://${log()}`,
      IMAGE,
      'k1',
      ...INIT,
    ]);
    const t = await task('k1');
    assert.equal(t?.status, 'RUNNING');
    pid = t.pid;
    const nspid = procStatus(pid).NSpid!.split('\t');
    assert.deepEqual([nspid.length, nspid[1]], [2, '1'], `NSpid ${nspid.join(' ')}`);
    const calls = c.runtime.calls();
    // the shim's calls: its own --root (ctr --runc-root), a json log in the bundle
    const create = calls.find((l) => /\bcreate\b/.test(l));
    assert.ok(create, c.runtime.text());
    assert.match(create, new RegExp(`--root ${c.runtimeRoot}/${c.namespace}\\b`));
    assert.match(create, /--log \S+\/log\.json --log-format json/);
    assert.match(create, /--pid-file \S+\/init\.pid k1$/);
    assert.ok(
      calls.some((l) => /\bstart k1$/.test(l)),
      c.runtime.text(),
    );
    await waitUntil(
      () => existsSync(log()) && /started/.test(readFileSync(log(), 'utf8')),
      'init to say it started',
    );
  });

  test('exec: a process in the container, as root there', async () => {
    const r = await c.ok([
      'tasks',
      'exec',
      '--exec-id',
      'e1',
      'k1',
      'sh',
      '-c',
      'id -u; tr "\\0" " " </proc/1/cmdline',
    ]);
    const [uid, cmdline] = r.stdout.split('\n');
    assert.equal(uid, '0');
    assert.match(cmdline!, /^sh -c echo started/);
    assert.ok(
      c.runtime
        .calls()
        .some((l) => /\bexec\b.*--process \S+.*--detach|\bexec\b.*--detach.*--process/.test(l)),
      c.runtime.text(),
    );
  });

  test('ps: the shim lists the container processes through the runtime', async () => {
    const r = await c.ok(['tasks', 'ps', 'k1']);
    assert.match(r.stdout, new RegExp(`^${pid}\\s`, 'm'), r.stdout);
    assert.ok(
      c.runtime.calls().some((l) => /\bps --format json k1$/.test(l)),
      c.runtime.text(),
    );
  });

  test('kill SIGTERM: init ends, the task is stopped', async () => {
    await c.ok(['tasks', 'kill', '-s', 'SIGTERM', 'k1']);
    await waitUntil(async () => (await task('k1'))?.status === 'STOPPED', 'k1 to stop');
    assert.match(readFileSync(log(), 'utf8'), /got-term/);
    assert.equal(existsSync(`/proc/${pid}`), false);
    assert.ok(
      c.runtime.calls().some((l) => /\bkill k1 15$/.test(l)),
      c.runtime.text(),
    );
  });

  test('delete: the task and container go, with the runtime state and cgroups', async () => {
    await c.ok(['tasks', 'rm', 'k1']);
    await c.ok(['containers', 'rm', 'k1']);
    assert.equal(await task('k1'), undefined);
    assert.ok(
      c.runtime.calls().some((l) => /\bdelete\b.*k1$/.test(l)),
      c.runtime.text(),
    );
    const state = join(c.runtimeRoot, c.namespace);
    assert.deepEqual(existsSync(state) ? readdirSync(state) : [], []);
    assert.equal(existsSync(`/sys/fs/cgroup/pids/${c.namespace}/k1`), false);
  });

  test('run --rm: output and exit status come back', async () => {
    const r = await c.ctr([
      'run',
      '--rm',
      ...c.runFlags(),
      IMAGE,
      'k2',
      'sh',
      '-c',
      'echo hi-from-k2; exit 4',
    ]);
    assert.equal(r.status, 4, `${r.stderr}\n${c.runtime.text()}`);
    assert.equal(r.stdout, 'hi-from-k2\n');
    assert.equal(await task('k2'), undefined);
  });

  test('run -t --rm: a shell on a pty', async () => {
    const r = await ptyDrive(
      'root',
      c.argv(['run', '-t', '--rm', ...c.runFlags(), IMAGE, 'k3', 'sh']),
      [
        { expect: '# ' },
        { send: 'tty; echo answer-$((6*7))\r', expect: '/dev/pts/\\d+' },
        { expect: 'answer-42' },
        { send: 'exit 3\r' },
      ],
    );
    assert.equal(r.status, 3, `ctr run -t: ${r.stderr}\n${r.stdout}\n${c.runtime.text()}`);
    assert.ok(
      c.runtime.calls().some((l) => /\bcreate\b.*--console-socket \S+.*k3$/.test(l)),
      c.runtime.text(),
    );
  });
});
