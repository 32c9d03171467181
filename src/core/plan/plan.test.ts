import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseConfig } from '../config/file.ts';
import { runnableConfig } from '../config/runnable.ts';
import { MS } from './mount-flags.ts';
import { assemble, defaultProfile, encodeProgram } from '../seccomp/index.ts';
import {
  MASKED_PATHS,
  READONLY_PATHS,
  encodePlan,
  memoryRootfsSteps,
  planExec,
  planStart,
  planUserns,
  type Step,
} from './plan.ts';

/** The default hardening around `ids` (no_new_privs on: the filter after ids). */
const DEFAULT_PROGRAM = encodeProgram(assemble(defaultProfile()));
const hardened = (ids: Step): Step[] => [
  { op: 'caps', keep: '100bdfcffff' },
  { op: 'nnp' },
  ids,
  { op: 'seccomp', program: DEFAULT_PROGRAM },
];

const config = runnableConfig(
  parseConfig(`igloo.name = anna-c1
igloo.rootfs = /var/lib/igloo/containers/anna-c1/rootfs
igloo.idmap = b 0 2000000 65536
igloo.env = PATH=/bin
igloo.mount = /srv /srv ro
`),
);

/** Decodes the helper's wire format back into strings (what helper.c sees). */
function fields(encoded: string): string[] {
  assert.ok(encoded.endsWith('\0'));
  return encoded.slice(0, -1).split('\0');
}

