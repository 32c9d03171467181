/**
 * `igloo-runc features` (runtime-spec features.md) and `igloo-runc spec`
 * (a default config.json, as `runc spec` writes): pure data, kept true to
 * what config.ts accepts and plan.ts does.
 */
import { CAPABILITIES } from '../caps.ts';
import { MASKED_PATHS, READONLY_PATHS } from '../plan/plan.ts';
import { HOOK_KINDS, OCI_VERSION } from './config.ts';

export interface FeaturesFacts {
  /** Host-dependent: cgroup v1 and v2 hierarchies present. */
  readonly cgroupV1: boolean;
  readonly cgroupV2: boolean;
}

const MOUNT_OPTIONS = [
  'async',
  'atime',
  'bind',
  'defaults',
  'dev',
  'diratime',
  'dirsync',
  'exec',
  'mand',
  'noatime',
  'nodev',
  'nodiratime',
  'noexec',
  'nomand',
  'norelatime',
  'nostrictatime',
  'nosuid',
  'nosymfollow',
  'private',
  'rbind',
  'relatime',
  'rprivate',
  'rro',
  'rshared',
  'rslave',
  'runbindable',
  'ro',
  'rw',
  'shared',
  'slave',
  'strictatime',
  'suid',
  'symfollow',
  'sync',
  'unbindable',
];

export function ociFeatures(facts: FeaturesFacts): Record<string, unknown> {
  return {
    ociVersionMin: '1.0.0',
    ociVersionMax: OCI_VERSION,
    hooks: HOOK_KINDS.filter((h) => h !== 'createContainer' && h !== 'startContainer'),
    mountOptions: MOUNT_OPTIONS,
    linux: {
      namespaces: ['cgroup', 'ipc', 'mount', 'network', 'pid', 'user', 'uts'],
      capabilities: CAPABILITIES.map((c) => `CAP_${c.toUpperCase()}`),
      cgroup: {
        v1: facts.cgroupV1,
        v2: facts.cgroupV2,
        systemd: false,
        systemdUser: false,
        rdma: false,
      },
      seccomp: {
        enabled: true,
        actions: [
          'SCMP_ACT_ALLOW',
          'SCMP_ACT_ERRNO',
          'SCMP_ACT_KILL',
          'SCMP_ACT_KILL_PROCESS',
          'SCMP_ACT_KILL_THREAD',
          'SCMP_ACT_LOG',
          'SCMP_ACT_TRAP',
        ],
        operators: [
          'SCMP_CMP_EQ',
          'SCMP_CMP_GE',
          'SCMP_CMP_GT',
          'SCMP_CMP_LE',
          'SCMP_CMP_LT',
          'SCMP_CMP_MASKED_EQ',
          'SCMP_CMP_NE',
        ],
        archs: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32', 'SCMP_ARCH_X86_64'],
        knownFlags: [],
        supportedFlags: [],
      },
      apparmor: { enabled: false },
      selinux: { enabled: false },
      intelRdt: { enabled: false },
      mountExtensions: { idmap: { enabled: false } },
    },
    annotations: {
      'org.opencontainers.runc.checkpoint.enabled': 'false',
      'io.github.igloo.runtime': 'igloo-runc',
    },
  };
}

const SPEC_CAPS = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];

/**
 * The default config.json of `igloo-runc spec` (runc's): `sh` on a tty in
 * rootfs/. rootless: a user namespace mapping container 0 to HOSTUID (the
 * caller), /sys bound read-only, no new network namespace.
 */
export function defaultOciSpec(
  opts: { rootless?: { uid: number; gid: number } } = {},
): Record<string, unknown> {
  const caps = { bounding: SPEC_CAPS, effective: SPEC_CAPS, permitted: SPEC_CAPS };
  const mounts: Record<string, unknown>[] = [
    { destination: '/proc', type: 'proc', source: 'proc' },
    {
      destination: '/dev',
      type: 'tmpfs',
      source: 'tmpfs',
      options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
    },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: [
        'nosuid',
        'noexec',
        'newinstance',
        'ptmxmode=0666',
        'mode=0620',
        ...(opts.rootless ? [] : ['gid=5']),
      ],
    },
    {
      destination: '/dev/shm',
      type: 'tmpfs',
      source: 'shm',
      options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'],
    },
    {
      destination: '/dev/mqueue',
      type: 'mqueue',
      source: 'mqueue',
      options: ['nosuid', 'noexec', 'nodev'],
    },
    opts.rootless
      ? {
          destination: '/sys',
          type: 'none',
          source: '/sys',
          options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'],
        }
      : {
          destination: '/sys',
          type: 'sysfs',
          source: 'sysfs',
          options: ['nosuid', 'noexec', 'nodev', 'ro'],
        },
  ];
  const namespaces = [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }];
  if (!opts.rootless) namespaces.push({ type: 'network' });
  else namespaces.push({ type: 'user' });
  return {
    ociVersion: OCI_VERSION,
    process: {
      terminal: true,
      user: { uid: 0, gid: 0 },
      args: ['sh'],
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'TERM=xterm'],
      cwd: '/',
      capabilities: caps,
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: 'rootfs', readonly: true },
    hostname: 'igloo',
    mounts,
    linux: {
      ...(opts.rootless && {
        uidMappings: [{ containerID: 0, hostID: opts.rootless.uid, size: 1 }],
        gidMappings: [{ containerID: 0, hostID: opts.rootless.gid, size: 1 }],
      }),
      namespaces,
      // igloo's own lists (core/plan): runc's, plus what this kernel shows
      maskedPaths: [...MASKED_PATHS],
      readonlyPaths: [...READONLY_PATHS],
    },
  };
}
