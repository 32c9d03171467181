/**
 * Sockets through checkpoint and restore (root, CRIU): inside a container,
 * test/probe/sockets.c keeps three stream channels between two processes
 * (a unix socketpair, a connection to a unix socket bound on a path, a TCP
 * connection on the container's loopback) and checks that each delivers
 * 1, 2, 3, ... with nothing lost or repeated. After a checkpoint (the
 * container stops) and a restore, and again after a --leave-running
 * checkpoint, every channel goes on counting "ok": the same connections
 * survived, in the same processes (pids inside unchanged).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chownSync, cpSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Igloo } from '../../src/api/index.ts';
import { checkpoint, restore } from '../../src/api/index.ts';
import { findCriu } from '../../src/host/criu.ts';
import { Cleanup, procStatus, requireRoot, root, tempDir } from '../support/host.ts';

const cleanup = new Cleanup();
let api: Igloo;
let probe: string;
const CHANNELS = ['pair', 'unix', 'tcp'] as const;
// lo is down in a new network namespace: the init script brings it up.
const RUN = 'ip link set lo up\nmkdir -p /tmp/s\n/sockets /tmp/s &\nwhile :; do sleep 1; done\n';

function channel(name: string): { n: number; state: string } {
  const text = readFileSync(join(api.paths('socks').rootfs, 'tmp/s', name), 'utf8').trim();
  const [n, ...rest] = text.split(' ');
  return { n: Number(n), state: rest.join(' ') };
}

/** Waits until every channel is past ABOVE and still "ok"; returns the lowest count. */
async function waitChannels(above: number): Promise<number> {
  let seen = '';
  for (let i = 0; i < 200; i++) {
    try {
      const all = CHANNELS.map((c) => channel(c));
      seen = JSON.stringify(all);
      for (const [k, c] of all.entries())
        assert.equal(c.state, 'ok', `channel ${CHANNELS[k]}: ${c.n} ${c.state}`);
      const low = Math.min(...all.map((c) => c.n));
      if (low > above) return low;
    } catch (err) {
      if (err instanceof assert.AssertionError) throw err;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the channels did not go past ${above}: ${seen}`);
}

function insidePids(init: number): string[] {
  const kids = readFileSync(`/proc/${init}/task/${init}/children`, 'utf8').trim().split(/\s+/);
  const out = [procStatus(init).NSpid!.split(/\s+/).pop()!];
  for (const k of kids) {
    const comm = readFileSync(`/proc/${k}/comm`, 'utf8').trim();
    if (comm !== 'sockets') continue;
    out.push(procStatus(Number(k)).NSpid!.split(/\s+/).pop()!);
    for (const g of readFileSync(`/proc/${k}/task/${k}/children`, 'utf8').trim().split(/\s+/))
      if (g) out.push(procStatus(Number(g)).NSpid!.split(/\s+/).pop()!);
  }
  return out;
}

before(async () => {
  requireRoot();
  if (!(await findCriu()))
    throw new Error(
      'a criu that suits this kernel is missing: run scripts/install-criu.sh as root (CI does)',
    );
  const work = tempDir(cleanup, 'igloo-criusk-');
  probe = join(work, 'sockets');
  const cc = spawnSync('cc', ['-static', '-O2', '-o', probe, join(root, 'test/probe/sockets.c')], {
    encoding: 'utf8',
  });
  assert.equal(cc.status, 0, `cc -static sockets.c: ${cc.stderr}`);
  api = new Igloo({ data: join(work, 'data'), run: join(work, 'run') });
  cleanup.add('destroy the sockets container', async () => {
    for (const n of await api.names()) {
      if ((await api.state(n).catch(() => undefined))?.status === 'running') await api.stop(n, 0);
      await api.destroy(n, { force: true });
    }
  });
});
after(() => cleanup.run());

test('unix socketpair, unix path connection and TCP on lo survive checkpoint and restore', async () => {
  await api.create('socks', { init: ['/bin/sh', '/run.sh'] });
  const rootfs = api.paths('socks').rootfs;
  const owner = statSync(join(rootfs, 'bin'));
  writeFileSync(join(rootfs, 'run.sh'), RUN, { mode: 0o755 });
  cpSync(probe, join(rootfs, 'sockets'));
  for (const f of ['run.sh', 'sockets']) chownSync(join(rootfs, f), owner.uid, owner.gid);

  const st = await api.start('socks');
  const first = await waitChannels(5);
  const pids = insidePids(st.pid!);
  assert.equal(pids.length, 3, `init, the reader and the writer: ${pids.join(' ')}`);

  // checkpoint (stops it): nothing moves while it is checkpointed
  await checkpoint(api, 'socks');
  const frozen = CHANNELS.map((c) => channel(c).n);
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(
    CHANNELS.map((c) => channel(c).n),
    frozen,
  );
  assert.ok(Math.min(...frozen) >= first);

  const r = await restore(api, 'socks');
  await waitChannels(Math.max(...frozen) + 10);
  assert.deepEqual(insidePids(r.pid), pids, 'the same processes, pids inside unchanged');
  const lo = await api.exec('socks', ['/bin/sh', '-c', 'ip link show lo | grep -q "UP" && exit 5']);
  assert.equal(lo.exitCode, 5, 'lo is still up after the restore');

  // --leave-running: the connections keep going during and after the dump
  const before2 = Math.min(...CHANNELS.map((c) => channel(c).n));
  await checkpoint(api, 'socks', { leaveRunning: true });
  await waitChannels(before2 + 10);

  await api.stop('socks', 0);
});
