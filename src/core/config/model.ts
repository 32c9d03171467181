/**
 * ContainerConfig: the one validated model every front end reduces to
 * (igloo's config file, CLI flags, an imported LXC config, later OCI
 * config.json and the library API). The plan is made from it alone.
 */
import type { IdMaps } from '../idmap/index.ts';

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
}

export const DEFAULT_ENV: readonly string[] = [
  'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  'TERM=linux',
  'HOME=/root',
];
