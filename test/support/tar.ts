/**
 * A minimal tar writer for fuzzing the tar readers: ustar headers with their
 * checksum, pax extended headers, data padded to 512-byte blocks. Tests build
 * good archives with it and then break them.
 */
export interface TarEntry {
  readonly path: string;
  readonly type?: string;
  readonly data?: Buffer;
  readonly linkname?: string;
  readonly mode?: number;
  readonly uid?: number;
}

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, '0') + '\0';
}

export function tarHeader(e: TarEntry): Buffer {
  const h = Buffer.alloc(512);
  h.write(e.path.slice(0, 100), 0, 'utf8');
  h.write(octal(e.mode ?? 0o644, 8), 100, 'ascii');
  h.write(octal(e.uid ?? 0, 8), 108, 'ascii');
  h.write(octal(0, 8), 116, 'ascii');
  h.write(octal(e.data?.length ?? 0, 12), 124, 'ascii');
  h.write(octal(1_700_000_000, 12), 136, 'ascii');
  h.write(e.type ?? '0', 156, 'ascii');
  if (e.linkname) h.write(e.linkname.slice(0, 100), 157, 'utf8');
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(octal(sum, 7) + ' ', 148, 'ascii');
  return h;
}

function padded(data: Buffer): Buffer {
  const pad = (512 - (data.length % 512)) % 512;
  return Buffer.concat([data, Buffer.alloc(pad)]);
}

/** A pax record "LEN KEY=VALUE\n" (LEN counts itself). */
export function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

/** ENTRIES as a tar archive, each with pax xattrs when given. */
export function tarArchive(
  entries: ReadonlyArray<TarEntry & { xattrs?: ReadonlyArray<readonly [string, Buffer]> }>,
): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    if (e.xattrs?.length) {
      const pax = Buffer.concat(e.xattrs.map(([k, v]) => paxRecord(`SCHILY.xattr.${k}`, v)));
      parts.push(tarHeader({ path: 'PaxHeaders/x', type: 'x', data: pax }), padded(pax));
    }
    parts.push(tarHeader(e));
    if (e.data?.length) parts.push(padded(e.data));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}
