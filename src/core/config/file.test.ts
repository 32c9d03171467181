import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { IglooError } from '../errors.ts';
import { CONFIG_KEYS, IGLOO_KEYS, formatConfig, parseConfig, parseConfigText } from './file.ts';
import { validateName } from './name.ts';

const base = `igloo.name = anna-c1
igloo.rootfs = /home/anna/.local/share/igloo/containers/anna-c1/rootfs
igloo.idmap = u 0 2000000 65536
igloo.idmap = g 0 2000000 65536
`;

function rejects(fn: () => unknown, code: string, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof IglooError, String(err));
    assert.equal(err.code, code);
    assert.match(err.message, pattern);
    return true;
  });
}

describe('parseConfig() networks', () => {
  test('refuses a bad mode, a bad forward, and forwards without an interface', () => {
    rejects(
      () => parseConfig(`${base}igloo.net = bridge=../x\n`),
      'EPARSE',
      /line 5.*not a bridge name/,
    );
    rejects(
      () => parseConfig(`${base}igloo.net.port = 70000:80\n`),
      'EPARSE',
      /70000 is not in 1-65535/,
    );
    rejects(
      () => parseConfig(`${base}igloo.net = private\nigloo.net.port = 8080:80\n`),
      'EINVAL',
      /port forwards need the user or bridge network, not "private"/,
    );
    rejects(
      () => parseConfig(`${base}igloo.namespaces = user,pid,mnt\nigloo.net = user\n`),
      'EINVAL',
      /needs a network namespace/,
    );
  });

  test('a config without igloo.net has no net (private)', () => {
    assert.equal(parseConfig(base).net, undefined);
    assert.equal(parseConfig(base).ports, undefined);
  });
});

