import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IglooError } from '../errors.ts';
import { formatConfig, parseConfig } from './file.ts';
import { reduceImportedConfig } from './import.ts';

const idmap = {
  uid: [{ inside: 0, outside: 3000000, count: 65536 }],
  gid: [{ inside: 0, outside: 3000000, count: 65536 }],
};
const target = {
  name: 'moved',
  rootfs: '/var/lib/igloo/containers/moved/rootfs',
  idmap,
  nestingMounts: [{ source: '/usr/bin/node', target: '/usr/local/bin/node', readonly: true }],
};

test('a config create wrote is kept whole, with the new name, rootfs and map', () => {
  const made = parseConfig(
    [
      'igloo.name = old',
      'igloo.rootfs = /elsewhere/old/rootfs',
      'igloo.idmap = u 0 2000000 65536',
      'igloo.idmap = g 0 2000000 65536',
      'igloo.hostname = oldhost',
      'igloo.init = ["/bin/sh", "-c", "echo a; sleep 1"]',
      'igloo.env = PATH=/bin',
      'igloo.cwd = /srv',
      'igloo.user = 0:0',
      'igloo.halt_signal = SIGTERM',
    ].join('\n'),
  );
  const r = reduceImportedConfig(formatConfig(made), target);
  assert.deepEqual(r.refused, []);
  assert.equal(r.config.name, 'moved');
  assert.equal(r.config.rootfs, target.rootfs);
  assert.deepEqual(r.config.idmap, idmap);
  assert.equal(r.config.hostname, 'oldhost');
  assert.deepEqual(r.config.init, ['/bin/sh', '-c', 'echo a; sleep 1']);
  assert.deepEqual(r.config.env, ['PATH=/bin']);
  assert.equal(r.config.cwd, '/srv');
  assert.equal(r.config.haltSignal, 'SIGTERM');
  assert.equal(r.config.noNewPrivs, true);
  assert.deepEqual(r.config.mounts, []);
});

test('host mounts, unconfined seccomp, kept caps, rlimits, fewer namespaces, lxc and unknown keys are refused and reported', () => {
  const text = [
    'igloo.name = x',
    'igloo.idmap = u 0 2000000 65536',
    'igloo.mount = /etc /hostetc rw',
    'igloo.seccomp = unconfined',
    'igloo.cap.keep = sys_admin, sys_module',
    'igloo.cap.drop = net_raw',
    'igloo.seccomp.deny = keyctl',
    'igloo.rlimit = RLIMIT_NOFILE 1048576',
    'igloo.namespaces = user,mnt,pid',
    'igloo.no_new_privs = false',
    'lxc.cap.drop = sys_time',
    'lxc.mount.entry = /dev dev none bind',
    'igloo.whatever = 1',
    'igloo.user = nobody',
    'no equals sign',
  ].join('\n');
  const r = reduceImportedConfig(text, target);
  const keys = r.refused.map((x) => x.key);
  assert.deepEqual(keys, [
    'igloo.mount',
    'igloo.seccomp',
    'igloo.cap.keep',
    'igloo.rlimit',
    'igloo.namespaces',
    'igloo.no_new_privs',
    'lxc.cap.drop',
    'lxc.mount.entry',
    'igloo.whatever',
    'igloo.user',
    'no equals sign',
  ]);
  assert.equal(r.refused[0]!.line, 3);
  assert.match(r.refused[0]!.why, /host path/);
  assert.deepEqual(r.config.mounts, []);
  assert.equal(r.config.seccomp?.profile, 'default');
  assert.deepEqual(r.config.caps, { keep: [], drop: ['net_raw'] });
  assert.deepEqual(r.config.seccomp?.deny, [{ name: 'keyctl', errno: 'EPERM' }]);
  assert.deepEqual(r.config.rlimits, []);
  assert.deepEqual([...r.config.namespaces].sort(), [
    'cgroup',
    'ipc',
    'mnt',
    'net',
    'pid',
    'user',
    'uts',
  ]);
  assert.equal(r.config.noNewPrivs, true);
  // what is kept round-trips through the config file
  assert.deepEqual(parseConfig(formatConfig(r.config)), r.config);
});

test('a nesting container keeps nesting, with this host mounts, not the archive ones', () => {
  const r = reduceImportedConfig(
    [
      'igloo.nesting = true',
      'igloo.no_new_privs = false',
      'igloo.mount = /opt/evil/node /usr/local/bin/node ro',
    ].join('\n'),
    target,
  );
  assert.equal(r.config.nesting, true);
  assert.equal(r.config.noNewPrivs, false);
  assert.deepEqual(r.config.mounts, target.nestingMounts);
  assert.deepEqual(
    r.refused.map((x) => x.key),
    ['igloo.mount'],
  );
});

test('a kept setting that cannot hold in the new map is an error naming it', () => {
  assert.throws(
    () => reduceImportedConfig('igloo.user = 70000:0\n', target),
    (err: unknown) =>
      err instanceof IglooError && err.code === 'EINVAL' && /70000 is not mapped/.test(err.message),
  );
});

test('the network modes create picks are kept; host loopback, bridges, port forwards and autostart are refused; limits kept', () => {
  const base = [
    'igloo.name = x',
    'igloo.idmap = u 0 2000000 65536',
    'igloo.idmap = g 0 2000000 65536',
  ];
  for (const mode of ['none', 'private', 'user']) {
    const r = reduceImportedConfig([...base, `igloo.net = ${mode}`].join('\n'), target);
    assert.deepEqual(r.refused, [], mode);
    assert.equal(r.config.net?.mode, mode);
  }
  const r = reduceImportedConfig(
    [
      ...base,
      'igloo.net = user,host-loopback',
      'igloo.net = bridge=lxcbr0',
      'igloo.net.port = 8080:80',
      'igloo.autostart = true',
      'igloo.limits.memory = 512M',
      'igloo.limits.pids = 100',
    ].join('\n'),
    target,
  );
  assert.deepEqual(
    r.refused.map((x) => x.key),
    ['igloo.net', 'igloo.net', 'igloo.net.port', 'igloo.autostart'],
  );
  assert.equal(r.config.net, undefined);
  assert.equal(r.config.ports, undefined);
  assert.equal(r.config.autostart, undefined);
  assert.deepEqual(r.config.limits, { memory: 512 * 1024 * 1024, pids: 100 });
});
