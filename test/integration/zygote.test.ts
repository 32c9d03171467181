/**
 * The library API forks its helpers from `igloo-helper zygote` (zygote.c,
 * src/native/spawn.ts), not from Node: checked from outside (who is whose
 * parent), with exit statuses passed through, and with the zygote's socket
 * refusing every process but the Node that started it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Igloo, keepSpareHelper } from '../../src/api/index.ts';
import { Cleanup, ensureRootDelegation, requireRoot, tempDir } from '../support/host.ts';

const cleanup = new Cleanup();
let api: Igloo;

function parentOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

function cmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1);
  } catch {
    return [];
  }
}

/** This process's zygotes (normally one). */
function zygotes(): number[] {
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .map(Number)
    .filter((p) => {
      const argv = cmdline(p);
      try {
        return (
          argv[1] === 'zygote' && argv[0]!.endsWith('igloo-helper') && parentOf(p) === process.pid
        );
      } catch {
        return false;
      }
    });
}

function childrenOf(pid: number): number[] {
  const text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
  return text ? text.split(/\s+/).map(Number) : [];
}

/** The zygote's abstract socket name, as /proc/net/unix shows it ("@igloo-zygote-PID-…"). */
function zygoteAddress(zygote: number): string {
  const line = readFileSync('/proc/net/unix', 'utf8')
    .split('\n')
    .find((l) => l.includes(`@igloo-zygote-${zygote}-`));
  assert.ok(line, `the zygote ${zygote} listens`);
  return line.slice(line.indexOf('@igloo-zygote-') + 1).replace(/@+$/, '');
}

before(async () => {
  requireRoot();
  await ensureRootDelegation(cleanup);
  const base = tempDir(cleanup, 'igloo-zyg-', 0o700);
  api = new Igloo({ data: join(base, 'data'), run: join(base, 'run') });
  cleanup.add('destroy API containers', async () => {
    for (const name of await api.names()) await api.destroy(name, { force: true });
  });
  await api.create('zy-c1');
  // The first call spawns its helper and starts the zygote for the next ones.
  await api.runForeground('zy-c1', ['/bin/true']);
  for (let i = 0; i < 100 && zygotes().length === 0; i++)
    await new Promise((r) => setTimeout(r, 20));
});
after(() => cleanup.run());

describe('helpers forked by the zygote', () => {
  test('a started container is monitored by a child of the zygote, a child of this process', async () => {
    const [zygote] = zygotes();
    assert.ok(zygote, 'one zygote, started by this process');
    zygoteAddress(zygote); // it listens
    await new Promise((r) => setTimeout(r, 100)); // its address reaches Node
    const state = await api.start('zy-c1');
    cleanup.add('stop zy-c1', () => api.stop('zy-c1', 0).then(() => undefined));
    const monitor = parentOf(state.pid!);
    assert.equal(parentOf(monitor), zygote);
    // "zygote" became "start" in place: the word is shorter, a NUL pads it
    assert.deepEqual(cmdline(monitor).slice(1).filter(Boolean), ['start'], 'ps shows a start');
    const r = await api.exec('zy-c1', ['/bin/sh', '-c', 'exit 7']);
    assert.deepEqual(r, { exitCode: 7, status: 'exited 7' });
    const killed = await api.exec('zy-c1', ['/bin/sh', '-c', 'kill -KILL $$']);
    assert.deepEqual(killed, { exitCode: 137, status: 'signaled SIGKILL' });
    await api.stop('zy-c1', 0);
  });

  test("a foreground run's status comes through the zygote's helper", async () => {
    assert.ok(zygotes().length === 1);
    const r = await api.runForeground('zy-c1', ['/bin/sh', '-c', 'exit 3']);
    assert.deepEqual(r, { exitCode: 3, status: 'exited 3' });
  });

  test('no other process may ask the zygote for a helper, not even one of the same user', () => {
    const [zygote] = zygotes();
    assert.ok(zygote);
    const address = zygoteAddress(zygote);
    const before = childrenOf(zygote);
    // A plan the helper would refuse at once, had it been forked: the
    // connection must close with nothing read back and no child made.
    const probe = spawnSync(
      'python3',
      [
        '-c',
        `import socket,sys
s=socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(b'\\0' + sys.argv[1].encode().ljust(107, b'\\0'))
s.settimeout(5)
try:
    s.sendall(b'PLAN 12\\nigloo-plan\\x001\\x00')
    print(repr(s.recv(100)))
# closed before our send (EPIPE), or with our bytes unread (ECONNRESET)
except (ConnectionResetError, BrokenPipeError):
    print(repr(b''))`,
        address,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(probe.status, 0, probe.stderr);
    assert.equal(probe.stdout.trim(), "b''", 'closed without a word');
    assert.deepEqual(childrenOf(zygote), before, 'no helper was forked');
  });

  test('keepSpareHelper(false) ends the zygote; calls still work', async () => {
    const [zygote] = zygotes();
    keepSpareHelper(false);
    try {
      for (
        let i = 0;
        i < 100 && cmdline(zygote!).length > 0 && parentOf(zygote!) === process.pid;
        i++
      )
        await new Promise((r) => setTimeout(r, 20));
      assert.equal(zygotes().length, 0);
      const r = await api.runForeground('zy-c1', ['/bin/true']);
      assert.equal(r.exitCode, 0);
      assert.equal(zygotes().length, 0, 'no new zygote');
    } finally {
      keepSpareHelper(true);
    }
  });
});
