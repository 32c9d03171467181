/**
 * Makes image archives for tests, byte by byte: a minimal ustar writer
 * (so a test can write entries no well-behaved tool would: "../x", device
 * nodes, whiteouts) and OCI / docker-archive layouts around the layers.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { gzipSync } from 'node:zlib';

export interface TarEntry {
  path: string;
  type?: 'file' | 'dir' | 'symlink' | 'link' | 'char' | 'fifo';
  data?: string | Buffer;
  linkpath?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  /** Extended attributes, written as a pax header (SCHILY.xattr.NAME) before the entry. */
  xattrs?: Record<string, string | Buffer>;
}

const TYPEFLAG = {
  file: '0',
  link: '1',
  symlink: '2',
  char: '3',
  dir: '5',
  fifo: '6',
  pax: 'x',
} as const;

/** One pax record "LEN KEY=VALUE\n", LEN counting itself. */
export function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

function header(
  e: Omit<TarEntry, 'type'> & { type?: keyof typeof TYPEFLAG },
  size: number,
): Buffer {
  const h = Buffer.alloc(512);
  const put = (value: string, offset: number, length: number) =>
    h.write(value.slice(0, length), offset, length, 'utf8');
  const octal = (n: number, offset: number, length: number) =>
    put(n.toString(8).padStart(length - 1, '0') + '\0', offset, length);
  const type = e.type ?? 'file';
  put(e.path, 0, 100);
  octal(e.mode ?? (type === 'dir' ? 0o755 : 0o644), 100, 8);
  octal(e.uid ?? 0, 108, 8);
  octal(e.gid ?? 0, 116, 8);
  octal(size, 124, 12);
  octal(1_700_000_000, 136, 12);
  h.fill(' ', 148, 156); // checksum field counts as spaces while summing
  put(TYPEFLAG[type], 156, 1);
  put(e.linkpath ?? '', 157, 100);
  put('ustar\0', 257, 6);
  put('00', 263, 2);
  if (type === 'char') {
    octal(1, 329, 8);
    octal(3, 337, 8);
  }
  let sum = 0;
  for (const b of h) sum += b;
  put(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8);
  return h;
}

export function makeTar(entries: readonly TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    if (e.xattrs) {
      const pax = Buffer.concat(
        Object.entries(e.xattrs).map(([k, v]) => paxRecord(`SCHILY.xattr.${k}`, Buffer.from(v))),
      );
      parts.push(
        header({ path: `PaxHeaders/${e.path}`.slice(0, 99), type: 'pax' }, pax.length),
        pax,
        Buffer.alloc((512 - (pax.length % 512)) % 512),
      );
    }
    const data =
      e.type === undefined || e.type === 'file' ? Buffer.from(e.data ?? '') : Buffer.alloc(0);
    parts.push(header(e, data.length), data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

export interface ImageParts {
  layers: Buffer[];
  config: {
    Entrypoint?: string[];
    Cmd?: string[];
    Env?: string[];
    WorkingDir?: string;
    User?: string;
  };
  tag?: string;
}

/** An oci-archive tarball (as `podman save --format oci-archive` writes one). */
export function ociArchive(
  parts: ImageParts,
  opts: { gzipLayers?: boolean; corruptFirstLayer?: boolean } = {},
): Buffer {
  const blobs: TarEntry[] = [];
  const layerDescs = parts.layers.map((raw) => {
    const blob = opts.gzipLayers ? gzipSync(raw) : raw;
    const stored = Buffer.from(blob);
    if (opts.corruptFirstLayer && blobs.length === 0) stored[600] = stored[600]! ^ 0xff; // after the digest was taken
    blobs.push({ path: `blobs/sha256/${sha(blob)}`, data: stored });
    return {
      mediaType: `application/vnd.oci.image.layer.v1.tar${opts.gzipLayers ? '+gzip' : ''}`,
      digest: `sha256:${sha(blob)}`,
      size: blob.length,
    };
  });
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: parts.config,
      rootfs: { type: 'layers', diff_ids: [] },
    }),
  );
  blobs.push({ path: `blobs/sha256/${sha(config)}`, data: config });
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: `sha256:${sha(config)}`,
        size: config.length,
      },
      layers: layerDescs,
    }),
  );
  blobs.push({ path: `blobs/sha256/${sha(manifest)}`, data: manifest });
  const index = {
    schemaVersion: 2,
    manifests: [
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: `sha256:${sha(manifest)}`,
        size: manifest.length,
        ...(parts.tag && { annotations: { 'org.opencontainers.image.ref.name': parts.tag } }),
      },
    ],
  };
  return makeTar([
    { path: 'oci-layout', data: '{"imageLayoutVersion":"1.0.0"}' },
    { path: 'index.json', data: JSON.stringify(index) },
    { path: 'blobs/', type: 'dir' },
    { path: 'blobs/sha256/', type: 'dir' },
    ...blobs,
  ]);
}

/** A docker-archive tarball (`docker save` / `podman save --format docker-archive`). */
export function dockerArchive(parts: ImageParts): Buffer {
  const entries: TarEntry[] = parts.layers.map((layer, i) => ({
    path: `layer${i}/layer.tar`,
    data: layer,
  }));
  const config = JSON.stringify({ config: parts.config });
  entries.push({ path: 'config.json', data: config });
  entries.push({
    path: 'manifest.json',
    data: JSON.stringify([
      {
        Config: 'config.json',
        RepoTags: parts.tag ? [parts.tag] : [],
        Layers: parts.layers.map((_, i) => `layer${i}/layer.tar`),
      },
    ]),
  });
  return makeTar(entries);
}

/** A v2 file capability: cap_net_raw (bit 13) permitted, with the effective flag. */
export const CAP_NET_RAW = Buffer.from('0100000200200000000000000000000000000000', 'hex');

/** The host's getcap and the libraries it needs, so a test can run it inside a container. */
export function getcapEntries(): TarEntry[] {
  const files = ['/usr/sbin/getcap'];
  const ldd = spawnSync('ldd', ['/usr/sbin/getcap'], { encoding: 'utf8' }).stdout;
  for (const m of ldd.matchAll(/(\/\S+) \(0x/g)) files.push(m[1]!);
  const dirs = new Set<string>();
  for (const f of files)
    for (let d = dirname(f); d !== '/'; d = dirname(d)) dirs.add(`${d.slice(1)}/`);
  return [
    ...[...dirs].sort().map((d): TarEntry => ({ path: d, type: 'dir' })),
    ...files.map((f): TarEntry => ({ path: f.slice(1), data: readFileSync(f), mode: 0o755 })),
  ];
}
