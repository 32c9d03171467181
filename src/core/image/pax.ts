/**
 * Extended attributes in image layers. Layers carry them as pax extended
 * header records `SCHILY.xattr.NAME=VALUE` (GNU tar, podman, buildah), the
 * value raw bytes (a file capability is binary). node-tar's parser keeps
 * only the pax keys it knows and reads values as text, so this small
 * incremental reader of the (uncompressed) tar stream collects them itself:
 * feed it the bytes the parser sees, then read `found`.
 */

export interface EntryXattrs {
  /** The entry's path as written in the archive (before layerEntry()). */
  readonly path: string;
  readonly xattrs: ReadonlyArray<readonly [string, Buffer]>;
}

const BLOCK = 512;
const ZERO_BLOCK = Buffer.alloc(BLOCK);

function cString(b: Buffer): string {
  const nul = b.indexOf(0);
  return b.subarray(0, nul < 0 ? b.length : nul).toString('utf8');
}

/** A header's size field: octal text, or base-256 when the high bit is set. */
function sizeOf(h: Buffer): number {
  const field = h.subarray(124, 136);
  if (field[0]! & 0x80) {
    let n = 0;
    for (let i = 1; i < field.length; i++) n = n * 256 + field[i]!;
    return n;
  }
  const text = cString(field).trim();
  return text ? parseInt(text, 8) : 0;
}

/** Parses pax records ("LEN KEY=VALUE\n"), binary-safe. */
export function parsePaxRecords(data: Buffer): Array<[string, Buffer]> {
  const out: Array<[string, Buffer]> = [];
  let pos = 0;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    if (space < 0) break;
    const len = parseInt(data.subarray(pos, space).toString('ascii'), 10);
    if (!Number.isFinite(len) || len <= 0 || pos + len > data.length) break;
    const record = data.subarray(space + 1, pos + len);
    const eq = record.indexOf(0x3d);
    if (eq > 0) {
      const value = record.subarray(eq + 1);
      out.push([
        record.subarray(0, eq).toString('utf8'),
        value[value.length - 1] === 0x0a ? value.subarray(0, value.length - 1) : value,
      ]);
    }
    pos += len;
  }
  return out;
}

export class PaxXattrScanner {
  readonly found: EntryXattrs[] = [];
  private pending: Buffer = Buffer.alloc(0);
  /** bytes of the current entry's data still to skip or collect */
  private remaining = 0;
  private padding = 0;
  private collecting: 'pax' | 'longname' | undefined;
  private collected: Buffer[] = [];
  private paxPath: string | undefined;
  private paxXattrs: Array<[string, Buffer]> = [];
  private longName: string | undefined;

  push(chunk: Buffer): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    for (;;) {
      if (this.remaining > 0 || this.padding > 0) {
        if (this.pending.length === 0) return;
        if (this.remaining > 0) {
          const n = Math.min(this.remaining, this.pending.length);
          if (this.collecting) this.collected.push(this.pending.subarray(0, n));
          this.pending = this.pending.subarray(n);
          this.remaining -= n;
          if (this.remaining === 0) this.finishCollect();
          continue;
        }
        const n = Math.min(this.padding, this.pending.length);
        this.pending = this.pending.subarray(n);
        this.padding -= n;
        continue;
      }
      if (this.pending.length < BLOCK) return;
      const h = this.pending.subarray(0, BLOCK);
      this.pending = this.pending.subarray(BLOCK);
      if (h.equals(ZERO_BLOCK)) continue;
      this.header(h);
    }
  }

  private header(h: Buffer): void {
    const size = sizeOf(h);
    const type = String.fromCharCode(h[156]!);
    this.remaining = size;
    this.padding = (BLOCK - (size % BLOCK)) % BLOCK;
    this.collected = [];
    if (type === 'x' || type === 'X') this.collecting = 'pax';
    else if (type === 'L') this.collecting = 'longname';
    else {
      this.collecting = undefined;
      if (type !== 'g' && type !== 'K') this.entry(h);
    }
    if (this.remaining === 0) this.finishCollect();
  }

  private entry(h: Buffer): void {
    let path = this.paxPath ?? this.longName;
    if (path === undefined) {
      const name = cString(h.subarray(0, 100));
      const ustar = h.subarray(257, 262).toString('ascii') === 'ustar';
      const prefix = ustar ? cString(h.subarray(345, 500)) : '';
      path = prefix ? `${prefix}/${name}` : name;
    }
    if (this.paxXattrs.length) this.found.push({ path, xattrs: this.paxXattrs });
    this.paxPath = undefined;
    this.paxXattrs = [];
    this.longName = undefined;
  }

  private finishCollect(): void {
    const data = Buffer.concat(this.collected);
    this.collected = [];
    if (this.collecting === 'pax') {
      for (const [key, value] of parsePaxRecords(data)) {
        if (key === 'path') this.paxPath = value.toString('utf8');
        else if (key.startsWith('SCHILY.xattr.'))
          this.paxXattrs.push([key.slice('SCHILY.xattr.'.length), value]);
      }
    } else if (this.collecting === 'longname') {
      this.longName = cString(data);
    }
    this.collecting = undefined;
  }
}

/** Which xattrs igloo applies: user.* and file capabilities; the rest is reported. */
export function xattrAllowed(name: string): boolean {
  return name.startsWith('user.') || name === 'security.capability';
}