describe('planStart()', () => {
  test('a system container: the whole plan (snapshot)', () => {
    const plan = planStart(config, {
      mode: 'detached',
      console: 'pty',
      rundir: '/run/igloo/anna-c1',
    });
    const nsd = MS.NOSUID | MS.NODEV | MS.NOEXEC;
    const expected: Step[] = [
      { op: 'rootfs', path: '/var/lib/igloo/containers/anna-c1/rootfs' },
      { op: 'mount', source: 'proc', target: '/proc', fstype: 'proc', flags: nsd, data: '' },
      {
        op: 'mount',
        source: 'tmpfs',
        target: '/dev',
        fstype: 'tmpfs',
        flags: MS.NOSUID | MS.STRICTATIME,
        data: 'mode=755,size=65536k',
      },
      ...['null', 'zero', 'full', 'random', 'urandom', 'tty'].map((d): Step => ({
        op: 'bind',
        source: `/dev/${d}`,
        target: `/dev/${d}`,
        flags: MS.NOSUID | MS.NOEXEC,
      })),
      {
        op: 'mount',
        source: 'devpts',
        target: '/dev/pts',
        fstype: 'devpts',
        flags: MS.NOSUID | MS.NOEXEC,
        data: 'newinstance,ptmxmode=0666,mode=0620,gid=5',
      },
      { op: 'symlink', target: 'pts/ptmx', path: '/dev/ptmx' },
      {
        op: 'mount',
        source: 'shm',
        target: '/dev/shm',
        fstype: 'tmpfs',
        flags: nsd,
        data: 'mode=1777,size=65536k',
      },
      {
        op: 'mount',
        source: 'mqueue',
        target: '/dev/mqueue',
        fstype: 'mqueue',
        flags: nsd,
        data: '',
      },
      { op: 'symlink', target: '/proc/self/fd', path: '/dev/fd' },
      { op: 'symlink', target: '/proc/self/fd/0', path: '/dev/stdin' },
      { op: 'symlink', target: '/proc/self/fd/1', path: '/dev/stdout' },
      { op: 'symlink', target: '/proc/self/fd/2', path: '/dev/stderr' },
      {
        op: 'mount',
        source: 'sysfs',
        target: '/sys',
        fstype: 'sysfs',
        flags: MS.RDONLY | nsd,
        data: '',
      },
      {
        op: 'bind',
        source: '/srv',
        target: '/srv',
        flags: MS.REC | MS.NOSUID | MS.NODEV | MS.RDONLY,
      },
      ...['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys'].map((path): Step => ({
        op: 'readonly',
        path,
      })),
      ...[
        '/proc/acpi',
        '/proc/asound',
        '/proc/kcore',
        '/proc/keys',
        '/proc/latency_stats',
        '/proc/timer_list',
        '/proc/timer_stats',
        '/proc/sched_debug',
        '/proc/scsi',
        '/proc/sysrq-trigger',
        '/sys/firmware',
        '/sys/devices/virtual/powercap',
      ].map((path): Step => ({ op: 'mask', path })),
      { op: 'pivot' },
      { op: 'devconsole' },
      { op: 'hostname', name: 'anna-c1' },
      { op: 'loopback' },
      { op: 'chdir', path: '/' },
      ...hardened({ op: 'ids', uid: 0, gid: 0, groups: [] }),
      { op: 'exec', file: '/sbin/init', argv: ['/sbin/init'], env: ['PATH=/bin'] },
    ];
    assert.deepEqual(plan.steps, expected);
    assert.deepEqual(plan.namespaces, ['user', 'pid', 'mnt', 'uts', 'ipc', 'net', 'cgroup']);
    assert.deepEqual(plan.idmap, config.idmap);
    assert.equal(plan.mode, 'detached');
    assert.equal(plan.console, 'pty');
  });

  test('/proc comes before /dev and /sys, every mount before pivot, the filter just before exec', () => {
    const ops = planStart(config, { mode: 'foreground', console: 'inherit' }).steps.map((s) =>
      s.op === 'mount' ? `mount ${s.target}` : s.op,
    );
    assert.ok(ops.indexOf('mount /proc') < ops.indexOf('mount /dev'));
    assert.ok(ops.indexOf('mount /dev') < ops.indexOf('mount /sys'));
    assert.ok(ops.lastIndexOf('bind') < ops.indexOf('readonly'));
    assert.ok(ops.lastIndexOf('mask') < ops.indexOf('pivot'));
    assert.ok(
      ops.indexOf('mount /sys') < ops.indexOf('mask'),
      '/sys/firmware is masked after /sys',
    );
    assert.deepEqual(ops.slice(-5), ['caps', 'nnp', 'ids', 'seccomp', 'exec']);
  });

  test('the masks and read-only paths cover what the hardening list names', () => {
    for (const p of ['/proc/kcore', '/proc/sysrq-trigger', '/proc/keys', '/proc/timer_list'])
      assert.ok(MASKED_PATHS.includes(p), p);
    for (const p of ['/proc/latency_stats', '/proc/sched_debug', '/sys/firmware'])
      assert.ok(MASKED_PATHS.includes(p), p);
    for (const p of ['/proc/sys', '/proc/irq', '/proc/bus'])
      assert.ok(READONLY_PATHS.includes(p), p);
  });

  test('without no_new_privs the filter is installed before ids, while still root', () => {
    const ops = planStart(
      { ...config, noNewPrivs: false },
      { mode: 'foreground', console: 'inherit' },
    ).steps.map((s) => s.op);
    assert.deepEqual(ops.slice(-4), ['caps', 'seccomp', 'ids', 'exec']);
    assert.equal(ops.includes('nnp'), false);
  });

  test('unconfined has no filter; extra denies and capabilities change the records', () => {
    const un = planStart(
      { ...config, seccomp: { profile: 'unconfined', deny: [], oci: undefined } },
      { mode: 'foreground', console: 'inherit' },
    );
    assert.equal(
      un.steps.some((s) => s.op === 'seccomp'),
      false,
    );
    const more = planStart(
      {
        ...config,
        seccomp: { profile: 'default', deny: [{ name: 'ptrace', errno: 'EPERM' }], oci: undefined },
        caps: { keep: ['sys_time'], drop: ['net_raw'] },
      },
      { mode: 'foreground', console: 'inherit' },
    );
    const seccomp = more.steps.find((s) => s.op === 'seccomp');
    assert.ok(seccomp && seccomp.op === 'seccomp' && seccomp.program !== DEFAULT_PROGRAM);
    const caps = more.steps.find((s) => s.op === 'caps');
    // + sys_time (25), - net_raw (13)
    assert.deepEqual(caps, { op: 'caps', keep: '100bffcdfff' });
  });

  test('an OCI profile must be loaded before planning', () => {
    assert.throws(
      () =>
        planStart(
          // @ts-expect-error: the type refuses a config whose profile is not loaded
          { ...config, seccomp: { profile: '/etc/p.json', deny: [] } },
          { mode: 'foreground', console: 'inherit' },
        ),
      /the profile \/etc\/p.json was not loaded/,
    );
    const plan = planStart(
      {
        ...config,
        seccomp: { profile: '/etc/p.json', deny: [], oci: { defaultAction: 'SCMP_ACT_ALLOW' } },
      },
      { mode: 'foreground', console: 'inherit' },
    );
    assert.ok(plan.steps.some((s) => s.op === 'seccomp'));
  });

  test("without a network namespace /sys is the host's, bound read-only; without uts no hostname", () => {
    const c = { ...config, namespaces: ['user', 'pid', 'mnt'] as const };
    const steps = planStart(
      { ...c, namespaces: [...c.namespaces] },
      { mode: 'foreground', console: 'inherit' },
    ).steps;
    assert.deepEqual(
      steps.find((s) => 'target' in s && s.target === '/sys'),
      {
        op: 'bind',
        source: '/sys',
        target: '/sys',
        flags: MS.REC | MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC,
      },
    );
    assert.equal(
      steps.some((s) => s.op === 'hostname'),
      false,
    );
    assert.equal(
      steps.some((s) => 'target' in s && s.target === '/dev/mqueue'),
      false,
    );
  });

  test('devpts has no gid=5 when the container does not map gid 5', () => {
    const c = {
      ...config,
      idmap: { uid: config.idmap.uid, gid: [{ inside: 0, outside: 2000000, count: 1 }] },
    };
    const devpts = planStart(c, { mode: 'foreground', console: 'inherit' }).steps.find(
      (s) => s.op === 'mount' && s.fstype === 'devpts',
    );
    assert.ok(devpts && devpts.op === 'mount' && !devpts.data.includes('gid='));
  });

  test('igloo run replaces init with the command', () => {
    const plan = planStart(config, {
      mode: 'foreground',
      console: 'inherit',
      command: ['/bin/echo', 'hi'],
    });
    assert.deepEqual(plan.steps.at(-1), {
      op: 'exec',
      file: '/bin/echo',
      argv: ['/bin/echo', 'hi'],
      env: ['PATH=/bin'],
    });
  });
});

