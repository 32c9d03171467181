import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { IglooError } from '../errors.ts';
import { MS } from '../plan/mount-flags.ts';
import { encodePlan } from '../plan/plan.ts';
import { readOciConfig, readOciProcess } from './config.ts';
import { defaultOciSpec, ociFeatures } from './features.ts';
import { planOciCreate, planOciExec } from './plan.ts';
import { ociCgroup, readOciResources, sharesToWeight } from './resources.ts';
import { checkOciId, ociState, ociStatus, parseSignal, type OciRecord } from './state.ts';

/** config.json as the tests edit it: any JSON. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Cfg = any;

const ctx = { bundle: '/b' };
const base = () => defaultOciSpec() as Cfg;
const read = (c: unknown) => readOciConfig(c, '/b/config.json', ctx);

function refused(c: unknown, field: RegExp, code = 'EINVAL'): IglooError {
  try {
    read(c);
  } catch (err) {
    assert.ok(err instanceof IglooError);
    assert.equal(err.code, code, err.message);
    assert.match(err.subject ?? '', field, err.message);
    assert.equal(err.path, '/b/config.json');
    assert.ok(err.hint, 'every refusal says what to do');
    return err;
  }
  assert.fail('not refused');
}

describe('config.json', () => {
  test("runc spec's default reads: namespaces, mounts, process, masks", () => {
    const l = read(base());
    assert.equal(l.rootfs, '/b/rootfs');
    assert.equal(l.rootReadonly, true);
    assert.deepEqual([...l.create].sort(), ['ipc', 'mnt', 'net', 'pid', 'uts']);
    assert.deepEqual(l.joins, []);
    assert.deepEqual(l.idmap, { uid: [], gid: [] });
    assert.deepEqual(l.process.args, ['sh']);
    assert.deepEqual(l.process.bounding, ['audit_write', 'kill', 'net_bind_service']);
    const withAmbient = base();
    withAmbient.process.capabilities.ambient = ['CAP_KILL'];
    assert.doesNotThrow(() => read(withAmbient), 'ambient is accepted for uid 0');
    assert.equal(l.process.noNewPrivileges, true);
    assert.deepEqual(l.process.rlimits, [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 1024 }]);
    const proc = l.mounts[0]!;
    assert.deepEqual(proc, {
      op: 'mount',
      source: 'proc',
      target: '/proc',
      fstype: 'proc',
      flags: 0,
      data: '',
    });
    const dev = l.mounts.find((m) => m.op === 'mount' && m.target === '/dev');
    assert.deepEqual(dev, {
      op: 'mount',
      source: 'tmpfs',
      target: '/dev',
      fstype: 'tmpfs',
      flags: MS.NOSUID | MS.STRICTATIME,
      data: 'mode=755,size=65536k',
    });
    // a fresh /dev gets the default devices and links
    assert.ok(
      l.mounts.some((m) => m.op === 'bind' && m.target === '/dev/null' && m.source === '/dev/null'),
    );
    assert.ok(
      l.mounts.some((m) => m.op === 'symlink' && m.path === '/dev/ptmx' && m.target === 'pts/ptmx'),
    );
    assert.ok(l.maskedPaths.includes('/proc/kcore'));
    assert.ok(l.readonlyPaths.includes('/proc/sys'));
  });

  test('mount options: flags, data, bind and rbind, propagation ignored, ro on a bind', () => {
    const c = base();
    c.mounts = [
      {
        destination: '/data',
        type: 'bind',
        source: 'data',
        options: ['rbind', 'ro', 'nosuid', 'rprivate'],
      },
      {
        destination: '/t',
        type: 'tmpfs',
        source: 'tmpfs',
        options: ['noexec', 'exec', 'size=1m', 'rw'],
      },
    ];
    const l = read(c);
    assert.deepEqual(l.mounts[0], {
      op: 'bind',
      source: '/b/data',
      target: '/data',
      flags: MS.REC | MS.RDONLY | MS.NOSUID,
    });
    assert.deepEqual(l.mounts[1], {
      op: 'mount',
      source: 'tmpfs',
      target: '/t',
      fstype: 'tmpfs',
      flags: 0,
      data: 'size=1m',
    });
    assert.equal(l.mounts.length, 2, 'no fresh /dev, no default devices');
  });

  test('sysfs in a new user namespace without a network namespace is the host /sys, read-only', () => {
    const c = base();
    c.linux.namespaces = [{ type: 'user' }, { type: 'mount' }, { type: 'uts' }];
    c.linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    c.linux.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    const sys = read(c).mounts.find((m) => 'target' in m && m.target === '/sys');
    assert.deepEqual(sys, {
      op: 'bind',
      source: '/sys',
      target: '/sys',
      flags: MS.REC | MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC,
    });
    assert.deepEqual(read(c).idmap.uid, [{ inside: 0, outside: 100000, count: 65536 }]);
  });

  test('namespaces with a path are joined; their kinds are named as igloo names them', () => {
    const c = base();
    c.linux.namespaces = [
      { type: 'mount' },
      { type: 'network', path: '/run/netns/x' },
      { type: 'pid', path: '' },
      { type: 'uts' },
    ];
    const l = read(c);
    assert.deepEqual(l.create, ['mnt', 'pid', 'uts']);
    assert.deepEqual(l.joins, [{ kind: 'net', path: '/run/netns/x' }]);
  });

  test('refusals name the field', () => {
    const cases: [(c: Cfg) => void, RegExp, string?][] = [
      [(c) => (c.process.args = []), /^process\.args$/],
      [(c) => delete c.process, /^process$/],
      [(c) => (c.ociVersion = '2.0.0'), /^ociVersion$/],
      [(c) => delete c.root, /^root$/],
      [(c) => c.linux.namespaces.push({ type: 'time' }), /namespaces\[5\]\.type/, 'ENOTSUP'],
      [(c) => c.linux.namespaces.push({ type: 'pid' }), /namespaces\[5\]\.type/],
      [(c) => c.linux.namespaces.push({ type: 'bogus' }), /namespaces\[5\]\.type/],
      [(c) => c.linux.namespaces.push({ type: 'user', path: 'rel' }), /namespaces\[5\]\.path/],
      [(c) => c.linux.namespaces.push({ type: 'user' }), /uidMappings/],
      [(c) => (c.linux.uidMappings = [{ containerID: 0, hostID: 1, size: 1 }]), /uidMappings/],
      [
        (c) => (c.linux.namespaces = c.linux.namespaces.filter((n: Cfg) => n.type !== 'uts')),
        /^hostname$/,
      ],
      [
        (c) => (c.linux.namespaces = c.linux.namespaces.filter((n: Cfg) => n.type !== 'mount')),
        /linux\.namespaces/,
      ],
      [
        (c) => c.process.rlimits.push({ type: 'RLIMIT_NOFILE', hard: 1, soft: 1 }),
        /rlimits\[1\]\.type/,
      ],
      [
        (c) => (c.process.rlimits = [{ type: 'RLIMIT_BOGUS', hard: 1, soft: 1 }]),
        /rlimits\[0\]\.type/,
      ],
      [
        (c) => (c.process.rlimits = [{ type: 'RLIMIT_CORE', hard: 1, soft: 2 }]),
        /rlimits\[0\]\.soft/,
      ],
      [(c) => (c.process.capabilities.bounding = ['CAP_NOPE']), /capabilities\.bounding/],
      [
        (c) => {
          c.process.capabilities.ambient = ['CAP_KILL'];
          c.process.user.uid = 1000;
        },
        /capabilities\.ambient/,
        'ENOTSUP',
      ],
      [(c) => (c.process.user.username = 'x'), /user\.username/, 'ENOTSUP'],
      [(c) => (c.process.cwd = 'rel'), /process\.cwd/],
      [(c) => (c.process.oomScoreAdj = 5000), /oomScoreAdj/],
      [
        (c) => (c.hooks = { createContainer: [{ path: '/x' }] }),
        /hooks\.createContainer/,
        'ENOTSUP',
      ],
      [(c) => (c.hooks = { prestart: [{ path: 'x' }] }), /hooks\.prestart\[0\]\.path/],
      [(c) => (c.hooks = { prestart: [{ path: '/x', timeout: 0 }] }), /timeout/],
      [(c) => (c.hooks = { bogus: [] }), /hooks\.bogus/],
      [(c) => c.mounts.push({ destination: 'rel', type: 'tmpfs' }), /mounts\[6\]\.destination/],
      [
        (c) => c.mounts.push({ destination: '/x', type: 'bind', source: '/y', options: ['idmap'] }),
        /mounts\[6\]\.options/,
        'ENOTSUP',
      ],
      [(c) => c.mounts.push({ destination: '/x', options: ['ro'] }), /mounts\[6\]\.type/],
      [(c) => (c.linux.sysctl = { 'net/../x': '1' }), /sysctl/],
      [(c) => (c.linux.rootfsPropagation = 'sideways'), /rootfsPropagation/],
      [(c) => (c.linux.devices = [{ path: '/dev/x', type: 'q' }]), /devices\[0\]\.type/],
      [(c) => (c.linux.intelRdt = {}), /intelRdt/, 'ENOTSUP'],
    ];
    for (const [change, field, code] of cases) {
      const c = base();
      change(c);
      refused(c, field, code);
    }
  });

  test('an exec process.json reads like config.json process', () => {
    const p = readOciProcess(
      {
        args: ['id'],
        env: ['A=1'],
        cwd: '/tmp',
        user: { uid: 5, gid: 6, additionalGids: [7], umask: 0o22 },
      },
      '/p.json',
    );
    assert.deepEqual(p.groups, [7]);
    assert.equal(p.umask, 0o22);
    assert.equal(p.terminal, false);
    assert.throws(() => readOciProcess({ args: [] }, '/p.json'), /process\.args/);
  });
});

describe('plans', () => {
  const gate = '/run/igloo-runc/c1/exec.fifo';

  test('create: mode created with the gate, no maps without a user namespace, steps in order', () => {
    const c = base();
    c.process.terminal = false;
    c.linux.namespaces.push({ type: 'cgroup', path: '/proc/1/ns/cgroup' });
    c.linux.sysctl = { 'net.ipv4.ip_forward': '1' };
    c.process.user.umask = 0o27;
    const plan = planOciCreate(read(c), { gate });
    assert.equal(plan.mode, 'created');
    assert.equal(plan.gate, gate);
    assert.equal(plan.nomaps, true);
    assert.equal(plan.console, 'inherit');
    assert.deepEqual(plan.joins, [{ kind: 'cgroup', path: '/proc/1/ns/cgroup' }]);
    const ops = plan.steps.map((s) => s.op);
    assert.equal(ops[0], 'rootfs');
    assert.ok(
      ops.indexOf('writefile') < ops.indexOf('readonly'),
      'sysctls before /proc/sys is read-only',
    );
    assert.ok(ops.indexOf('mask') < ops.indexOf('pivot'));
    const afterPivot = ops.slice(ops.indexOf('pivot') + 1);
    assert.deepEqual(afterPivot, [
      'readonly',
      'hostname',
      'chdir',
      'rlimit',
      'umask',
      'caps',
      'nnp',
      'ids',
      'exec',
    ]);
    assert.ok(
      plan.steps.some(
        (s) => s.op === 'writefile' && s.path === '/proc/sys/net/ipv4/ip_forward' && s.data === '1',
      ),
    );
    const text = encodePlan(plan);
    for (const rec of [
      'mode\0created\0',
      `gate\0${gate}\0`,
      'nomaps\0',
      'joinns\0cgroup\0/proc/1/ns/cgroup\0',
      'umask\x0027\0',
    ])
      assert.ok(text.includes(rec), rec);
  });

  test('create with a terminal: a console pty made in the container, the socket named', () => {
    const l = read(base());
    const plan = planOciCreate(l, { gate, consoleSocket: '/tmp/s' });
    assert.equal(plan.console, 'pty');
    assert.equal(plan.consoleSocket, '/tmp/s');
    assert.ok(plan.steps.some((s) => s.op === 'devconsole'));
  });

  test('a user namespace carries its maps; seccomp comes before ids without no_new_privs', () => {
    const c = base();
    c.linux.namespaces.push({ type: 'user' });
    c.linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    c.linux.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    c.process.noNewPrivileges = false;
    c.linux.seccomp = {
      defaultAction: 'SCMP_ACT_ALLOW',
      // engines' default profiles name calls of other architectures: skipped, as runc does
      syscalls: [{ names: ['mkdir', 'pciconfig_iobase'], action: 'SCMP_ACT_ERRNO' }],
    };
    const plan = planOciCreate(read(c), { gate });
    assert.equal(plan.nomaps, undefined);
    assert.equal(plan.idmap.uid[0]!.outside, 100000);
    const ops = plan.steps.map((s) => s.op);
    assert.ok(ops.indexOf('seccomp') < ops.indexOf('ids'));
    assert.ok(!ops.includes('nnp'));
  });

  test('exec joins every namespace init has, detached or not', () => {
    const l = read(base());
    const plan = planOciExec(
      l,
      { ...l.process, terminal: false, args: ['id'] },
      {
        pid: 42,
        start: 99,
        namespaces: ['pid', 'mnt'],
        detach: true,
      },
    );
    assert.equal(plan.kind, 'exec');
    assert.equal(plan.mode, 'detached');
    assert.equal(plan.joinPid, 42);
    assert.equal(plan.joinStart, 99);
    assert.ok(encodePlan(plan).includes('join\x0042\0pid,mnt\0'));
    assert.equal(plan.steps.at(-1)!.op, 'exec');
  });
});

describe('state', () => {
  const record: OciRecord = {
    id: 'c1',
    bundle: '/b',
    pid: 10,
    start: 500,
    created: '2026-01-01T00:00:00.000Z',
    owner: 'root',
    launch: read(base()),
  };

  test('status follows the pid, its start time, the fifo and the freezer', () => {
    const stat = { state: 'S', startTime: 500 };
    assert.equal(ociStatus(record, { stat, fifo: true, frozen: false }), 'created');
    assert.equal(ociStatus(record, { stat, fifo: false, frozen: false }), 'running');
    assert.equal(ociStatus(record, { stat, fifo: false, frozen: true }), 'paused');
    assert.equal(
      ociStatus(record, { stat: { state: 'S', startTime: 501 }, fifo: false, frozen: false }),
      'stopped',
      'a recycled pid',
    );
    assert.equal(
      ociStatus(record, { stat: { state: 'Z', startTime: 500 }, fifo: false, frozen: false }),
      'stopped',
      'a zombie',
    );
    assert.equal(ociStatus(record, { stat: undefined, fifo: true, frozen: false }), 'stopped');
  });

  test('the state JSON of the spec, pid 0 once stopped', () => {
    assert.deepEqual(ociState(record, 'running'), {
      ociVersion: '1.0.2',
      id: 'c1',
      status: 'running',
      pid: 10,
      bundle: '/b',
      rootfs: '/b/rootfs',
      created: '2026-01-01T00:00:00.000Z',
      owner: 'root',
    });
    assert.equal(ociState(record, 'stopped').pid, 0);
  });

  test('ids are one path component', () => {
    for (const ok of ['c1', 'a.b-c_d+e', 'x'.repeat(1024)]) assert.equal(checkOciId(ok), ok);
    for (const bad of ['', '.', '..', 'a/b', '../x', 'a b', 'x'.repeat(1025), 'a\0b'])
      assert.throws(() => checkOciId(bad), /Invalid container ID/);
  });

  test('signals: numbers, names with and without SIG, Cfg case, RTMIN+N', () => {
    assert.equal(parseSignal('15'), 15);
    assert.equal(parseSignal('KILL'), 9);
    assert.equal(parseSignal('SIGTERM'), 15);
    assert.equal(parseSignal('sighup'), 1);
    assert.equal(parseSignal('RTMIN+2'), 36);
    assert.equal(parseSignal('SIGWINCH'), 28);
    for (const bad of ['0', '65', 'NOPE', 'SIG', '-1', 'RTMIN+40'])
      assert.throws(() => parseSignal(bad), /Invalid signal/);
  });

  test('features are what config.ts accepts', () => {
    const f = ociFeatures({ cgroupV1: true, cgroupV2: false }) as Cfg;
    assert.ok(!f.linux.namespaces.includes('time'));
    assert.equal(f.linux.mountExtensions.idmap.enabled, false);
    assert.ok(!f.hooks.includes('createContainer'));
    assert.ok(f.linux.capabilities.includes('CAP_SYS_ADMIN'));
    // every mount option features lists is accepted
    const c = base();
    c.mounts = [
      {
        destination: '/t',
        type: 'tmpfs',
        source: 'tmpfs',
        options: f.mountOptions.filter((o: string) => !['bind', 'rbind'].includes(o)),
      },
    ];
    assert.doesNotThrow(() => read(c));
  });
});

describe('linux.resources', () => {
  test('limits in igloo terms, unlimited values dropped, tuning fields ignored by name', () => {
    const r = readOciResources({
      memory: { limit: 67108864, swap: 134217728, swappiness: 60, reservation: -1 },
      pids: { limit: -1 },
      cpu: { quota: 50000, period: 100000, shares: 1024, cpus: '0-1' },
      blockIO: { weight: 500 },
      devices: [
        { allow: false, access: 'rwm' },
        { allow: true, type: 'c', major: 10, minor: 229, access: 'rwm' },
      ],
    });
    assert.deepEqual(r.limits, {
      memory: 67108864,
      memorySwap: 134217728,
      cpus: 0.5,
      cpuWeight: sharesToWeight(1024),
      cpuset: '0-1',
      ioWeight: r.limits.ioWeight,
    });
    assert.ok(r.limits.ioWeight! > 1 && r.limits.ioWeight! < 10000);
    assert.deepEqual(r.ignored, ['memory.swappiness']);
    assert.deepEqual(r.deviceAllows, ['c 10:229 rwm']);
    assert.equal(sharesToWeight(2), 1);
    assert.equal(sharesToWeight(262144), 10000);
  });

  test('what cannot be applied is refused, naming the field', () => {
    assert.throws(
      () => readOciResources({ hugepageLimits: [{ pageSize: '2MB', limit: 1 }] }),
      /hugepageLimits/,
    );
    assert.throws(() => readOciResources({ memory: { swap: 10 } }), /memory\.swap/);
    assert.throws(() => readOciResources({ pids: { limit: 1.5 } }), /pids\.limit/);
  });

  test('the cgroup: cgroupsPath as given, igloo-runc/ID without, systemd form and escapes refused', () => {
    assert.equal(ociCgroup(undefined, 'c1'), 'igloo-runc/c1');
    assert.equal(ociCgroup('/libpod_parent/libpod-abc', 'c1'), 'libpod_parent/libpod-abc');
    assert.equal(ociCgroup('default/c1', 'c1'), 'default/c1');
    assert.throws(() => ociCgroup('machine.slice:libpod:abc', 'c1'), /systemd/);
    assert.throws(() => ociCgroup('/a/../../b', 'c1'), /leaves the cgroup tree/);
  });
});
