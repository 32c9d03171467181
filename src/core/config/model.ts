/**
 * ContainerConfig: the one validated model every front end reduces to
 * (igloo's config file, CLI flags, an imported LXC config, later OCI
 * config.json and the library API). The plan is made from it alone.
 */
import type { IdMaps } from '../idmap/index.ts';
import type { NetSpec, PortForward } from '../net/spec.ts';
import type { Limits } from '../limits/values.ts';

export type NamespaceKind = 'user' | 'pid' | 'mnt' | 'uts' | 'ipc' | 'net' | 'cgroup';
export const ALL_NAMESPACES: readonly NamespaceKind[] = [
  'user',
  'pid',
  'mnt',
  'uts',
  'ipc',
  'net',
  'cgroup',
];

export interface BindMount {
  /** Absolute host path. */
  readonly source: string;
  /** Absolute path in the container. */
  readonly target: string;
  readonly readonly: boolean;
}

export interface Rlimit {
  /** e.g. RLIMIT_NOFILE */
  readonly type: string;
  readonly soft: number | 'unlimited';
  readonly hard: number | 'unlimited';
}

export interface ContainerConfig {
  readonly name: string;
  /** Absolute host path of the root file system. */
  readonly rootfs: string;
  /** Host ids: the container's slice of its owner's block. */
  readonly idmap: IdMaps;
  readonly hostname: string;
  /** The container's first process (init for a system container). */
  readonly init: readonly string[];
  readonly env: readonly string[];
  readonly cwd: string;
  /** The user init runs as, in container ids. */
  readonly user: { readonly uid: number; readonly gid: number; readonly groups: readonly number[] };
  readonly namespaces: readonly NamespaceKind[];
  /** The signal that asks init to shut down (busybox init: SIGUSR2 powers off). */
  readonly haltSignal: string;
  readonly mounts: readonly BindMount[];
  readonly rlimits: readonly Rlimit[];
  /**
   * Hardening (issue 5). A parsed config carries all three; one that create
   * has just made has none until it is read back (its file names none, so
   * it gets the defaults). RunnableConfig has them always.
   */
  readonly seccomp?: SeccompConfig;
  readonly caps?: CapConfig;
  /** PR_SET_NO_NEW_PRIVS for init and every exec'd process (default true). */
  readonly noNewPrivs?: boolean;
  /**
   * The container runs containers of its own: /proc and /sys are left
   * unmasked (the kernel refuses a nested proc or sysfs mount while a masked
   * one is all that is visible) and no_new_privs is off (newuidmap inside is
   * setuid). Its slice is big enough to delegate whole slices onward.
   */
  readonly nesting?: boolean;
  /** The network (docs/network.md); none given: private, lo only (a container made before igloo.net). */
  readonly net?: NetSpec;
  /** Port forwards from the host into the container (user and bridge modes). */
  readonly ports?: readonly PortForward[];
  /** `igloo autostart` starts it (a boot script runs that for each user). */
  readonly autostart?: boolean;
  /** Resource limits (issue 15, src/core/limits): igloo.limits.* keys; absent: none. */
  readonly limits?: Limits;
}

export interface SeccompConfig {
  /** "default", "unconfined", or the absolute path of an OCI seccomp profile (JSON). */
  readonly profile: string;
  /** Extra denies in front of the profile's rules: `igloo.seccomp.deny = keyctl, ptrace:ENOSYS`. */
  readonly deny: readonly { readonly name: string; readonly errno: string }[];
}

export interface CapConfig {
  /** Capabilities igloo's default bounding set drops that this container keeps. */
  readonly keep: readonly string[];
  /** Capabilities dropped in addition to the default. */
  readonly drop: readonly string[];
}

export const DEFAULT_SECCOMP: SeccompConfig = { profile: 'default', deny: [] };
export const DEFAULT_CAPS: CapConfig = { keep: [], drop: [] };

export const DEFAULT_ENV: readonly string[] = [
  'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  'TERM=linux',
  'HOME=/root',
];