describe('parseConfig()', () => {
  test('fills defaults for a minimal config', () => {
    const c = parseConfig(base);
    assert.equal(c.name, 'anna-c1');
    assert.equal(c.hostname, 'anna-c1');
    assert.deepEqual(c.init, ['/sbin/init']);
    assert.deepEqual(c.idmap.uid, [{ inside: 0, outside: 2000000, count: 65536 }]);
    assert.deepEqual(c.idmap.gid, [{ inside: 0, outside: 2000000, count: 65536 }]);
    assert.deepEqual(c.user, { uid: 0, gid: 0, groups: [] });
    assert.deepEqual(c.namespaces, ['user', 'pid', 'mnt', 'uts', 'ipc', 'net', 'cgroup']);
    assert.equal(c.haltSignal, 'SIGUSR2');
    assert.equal(c.cwd, '/');
    assert.deepEqual(c.seccomp, { profile: 'default', deny: [] });
    assert.deepEqual(c.caps, { keep: [], drop: [] });
    assert.equal(c.noNewPrivs, true);
  });

  test('formatConfig() round-trips every igloo key', () => {
    const text = `${base}igloo.hostname = web
igloo.init = ["/bin/sh", "-c", "while :; do sleep 1; done"]
igloo.env = PATH=/bin
igloo.env = A=b c
igloo.cwd = /root
igloo.user = 1000:100
igloo.namespaces = user,pid,mnt
igloo.halt_signal = SIGPWR
igloo.mount = /srv/data /data ro
igloo.mount = /srv/cache /cache rw
igloo.rlimit = RLIMIT_NOFILE 1024 4096
igloo.idmap = u 1000 2001000 1
igloo.seccomp = /etc/igloo/profile.json
igloo.seccomp.deny = ptrace, personality:ENOSYS
igloo.cap.keep = sys_time
igloo.cap.drop = CAP_NET_RAW, mknod
igloo.no_new_privs = false
igloo.nesting = true
igloo.namespaces = user,pid,mnt,net
igloo.net = user,host-loopback
igloo.net.port = 8080:80
igloo.net.port = 0.0.0.0:5000-5001:5000-5001/udp
igloo.autostart = true
igloo.limits.memory = 512M
igloo.limits.memory_swap = 1G
igloo.limits.pids = 100
igloo.limits.cpus = 1.5
igloo.limits.cpu_weight = 200
igloo.limits.cpuset = 0-1
igloo.limits.io_weight = 50
`.replace('igloo.idmap = u 0 2000000 65536\n', 'igloo.idmap = u 0 2000000 1000\n');
    const c = parseConfig(text);
    assert.deepEqual(parseConfig(formatConfig(c)), c);
    assert.deepEqual(c.mounts, [
      { source: '/srv/data', target: '/data', readonly: true },
      { source: '/srv/cache', target: '/cache', readonly: false },
    ]);
    assert.deepEqual(c.rlimits, [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 4096 }]);
    assert.deepEqual(c.user, { uid: 1000, gid: 100, groups: [] });
    assert.deepEqual(c.seccomp, {
      profile: '/etc/igloo/profile.json',
      deny: [
        { name: 'ptrace', errno: 'EPERM' },
        { name: 'personality', errno: 'ENOSYS' },
      ],
    });
    assert.deepEqual(c.caps, { keep: ['sys_time'], drop: ['net_raw', 'mknod'] });
    assert.equal(c.noNewPrivs, false);
    assert.deepEqual(c.net, { mode: 'user', hostLoopback: true });
    assert.deepEqual(
      c.ports?.map((p) => [p.hostIp, p.hostPort, p.containerPort, p.count, p.protocol]),
      [
        ['127.0.0.1', 8080, 80, 1, 'tcp'],
        ['0.0.0.0', 5000, 5000, 2, 'udp'],
      ],
    );
    assert.deepEqual(c.limits, {
      memory: 512 * 2 ** 20,
      memorySwap: 2 ** 30,
      pids: 100,
      cpus: 1.5,
      cpuWeight: 200,
      cpuset: '0-1',
      ioWeight: 50,
    });
    // every igloo key appears in the written file
    const written = formatConfig(c);
    for (const key of IGLOO_KEYS)
      assert.match(written, new RegExp(`^${key.replace('.', '\\.')} = `, 'm'), key);
  });

  test('every key in the table accepts a value and changes the draft', () => {
    const samples: Record<string, string> = {
      'igloo.name': 'x',
      'igloo.rootfs': '/r',
      'igloo.idmap': 'b 0 100000 10',
      'igloo.hostname': 'h',
      'igloo.init': '/init a',
      'igloo.env': 'A=1',
      'igloo.cwd': '/',
      'igloo.user': '1:2',
      'igloo.namespaces': 'user',
      'igloo.halt_signal': 'SIGTERM',
      'igloo.mount': '/a /b',
      'igloo.rlimit': 'RLIMIT_NOFILE 10',
      'igloo.seccomp': 'unconfined',
      'igloo.seccomp.deny': 'keyctl',
      'igloo.cap.keep': 'sys_time',
      'igloo.cap.drop': 'sys_admin',
      'igloo.no_new_privs': 'false',
      'igloo.nesting': 'true',
      'igloo.net': 'none',
      'igloo.net.port': '8080:80',
      'igloo.autostart': 'true',
      'igloo.limits.memory': '64M',
      'igloo.limits.memory_swap': '64M',
      'igloo.limits.pids': '10',
      'igloo.limits.cpus': '0.5',
      'igloo.limits.cpu_weight': '10',
      'igloo.limits.cpuset': '0',
      'igloo.limits.io_weight': '10',
      'lxc.cap.drop': 'sys_module mac_admin',
      'lxc.no_new_privs': '1',
      'lxc.idmap': 'u 0 100000 10',
      'lxc.id_map': 'g 0 100000 10',
      'lxc.uts.name': 'h',
      'lxc.utsname': 'h',
      'lxc.rootfs.path': 'dir:/r',
      'lxc.rootfs': '/r',
      'lxc.init.cmd': '/sbin/init',
      'lxc.init.cwd': '/',
      'lxc.init.uid': '5',
      'lxc.init.gid': '6',
      'lxc.environment': 'A=1',
      'lxc.signal.halt': 'SIGPWR',
    };
    assert.deepEqual(
      Object.keys(CONFIG_KEYS).sort(),
      Object.keys(samples).sort(),
      'the test covers the whole table',
    );
    for (const [key, value] of Object.entries(samples)) {
      const { draft } = parseConfigText(`${key} = ${value}`);
      const empty = parseConfigText('').draft;
      assert.notDeepEqual(draft, empty, key);
    }
  });

  test('reads an LXC container config, warning about keys it does not support', () => {
    const { draft, warnings } = parseConfigText(
      `# LXC
lxc.include = /usr/share/lxc/config/common.conf
lxc.idmap = u 0 2000000 65536
lxc.idmap = g 0 2000000 65536
lxc.rootfs.path = dir:/var/lib/lxc/c1/rootfs
lxc.uts.name = c1
lxc.signal.halt = SIGPWR
`,
      { path: '/var/lib/lxc/c1/config' },
    );
    assert.equal(draft.rootfs, '/var/lib/lxc/c1/rootfs');
    assert.equal(draft.hostname, 'c1');
    assert.equal(draft.haltSignal, 'SIGPWR');
    assert.deepEqual(warnings, [
      '/var/lib/lxc/c1/config line 2: lxc.include is not supported by igloo and was ignored',
    ]);
  });

  test('names the path, line and problem of bad input', () => {
    rejects(
      () => parseConfig(`${base}igloo.bogus = 1\n`, { path: '/c' }),
      'EPARSE',
      /^Cannot parse \/c line 5 "igloo.bogus = 1": unknown key "igloo.bogus"$/,
    );
    rejects(
      () => parseConfig(`${base}no equals sign\n`),
      'EPARSE',
      /line 5 .*expected "key = value"/,
    );
    rejects(() => parseConfig(`${base}igloo.idmap = x 0 1 2\n`), 'EPARSE', /line 5/);
    rejects(() => parseConfig(`${base}igloo.user = root\n`), 'EPARSE', /"root" is not an id/);
    rejects(
      () => parseConfig(`${base}igloo.namespaces = user,time\n`),
      'EPARSE',
      /unknown namespace "time"/,
    );
    rejects(() => parseConfig(`${base}igloo.mount = /a\n`), 'EPARSE', /SOURCE TARGET/);
    rejects(
      () => parseConfig(`${base}igloo.mount = /a /b rx\n`),
      'EPARSE',
      /unknown mount option "rx"/,
    );
    rejects(
      () => parseConfig(`${base}igloo.cap.drop = sys_frobnicate\n`),
      'EPARSE',
      /unknown capability "sys_frobnicate"/,
    );
    rejects(
      () => parseConfig(`${base}igloo.seccomp.deny = keyctl:EWHAT\n`),
      'EPARSE',
      /unknown errno "EWHAT"/,
    );
    rejects(
      () => parseConfig(`${base}igloo.no_new_privs = maybe\n`),
      'EPARSE',
      /"maybe" is not true or false/,
    );
    rejects(
      () => parseConfig(`${base}igloo.rlimit = RLIMIT_NOFILE lots\n`),
      'EPARSE',
      /"lots" is not a limit/,
    );
  });
});