describe('planExec() and planUserns()', () => {
  test('exec joins the container and runs as the given user', () => {
    const plan = planExec(config, {
      pid: 6900,
      argv: ['id'],
      env: ['A=1'],
      cwd: '/tmp',
      user: { uid: 1000, gid: 100, groups: [5] },
      tty: true,
    });
    assert.equal(plan.kind, 'exec');
    assert.equal(plan.joinPid, 6900);
    assert.equal(plan.console, 'pty');
    assert.deepEqual(plan.idmap, { uid: [], gid: [] });
    assert.deepEqual(plan.steps, [
      { op: 'chdir', path: '/tmp' },
      ...hardened({ op: 'ids', uid: 1000, gid: 100, groups: [5] }),
      { op: 'exec', file: 'id', argv: ['id'], env: ['A=1'] },
    ]);
  });
  test('a user-namespace task has only the user namespace and no mounts', () => {
    const plan = planUserns(config.idmap, ['/bin/rm', '-rf', '/x'], [], '/');
    assert.deepEqual(plan.namespaces, ['user']);
    assert.equal(
      plan.steps.some((s) => s.op === 'mount' || s.op === 'rootfs' || s.op === 'pivot'),
      false,
    );
  });
});

describe('encodePlan()', () => {
  test('an exec plan carries the start time of the pid it joins (joinstart)', () => {
    const opts = {
      pid: 42,
      argv: ['true'],
      env: [],
      cwd: '/',
      user: { uid: 0, gid: 0, groups: [] },
      tty: false,
    };
    const with_ = fields(encodePlan(planExec(config, { ...opts, start: 12345 })));
    assert.deepEqual(with_.slice(2, 7), [
      'join',
      '42',
      'user,pid,mnt,uts,ipc,net,cgroup',
      'joinstart',
      '12345',
    ]);
    const without = fields(encodePlan(planExec(config, opts)));
    assert.ok(!without.includes('joinstart'), 'no start time: no check');
  });

  test('a foreground start with a pty makes it at exec; only a detached init gets /dev/console', () => {
    const ops = (mode: 'foreground' | 'detached') =>
      planStart(config, {
        mode,
        console: 'pty',
        ...(mode === 'detached' && { rundir: '/r' }),
      }).steps.map((s) => s.op);
    assert.ok(!ops('foreground').includes('devconsole'));
    assert.ok(ops('detached').includes('devconsole'));
  });

  test('writes the header and each record as NUL-terminated strings', () => {
    const plan = planExec(config, {
      pid: 42,
      argv: ['sh', '-c', 'echo a b'],
      env: ['X=1'],
      cwd: '/',
      user: { uid: 0, gid: 0, groups: [] },
      tty: false,
    });
    assert.deepEqual(fields(encodePlan(plan)), [
      'igloo-plan',
      '1',
      'join',
      '42',
      'user,pid,mnt,uts,ipc,net,cgroup',
      'mode',
      'foreground',
      'console',
      'inherit',
      'chdir',
      '/',
      'caps',
      '100bdfcffff',
      'nnp',
      'ids',
      '0',
      '0',
      '0',
      'seccomp',
      DEFAULT_PROGRAM,
      'exec',
      'sh',
      '3',
      'sh',
      '-c',
      'echo a b',
      '1',
      'X=1',
    ]);
  });
  test('encodes every step kind', () => {
    const plan = planStart(
      { ...config, rlimits: [{ type: 'RLIMIT_NOFILE', soft: 10, hard: 'unlimited' }] },
      { mode: 'detached', console: 'pty', rundir: '/run/x' },
    );
    const f = fields(encodePlan(plan));
    assert.deepEqual(f.slice(0, 10), [
      'igloo-plan',
      '1',
      'namespaces',
      'user,pid,mnt,uts,ipc,net,cgroup',
      'mode',
      'detached',
      'console',
      'pty',
      'rundir',
      '/run/x',
    ]);
    for (const op of [
      'rootfs',
      'mount',
      'bind',
      'symlink',
      'pivot',
      'hostname',
      'loopback',
      'chdir',
      'rlimit',
      'ids',
      'readonly',
      'mask',
      'caps',
      'nnp',
      'seccomp',
      'exec',
    ])
      assert.ok(f.includes(op), op);
    const r = f.indexOf('rlimit');
    assert.deepEqual(f.slice(r, r + 4), ['rlimit', 'RLIMIT_NOFILE', '10', 'unlimited']);
    const mk = encodePlan({ ...plan, steps: [{ op: 'mkdir', path: '/x', mode: 0o755 }] });
    assert.deepEqual(fields(mk).slice(-3), ['mkdir', '/x', '755']);
  });
  test('carries the id maps for the helper to install, as counted triples after the header', () => {
    const two = {
      uid: [
        { inside: 0, outside: 2000000, count: 1000 },
        { inside: 1000, outside: 2001000, count: 64536 },
      ],
      gid: [{ inside: 0, outside: 2000000, count: 65536 }],
    };
    const f = fields(
      encodePlan(planStart({ ...config, idmap: two }, { mode: 'foreground', console: 'inherit' })),
    );
    const u = f.indexOf('idmap');
    assert.deepEqual(f.slice(u, u + 17), [
      ...['idmap', 'uid', '2', '0', '2000000', '1000', '1000', '2001000', '64536'],
      ...['idmap', 'gid', '1', '0', '2000000', '65536'],
      'rootfs',
      config.rootfs,
    ]);
    // exec joins an existing namespace: no maps; a start without a user namespace: none either
    const exec = planExec(config, {
      pid: 7,
      argv: ['true'],
      env: [],
      cwd: '/',
      user: { uid: 0, gid: 0, groups: [] },
      tty: false,
    });
    assert.ok(!fields(encodePlan(exec)).includes('idmap'));
    const noUser = planStart(
      { ...config, namespaces: config.namespaces.filter((n) => n !== 'user') },
      { mode: 'foreground', console: 'inherit' },
    );
    assert.ok(!fields(encodePlan(noUser)).includes('idmap'));
  });
  test('refuses a field containing NUL', () => {
    const plan = planExec(config, {
      pid: 1,
      argv: ['a\0b'],
      env: [],
      cwd: '/',
      user: { uid: 0, gid: 0, groups: [] },
      tty: false,
    });
    assert.throws(() => encodePlan(plan), /NUL/);
  });
});

