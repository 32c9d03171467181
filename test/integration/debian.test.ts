/**
 * Debian system containers, built and booted by an unprivileged user:
 * debootstrap in the user's namespaces, sysvinit as pid 1 reaching its
 * runlevel, a login on the console, a clean shutdown through init; and the
 * talk's elsa-c1, a nesting container whose own unprivileged user runs a
 * container inside it, checked along the whole chain of ids and pids.
 * Needs the Debian mirror (CI reaches Debian's packages).
 */
import assert from 'node:assert/strict';
import { chmodSync, chownSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  Cleanup,
  createUser,
  delegate,
  igloo,
  requireRoot,
  runAs,
  spawnAs,
  stagedCli,
  type TestUser,
  procStatus,
} from '../support/host.ts';

const cleanup = new Cleanup();
let elsa: TestUser;
const BLOCK = 18_000_000;

async function waitForRunlevel(name: string): Promise<string> {
  let level = '';
  for (let i = 0; i < 120 && level !== 'N 2'; i++) {
    level = (await igloo(cleanup, elsa, ['exec', name, '--', '/sbin/runlevel'])).stdout.trim();
    if (level !== 'N 2') await new Promise((res) => setTimeout(res, 500));
  }
  return level;
}

async function createAndStart(name: string, args: string[]): Promise<void> {
  let r = await igloo(cleanup, elsa, ['create', name, '--image', 'deb', ...args]);
  assert.equal(r.status, 0, r.stderr);
  cleanup.add(
    `destroy ${name}`,
    async () => void (await igloo(cleanup, elsa, ['destroy', '--force', name])),
  );
  r = await igloo(cleanup, elsa, ['start', name]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(await waitForRunlevel(name), 'N 2');
}

const status = procStatus;

before(async () => {
  requireRoot();
  stagedCli(cleanup);
  elsa = createUser(cleanup, 'igloo-deb');
  await delegate(elsa, BLOCK, 1_000_000);
  // One image for both tests: newuidmap and a static busybox let it host containers.
  const r = await igloo(
    cleanup,
    elsa,
    [
      'image',
      'build',
      'debian',
      '--suite',
      'bookworm',
      '--name',
      'deb',
      '--include',
      // iputils-ping: its postinst gives ping a file capability (libcap2-bin's setcap)
      'uidmap,busybox-static,iputils-ping',
    ],
    { timeoutMs: 800_000 },
  );
  assert.equal(r.status, 0, r.stderr.slice(-3000));
  assert.match(r.stdout, /^Built deb:latest \(\d+ MB\)\n$/);
});
after(() => cleanup.run());

describe('a Debian system container', { timeout: 900_000 }, () => {
  test('boots to runlevel 2, shows a login on the console and shuts down through init', async () => {
    await createAndStart('deb1', []);
    const ps = await igloo(cleanup, elsa, [
      'exec',
      'deb1',
      '--',
      '/bin/ps',
      '-o',
      'pid=,comm=',
      '-p',
      '1',
    ]);
    assert.match(ps.stdout, /^\s*1 init$/m);
    const os = await igloo(cleanup, elsa, [
      'exec',
      'deb1',
      '--',
      '/bin/cat',
      '/etc/debian_version',
    ]);
    assert.match(os.stdout, /^12\./);
    // The capability ping's package set during the build survived packing and extraction.
    const cap = await igloo(cleanup, elsa, ['exec', 'deb1', '--', '/sbin/getcap', '/usr/bin/ping']);
    assert.equal(cap.stdout.trim(), '/usr/bin/ping cap_net_raw=ep', cap.stderr);

    // What a Debian system needs keeps working under the seccomp filter (issue 13), and a new
    // user namespace (not a nesting container) is refused.
    const sh = (cmd: string) => igloo(cleanup, elsa, ['exec', 'deb1', '--', '/bin/sh', '-c', cmd]);
    for (const [what, cmd, out] of [
      [
        'dpkg',
        "dpkg --configure -a && dpkg-query -W -f='${Status}' coreutils",
        /install ok installed/,
      ],
      ['apt-get', 'apt-get check', /Reading package lists/],
      ['useradd', 'useradd -m -s /bin/sh filtered && id -un filtered', /^filtered$/m],
      ['su', "su filtered -c 'id -un; tty || true'", /^filtered$/m],
      ['ping', 'ping -c1 -W5 127.0.0.1', /1 received/],
      [
        'tmpfs',
        'mkdir -p /mnt/t && mount -t tmpfs t /mnt/t && touch /mnt/t/x && umount /mnt/t && echo mounted',
        /^mounted$/m,
      ],
      ['unshare -U', 'unshare -U true 2>&1; echo "exit $?"', /Operation not permitted\nexit 1/],
    ] as const) {
      const r = await sh(cmd);
      assert.match(r.stdout, out, `${what}: ${r.stdout}${r.stderr}`);
    }

    const console = spawnAs(elsa, [process.execPath, stagedCli(cleanup), 'console', 'deb1']);
    try {
      console.child.stdin.write('\n');
      await console.waitFor(/login: /, 20_000);
      console.child.stdin.write('\x01q');
      assert.equal(await console.exited, 0);
    } finally {
      console.child.kill('SIGKILL');
    }

    const r = await igloo(cleanup, elsa, ['stop', 'deb1', '--timeout', '30']);
    assert.equal(r.status, 0, r.stderr);
    const info = JSON.parse((await igloo(cleanup, elsa, ['info', 'deb1', '--json'])).stdout) as {
      state: { status: string; lastExit: string };
    };
    assert.equal(info.state.status, 'stopped');
    // halt in a pid namespace ends init with SIGINT; SIGKILL would mean the shutdown did not happen
    assert.equal(info.state.lastExit, 'signaled SIGINT');
    assert.equal((await igloo(cleanup, elsa, ['destroy', 'deb1'])).status, 0);
  });

  test('elsa-c1 nests: its user "inner" gets a block and runs a container; ids and pids check out along the chain', async () => {
    await createAndStart('elsa-c1', ['--nesting']);
    const info = JSON.parse((await igloo(cleanup, elsa, ['info', 'elsa-c1', '--json'])).stdout) as {
      state: { pid: number };
      config: {
        rootfs: string;
        idmap: { uid: Array<{ inside: number; outside: number; count: number }> };
      };
    };
    assert.deepEqual(info.config.idmap.uid, [{ inside: 0, outside: BLOCK, count: 8 * 65536 }]);

    // Users made inside get blocks exactly as on the host: useradd, from login.defs.
    let r = await igloo(cleanup, elsa, [
      'exec',
      'elsa-c1',
      '--',
      '/usr/sbin/useradd',
      '-m',
      '-s',
      '/bin/sh',
      'inner',
    ]);
    assert.equal(r.status, 0, r.stderr);
    r = await igloo(cleanup, elsa, [
      'exec',
      'elsa-c1',
      '--',
      '/bin/cat',
      '/etc/subuid',
      '/etc/subgid',
    ]);
    assert.equal(r.stdout, 'inner:65536:65536\ninner:65536:65536\n');

    // inner, unprivileged inside elsa-c1, runs igloo there (newuidmap inside maps the ids)
    const asInner = (cmd: string) =>
      igloo(cleanup, elsa, [
        'exec',
        '--user',
        'inner',
        '--env',
        'HOME=/home/inner',
        '--env',
        'USER=inner',
        '--cwd',
        '/home/inner',
        'elsa-c1',
        '--',
        '/bin/sh',
        '-c',
        cmd,
      ]);
    r = await asInner('igloo check --json');
    const check = JSON.parse(r.stdout) as { checks: Array<{ name: string; status: string }> };
    assert.equal(check.checks.find((c) => c.name === 'subuids of inner')?.status, 'ok', r.stdout);
    r = await asInner('igloo create n1 && igloo start n1 && igloo info n1 --json');
    assert.equal(r.status, 0, r.stderr);
    const nested = JSON.parse(r.stdout.slice(r.stdout.indexOf('{'))) as {
      state: { pid: number };
      config: { idmap: { uid: Array<{ outside: number }> } };
    };
    assert.equal(
      nested.config.idmap.uid[0]!.outside,
      65536,
      "n1's slice is inner's block, in elsa-c1's ids",
    );
    const midPid = nested.state.pid;

    // From the host: the nested init is uid BLOCK+65536, with pids at three levels.
    const hostPid = readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p))
      .map(Number)
      .find((p) => {
        try {
          return (
            status(p).NSpid === `${p}\t${midPid}\t1` &&
            /^init|^busybox/.test(readFileSync(`/proc/${p}/comm`, 'utf8'))
          );
        } catch {
          return false;
        }
      });
    assert.ok(hostPid, `no host process has NSpid "<pid> ${midPid} 1"`);
    assert.equal(status(hostPid).Uid!.split('\t')[0], String(BLOCK + 65536));
    // From the middle: the same process is midPid, running as elsa-c1's uid 65536.
    r = await igloo(cleanup, elsa, [
      'exec',
      'elsa-c1',
      '--',
      '/bin/sh',
      '-c',
      `grep -E '^(Uid|NSpid)' /proc/${midPid}/status`,
    ]);
    assert.match(r.stdout, /^Uid:\s+65536\s/m);
    assert.match(r.stdout, new RegExp(`^NSpid:\\s+${midPid}\\s+1$`, 'm'));
    // From inside n1: root, pid 1 (through n1's prepared plan: no Node, as IGLOO_CLI shows).
    r = await asInner(
      `IGLOO_CLI=/nonexistent igloo exec n1 -- /bin/sh -c 'echo $(id -u) $$; cat /proc/self/uid_map'`,
    );
    assert.match(r.stdout, /^0 \d+\n\s+0\s+65536\s+65536\n$/);
    // igloo ps on the host sees the nested init two user namespaces down, as elsa's.
    r = await igloo(cleanup, elsa, ['ps', '--json']);
    const rows = (
      JSON.parse(r.stdout) as {
        processes: Array<{
          pid: number;
          depth: number | null;
          uid: { host: number; inside: number | null };
        }>;
      }
    ).processes;
    const row = rows.find((p) => p.pid === hostPid);
    assert.deepEqual([row?.depth, row?.uid.host, row?.uid.inside], [2, BLOCK + 65536, 0]);

    // igloo tree on the host: n1's namespace below elsa-c1's, labelled as a part of elsa's block.
    r = await igloo(cleanup, elsa, ['tree', '--json']);
    interface Node {
      processes: number[];
      uidMap: Array<{ outside: number; slice: { text: string } | null }> | null;
      children: Node[];
    }
    const find = (n: Node, pred: (n: Node) => boolean): Node | undefined =>
      pred(n) ? n : n.children.map((c) => find(c, pred)).find(Boolean);
    const root = (JSON.parse(r.stdout) as { tree: Node }).tree;
    const c1Node = find(root, (n) => n.processes.includes(info.state.pid));
    assert.ok(c1Node, "elsa-c1's namespace is in the tree");
    const n1Node = c1Node.children.find((c) => c.processes.includes(hostPid));
    assert.ok(n1Node, "n1's namespace is a child of elsa-c1's");
    assert.equal(n1Node.uidMap?.[0]?.outside, BLOCK + 65536);
    assert.equal(n1Node.uidMap?.[0]?.slice?.text, `${elsa.name}'s block ${BLOCK}+65536..131071`);

    // An escape from n1 lands on BLOCK+65536: it reads neither elsa-c1's root files nor elsa's.
    const secret = join(elsa.home, 'secret');
    writeFileSync(secret, 'elsa only\n');
    chownSync(secret, elsa.uid, elsa.gid);
    chmodSync(secret, 0o600);
    r = await igloo(cleanup, elsa, [
      'exec',
      'elsa-c1',
      '--',
      '/bin/sh',
      '-c',
      'echo c1 > /root/secret && chmod 600 /root/secret',
    ]);
    assert.equal(r.status, 0, r.stderr);
    for (const path of [secret, join(info.config.rootfs, 'root/secret')]) {
      const read = await runAs('root', [
        'setpriv',
        `--reuid=${BLOCK + 65536}`,
        `--regid=${BLOCK + 65536}`,
        '--clear-groups',
        '--',
        'cat',
        path,
      ]);
      assert.notEqual(read.status, 0, path);
      assert.match(read.stderr, /Permission denied/, path);
    }
    r = await asInner('igloo destroy --force n1');
    assert.equal(r.status, 0, r.stderr);
  });
});