describe('validateConfig() checks', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['bad name', base.replace('anna-c1\n', '../x\n'), /name "..\/x" is not valid/],
    [
      'relative rootfs',
      base.replace(/rootfs = .*/, 'rootfs = rootfs'),
      /rootfs "rootfs" is not an absolute path/,
    ],
    ['rootfs with ..', base.replace(/rootfs = .*/, 'rootfs = /a/../b'), /not an absolute path/],
    ['no user namespace', `${base}igloo.namespaces = pid,mnt\n`, /do not include "user"/],
    ['no gid map', base.replace('igloo.idmap = g 0 2000000 65536\n', ''), /no gid map/],
    [
      'root unmapped',
      base.replace('u 0 2000000', 'u 1 2000000'),
      /uid 0 \(root in the container\) is not mapped/,
    ],
    ['host root mapped', `${base}igloo.idmap = u 70000 0 1\n`, /includes host uid 0/],
    ['init user unmapped', `${base}igloo.user = 70000\n`, /init's uid 70000 is not mapped/],
    ['bad hostname', `${base}igloo.hostname = a_b\n`, /hostname "a_b"/],
    ['relative cwd', `${base}igloo.cwd = tmp\n`, /working directory "tmp"/],
    ['bad env', `${base}igloo.env = NOEQUALS\n`, /"NOEQUALS" is not NAME=VALUE/],
    ['bad signal', `${base}igloo.halt_signal = SIGFOO\n`, /unknown halt signal "SIGFOO"/],
    ['relative mount source', `${base}igloo.mount = a /b\n`, /mount source "a"/],
    ['mount over /', `${base}igloo.mount = /a /\n`, /mount target "\/"/],
    [
      'relative seccomp profile',
      `${base}igloo.seccomp = profile.json\n`,
      /seccomp profile "profile.json"/,
    ],
    ['unknown rlimit', `${base}igloo.rlimit = RLIMIT_FOO 1\n`, /unknown rlimit "RLIMIT_FOO"/],
    [
      'soft above hard',
      `${base}igloo.rlimit = RLIMIT_NOFILE 10 5\n`,
      /soft limit 10 is above its hard limit 5/,
    ],
  ];
  test('refuses an overlapping map with EOVERLAP', () =>
    rejects(() => parseConfig(`${base}igloo.idmap = u 65535 3000000 2\n`), 'EOVERLAP', /overlap/i));
  for (const [what, text, pattern] of cases) {
    test(`refuses ${what}`, () => rejects(() => parseConfig(text), 'EINVAL', pattern));
  }
});

describe('validateName()', () => {
  test('accepts names made of the allowed characters', () => {
    for (const name of ['a', 'anna-c1', 'A.b_c-9', '0', 'x'.repeat(64)])
      assert.equal(validateName(name), name);
  });
  test('refuses names that could escape or confuse, before any path is made', () => {
    for (const name of [
      '',
      '.',
      '..',
      '../x',
      'a/b',
      '-a',
      '.hidden',
      'a b',
      'x'.repeat(65),
      'a\0b',
      'é',
    ]) {
      rejects(() => validateName(name), 'EINVAL', /Invalid container name/);
    }
  });
});

describe('igloo.init', () => {
  test('an argument with spaces is kept as one argument through the file', () => {
    const c = parseConfig(`${base}igloo.init = ["/bin/sh", "-c", "while :; do sleep 1; done"]\n`);
    assert.deepEqual(c.init, ['/bin/sh', '-c', 'while :; do sleep 1; done']);
    assert.match(
      formatConfig(c),
      /^igloo\.init = \["\/bin\/sh","-c","while :; do sleep 1; done"\]$/m,
    );
    assert.match(
      formatConfig(parseConfig(`${base}igloo.init = /sbin/init splash\n`)),
      /^igloo\.init = \/sbin\/init splash$/m,
    );
  });
  test('a list that is not JSON strings is refused with its line', () => {
    rejects(
      () => parseConfig(`${base}igloo.init = [1, 2]\n`),
      'EPARSE',
      /line 5 .*JSON list of strings/,
    );
    rejects(
      () => parseConfig(`${base}igloo.init = [oops\n`),
      'EPARSE',
      /line 5 .*JSON list of strings/,
    );
  });
});