describe('nesting', () => {
  test('a nesting container keeps /proc and /sys whole and has no no_new_privs', () => {
    const nesting = runnableConfig(
      parseConfig(`igloo.name = elsa-c1
igloo.rootfs = /r
igloo.idmap = b 0 3000000 524288
igloo.nesting = true
`),
    );
    assert.equal(nesting.noNewPrivs, false);
    const ops = planStart(nesting, { mode: 'detached', console: 'pty' }).steps.map((s) => s.op);
    assert.equal(ops.includes('mask'), false);
    assert.equal(ops.includes('readonly'), false);
    assert.equal(ops.includes('nnp'), false);
    assert.ok(ops.includes('seccomp'), 'the filter stays');
    const plain = planStart(config, { mode: 'detached', console: 'pty' }).steps.map((s) => s.op);
    assert.ok(plain.includes('mask') && plain.includes('readonly') && plain.includes('nnp'));
  });
});

describe('memoryRootfsSteps()', () => {
  test('a tmpfs on the rootfs, then directories, busybox bound read-only and applet links', () => {
    const steps = memoryRootfsSteps({
      busybox: '/bin/busybox',
      applets: ['bin/busybox', 'bin/sh', 'usr/bin/env', 'linuxrc', 'bin/../evil'],
    });
    assert.deepEqual(steps[0], { op: 'rootfstmpfs', options: 'mode=0755,size=65536k' });
    assert.deepEqual(
      steps.find((s) => s.op === 'bind'),
      {
        op: 'bind',
        source: '/bin/busybox',
        target: '/bin/busybox',
        flags: MS.RDONLY | MS.NOSUID | MS.NODEV,
      },
    );
    assert.deepEqual(
      steps.filter((s) => s.op === 'symlink'),
      [
        { op: 'symlink', target: '../bin/busybox', path: '/bin/sh' },
        { op: 'symlink', target: '../../bin/busybox', path: '/usr/bin/env' },
        { op: 'symlink', target: 'bin/busybox', path: '/linuxrc' },
      ],
    );
    assert.ok(steps.some((s) => s.op === 'mkdir' && s.path === '/tmp' && s.mode === 0o1777));
  });
  test('planStart() puts them right after the rootfs step, before /proc', () => {
    const plan = planStart(config, {
      mode: 'foreground',
      console: 'inherit',
      memoryRootfs: { busybox: '/bin/busybox', applets: ['bin/sh'] },
    });
    assert.deepEqual(
      plan.steps.slice(0, 2).map((s) => s.op),
      ['rootfs', 'rootfstmpfs'],
    );
    const ops = plan.steps.map((s) => (s.op === 'mount' ? `mount ${s.target}` : s.op));
    assert.ok(
      ops.indexOf('bind') < ops.indexOf('mount /proc'),
      'the system is made before the mounts on it',
    );
    const f = fields(encodePlan(plan));
    assert.equal(f[f.indexOf('rootfstmpfs') + 1], 'mode=0755,size=65536k');
  });
});

