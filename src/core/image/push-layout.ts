/**
 * The OCI layout `igloo image push` hands to skopeo, as data: a stored
 * image (its layers as they are in the store, its run config) written back
 * as an image config, a manifest and an index. The digests of what is
 * written here are taken by the caller (host/registry.ts) on the exact bytes.
 */
import type { ImageRunConfig } from './oci.ts';

export interface PushLayer {
  /** sha256:<hex> of the stored blob (the file in the store). */
  readonly digest: string;
  readonly size: number;
  readonly gzip: boolean;
  /** sha256:<hex> of the uncompressed tar (the blob's digest when it is not compressed). */
  readonly diffId: string;
}

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
}

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYOUT = '{"imageLayoutVersion":"1.0.0"}';

/** Node's process.arch as OCI spells it (GOARCH). */
export function ociArchitecture(nodeArch: string): string {
  const names: Record<string, string> = {
    x64: 'amd64',
    ia32: '386',
    arm64: 'arm64',
    arm: 'arm',
    ppc64: 'ppc64le',
    s390x: 's390x',
    riscv64: 'riscv64',
  };
  return names[nodeArch] ?? nodeArch;
}

/** The image config: what igloo keeps of the image, and its layers' diff ids. */
export function imageConfigText(
  config: ImageRunConfig,
  layers: readonly PushLayer[],
  opts: { architecture: string; created: string; stopSignal?: string },
): string {
  return JSON.stringify({
    created: opts.created,
    architecture: opts.architecture,
    os: 'linux',
    config: {
      ...(config.entrypoint.length > 0 && { Entrypoint: config.entrypoint }),
      ...(config.cmd.length > 0 && { Cmd: config.cmd }),
      ...(config.env.length > 0 && { Env: config.env }),
      ...(config.workingDir !== '' &&
        config.workingDir !== '/' && { WorkingDir: config.workingDir }),
      ...(config.user !== '' && { User: config.user }),
      ...(opts.stopSignal !== undefined && { StopSignal: opts.stopSignal }),
    },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
  });
}

export function layerDescriptor(layer: PushLayer): Descriptor {
  return {
    mediaType: `application/vnd.oci.image.layer.v1.tar${layer.gzip ? '+gzip' : ''}`,
    digest: layer.digest,
    size: layer.size,
  };
}

export function manifestText(config: Descriptor, layers: readonly PushLayer[]): string {
  return JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config,
    layers: layers.map(layerDescriptor),
  });
}

/** index.json naming the one manifest TAG (skopeo's `oci:DIR:TAG` finds it by that name). */
export function indexText(manifest: Descriptor, tag: string): string {
  return JSON.stringify({
    schemaVersion: 2,
    manifests: [{ ...manifest, annotations: { 'org.opencontainers.image.ref.name': tag } }],
  });
}
