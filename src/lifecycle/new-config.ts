/**
 * A new container's config: igloo's defaults, the image's, then the
 * caller's (create, the one-shot run slot, and import-container's nesting
 * mounts).
 */
import { dirname } from 'node:path';
import {
  ALL_NAMESPACES,
  DEFAULT_ENV,
  type BindMount,
  type ContainerConfig,
} from '../core/config/model.ts';
import { validateConfig } from '../core/config/validate.ts';
import type { IdMaps } from '../core/idmap/index.ts';
import {
  parseNetSpec,
  parsePortForward,
  type NetSpec,
  type PortForward,
} from '../core/net/spec.ts';
import { hasLimits, type Limits } from '../core/limits/values.ts';
import { commandFor } from '../core/image/oci.ts';
import type { StoredImage } from '../host/images.ts';
import { cliPath } from '../host/install.ts';
import { NESTED_IGLOO_DIR } from './paths.ts';

export interface CreateOptions {
  /** "busybox" (default), an imported image's name, or the absolute path of a directory to copy. */
  image?: string;
  /** "auto" (default) or an explicit map, e.g. "u 0 2000000 65536 g 0 2000000 65536". */
  idmap?: string;
  /** Slice size and placement for auto maps. */
  sliceSize?: number;
  sliceStride?: number;
  sliceStart?: number;
  init?: string[];
  env?: string[];
  hostname?: string;
  /** The container runs containers of its own (see ContainerConfig.nesting). */
  nesting?: boolean;
  /** `igloo autostart` starts it (igloo.autostart). */
  autostart?: boolean;
  /** No files on disk: the busybox rootfs is made in memory at each run (runEphemeral). */
  memory?: boolean;
  /** Resource limits (igloo.limits.*; src/core/limits). */
  limits?: Limits;
  /** Told once when root's container gets a copy of an image because idmapped mounts were refused. */
  onNotice?: (text: string) => void;
  /** The network (`--net`): "user", "user,host-loopback", "private", "none", "bridge=NAME"; default: user where the host allows it. */
  net?: NetSpec | string;
  /** Port forwards (`-p`): "[IP:]HOST:CONTAINER[/tcp|udp]". */
  publish?: readonly (PortForward | string)[];
}

/** Where a new container's files come from. */
export type ImageSource =
  | { kind: 'busybox' }
  | { kind: 'dir'; path: string }
  | { kind: 'stored'; image: StoredImage; layers: string[] };

/**
 * igloo itself inside a nesting container: the host's node and igloo's
 * build, bound read-only (the container's /usr/local/bin/igloo points at it).
 */
export function nestingMounts(): BindMount[] {
  return [
    { source: process.execPath, target: '/usr/local/bin/node', readonly: true },
    { source: dirname(cliPath()), target: NESTED_IGLOO_DIR, readonly: true },
  ];
}

/** A new container's config: igloo's defaults, the image's, then the caller's. */
export function newConfig(
  name: string,
  rootfs: string,
  idmap: IdMaps,
  source: ImageSource,
  opts: CreateOptions,
): ContainerConfig {
  const fromImage = source.kind === 'stored' ? source.image.config : undefined;
  const imageCommand = fromImage ? commandFor(fromImage, []) : [];
  return validateConfig({
    name,
    rootfs,
    idmap,
    hostname: opts.hostname ?? name,
    init: opts.init ?? (imageCommand.length ? imageCommand : ['/sbin/init']),
    env: opts.env ?? (fromImage?.env.length ? withPath(fromImage.env) : DEFAULT_ENV),
    cwd: fromImage?.workingDir ?? '/',
    user: { uid: 0, gid: 0, groups: [] },
    namespaces: ALL_NAMESPACES,
    // busybox init powers off on SIGUSR2; an application image's process
    // gets SIGTERM, as docker and podman send it.
    haltSignal:
      source.kind === 'stored' ? (source.image.system?.haltSignal ?? 'SIGTERM') : 'SIGUSR2',
    mounts: opts.nesting ? nestingMounts() : [],
    rlimits: [],
    ...(opts.nesting && { nesting: true, noNewPrivs: false }),
    ...(opts.net !== undefined && {
      net: typeof opts.net === 'string' ? parseNetSpec(opts.net) : opts.net,
    }),
    ...(opts.publish?.length && {
      ports: opts.publish.map((p) => (typeof p === 'string' ? parsePortForward(p) : p)),
    }),
    ...(opts.autostart && { autostart: true }),
    ...(hasLimits(opts.limits) && { limits: opts.limits }),
  });
}

/** An image's environment, with a PATH if it has none. */
function withPath(env: readonly string[]): string[] {
  return env.some((e) => e.startsWith('PATH=')) ? [...env] : [DEFAULT_ENV[0]!, ...env];
}