describe('an idmapped image rootfs', () => {
  const overlay = {
    image: '/var/lib/igloo/images/alpine/rootfs',
    upper: '/var/lib/igloo/containers/anna-c1/upper',
    work: '/var/lib/igloo/containers/anna-c1/work',
  };
  test('rootfsidmap comes right after rootfs, before /proc; the rest of the plan is unchanged', () => {
    const plain = planStart(config, { mode: 'foreground', console: 'inherit' });
    const plan = planStart(config, {
      mode: 'foreground',
      console: 'inherit',
      idmappedRootfs: overlay,
    });
    assert.deepEqual(plan.steps.slice(0, 3), [
      { op: 'rootfs', path: '/var/lib/igloo/containers/anna-c1/rootfs' },
      { op: 'rootfsidmap', lower: overlay.image, upper: overlay.upper, work: overlay.work },
      plain.steps[1],
    ]);
    assert.deepEqual(plan.steps.slice(2), plain.steps.slice(1));
    assert.deepEqual(plan.idmap, plain.idmap, 'the idmapping is the container map itself');
  });
  test('is encoded as rootfsidmap LOWER UPPER WORK', () => {
    const f = fields(
      encodePlan(
        planStart(config, { mode: 'foreground', console: 'inherit', idmappedRootfs: overlay }),
      ),
    );
    const i = f.indexOf('rootfsidmap');
    assert.ok(i > f.indexOf('rootfs'));
    assert.deepEqual(f.slice(i, i + 4), [
      'rootfsidmap',
      overlay.image,
      overlay.upper,
      overlay.work,
    ]);
    assert.equal(f[i + 4], 'mount');
  });
  test('needs a user namespace (its map is the idmapping)', () => {
    const noUser = { ...config, namespaces: config.namespaces.filter((n) => n !== 'user') };
    assert.throws(
      () => planStart(noUser, { mode: 'foreground', console: 'inherit', idmappedRootfs: overlay }),
      /needs a user namespace/,
    );
  });
});

