import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseConfig } from '../config/file.ts';
import { runnableConfig } from '../config/runnable.ts';
import { parseIdmapSpec } from '../idmap/index.ts';
import { encodePlan, planExec, planStart, type LaunchPlan } from './plan.ts';
import {
  SELF_EXE,
  formatPrepared,
  parsePreparedHeader,
  sameStamp,
  type FileStamp,
} from './prepared.ts';

const config = runnableConfig(
  parseConfig(`igloo.name = c1
igloo.rootfs = /data/containers/c1/rootfs
igloo.idmap = b 0 2000000 65536
igloo.env = PATH=/bin
igloo.env = TERM=linux
`),
);

const stamp: FileStamp = {
  path: SELF_EXE,
  ino: 42n,
  size: 313520n,
  mtimeNs: 1795885023264669073n,
  ctimeNs: 1795885023271736550n,
};

/** What the native front does: the prefix, an exec record for CMD, the env. */
function complete(file: string, cmd: readonly string[]): string {
  const end = file.indexOf('\n\n') + 2;
  const prefix = Number(/^prefix (\d+)$/m.exec(file)![1]);
  const body = file.slice(end);
  const exec = ['exec', cmd[0]!, String(cmd.length), ...cmd].map((s) => `${s}\0`).join('');
  return body.slice(0, prefix) + exec + body.slice(prefix);
}

describe('prepared plans', () => {
  test('completed with a command, an exec plan is the plan TypeScript would make', () => {
    const cmd = ['/bin/sh', '-c', 'echo hi'];
    const opts = {
      pid: 6900,
      env: config.env,
      cwd: '/',
      user: { uid: 0, gid: 0, groups: [] },
    };
    for (const tty of [false, true]) {
      const file = formatPrepared(
        { kind: 'exec', init: { pid: 6900, start: 123456 }, stamps: [stamp] },
        planExec(config, { ...opts, argv: ['(command)'], tty }),
      );
      assert.equal(complete(file, cmd), encodePlan(planExec(config, { ...opts, argv: cmd, tty })));
    }
  });

  test('so is a run plan, and its header says what it reserves and depends on', () => {
    const reserve = parseIdmapSpec('u 0 2000000 65536 g 0 2000000 65536');
    const start = (command: string[]): LaunchPlan =>
      planStart(config, {
        mode: 'foreground',
        console: 'inherit',
        command,
        memoryRootfs: { busybox: '/bin/busybox', applets: ['bin/sh', 'bin/ls'] },
      });
    const subuid = { ...stamp, path: '/etc/subuid', ino: 7n };
    const file = formatPrepared(
      { kind: 'run', reserve, stamps: [stamp, subuid] },
      start(['(command)']),
    );
    assert.equal(complete(file, ['/bin/true']), encodePlan(start(['/bin/true'])));
    assert.match(file, /^igloo-prepared 1\nkind run\nstamp 42 313520 \d+ \d+ \/proc\/self\/exe\n/);
    const header = parsePreparedHeader(file);
    assert.equal(header.kind, 'run');
    assert.deepEqual(header.reserve, reserve);
    assert.equal(header.stamps.length, 2);
    assert.ok(sameStamp(header.stamps[0]!, stamp));
    assert.ok(sameStamp(header.stamps[1]!, subuid));
    assert.equal(header.init, undefined);
  });

  test('the prefix length counts bytes, not characters', () => {
    const utf8 = runnableConfig(
      parseConfig(`igloo.name = c1
igloo.rootfs = /data/containers/c1/rootfs
igloo.idmap = b 0 2000000 65536
igloo.hostname = c1
igloo.env = GREETING=grüße
`),
    );
    const plan = planStart(utf8, { mode: 'foreground', console: 'inherit', command: ['x'] });
    const file = formatPrepared({ kind: 'run', stamps: [] }, plan);
    const bytes = Buffer.from(file, 'utf8');
    const end = bytes.indexOf('\n\n') + 2;
    const prefix = Number(/^prefix (\d+)$/m.exec(file)![1]);
    assert.equal(bytes.subarray(end + prefix, end + prefix + 2).toString(), '1\0', 'ENVC follows');
  });

  test('bad input is refused', () => {
    const plan = planExec(config, {
      pid: 1,
      argv: ['x'],
      env: [],
      cwd: '/',
      user: { uid: 0, gid: 0, groups: [] },
      tty: false,
    });
    assert.throws(
      () => formatPrepared({ kind: 'exec', stamps: [{ ...stamp, path: '/a\nb' }] }, plan),
      /newline/,
    );
    assert.throws(
      () =>
        formatPrepared({ kind: 'exec', stamps: [] }, { ...plan, steps: plan.steps.slice(0, -1) }),
      /last step must be exec/,
    );
    assert.throws(() => parsePreparedHeader('igloo-plan\0'), /not a prepared plan/);
    assert.throws(
      () => parsePreparedHeader('igloo-prepared 1\nkind run\nwhat 1\n\n'),
      /unknown line/,
    );
    assert.throws(() => parsePreparedHeader('igloo-prepared 1\nprefix 0\n\n'), /without its kind/);
    assert.throws(
      () => parsePreparedHeader('igloo-prepared 1\nkind run\nstamp 1 2 x 4 /p\n\n'),
      /bad stamp/,
    );
  });

  test('a stamp holds only if nothing of it changed', () => {
    assert.ok(sameStamp(stamp, { ...stamp }));
    for (const change of [
      { ino: 43n },
      { size: 1n },
      { mtimeNs: 1n },
      { ctimeNs: 1n },
      { path: '/etc/subuid' },
    ])
      assert.equal(
        sameStamp(stamp, { ...stamp, ...change }),
        false,
        JSON.stringify(change, (_, v) => String(v)),
      );
  });
});