describe('the network in the plan (docs/network.md)', () => {
  test('none has no loopback step; private (and a config without igloo.net) has it', () => {
    const ops = (c: typeof config) =>
      planStart(c, { mode: 'foreground', console: 'inherit' }).steps.map((s) => s.op);
    assert.ok(ops(config).includes('loopback'));
    assert.ok(ops({ ...config, net: { mode: 'private' } }).includes('loopback'));
    assert.ok(!ops({ ...config, net: { mode: 'none' } }).includes('loopback'));
  });

  test('user mode: the sidecar and its calls are headers, resolv.conf a writefile before pivot', () => {
    const plan = planStart(config, {
      mode: 'foreground',
      console: 'inherit',
      network: {
        sidecar: {
          dir: '/run/x',
          argv: ['/usr/bin/slirp4netns', '--ready-fd=3', '/proc/self/fd/4', 'eth0'],
          calls: [{ socket: '/run/x/s.sock', message: '{"execute":"add_hostfwd"}' }],
        },
        files: [{ path: '/etc/resolv.conf', mode: 0o644, data: 'nameserver 10.0.2.3\n' }],
      },
    });
    const f = fields(encodePlan(plan));
    const s = f.indexOf('sidecar');
    assert.deepEqual(f.slice(s, s + 10), [
      'sidecar',
      '/run/x',
      '4',
      '/usr/bin/slirp4netns',
      '--ready-fd=3',
      '/proc/self/fd/4',
      'eth0',
      'sidecarcall',
      '/run/x/s.sock',
      '{"execute":"add_hostfwd"}',
    ]);
    assert.ok(s > f.indexOf('idmap'), 'after the maps, before the first step');
    assert.ok(s < f.indexOf('rootfs'));
    const w = f.indexOf('writefile');
    assert.deepEqual(f.slice(w, w + 4), [
      'writefile',
      '/etc/resolv.conf',
      '644',
      'nameserver 10.0.2.3\n',
    ]);
    assert.ok(w < f.indexOf('pivot'));
  });
});
