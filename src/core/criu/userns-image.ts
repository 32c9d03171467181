/**
 * CRIU's user-namespace image (`userns-ID.img`): the uid_map and gid_map the
 * dumped container had, as its parent (the host) saw them. CRIU recreates
 * the user namespace from it on restore; every other id in the images is an
 * id inside the namespace (credentials, file owners, the tmpfs archives), so
 * moving a checkpoint to another slice means rewriting these two maps only.
 *
 * The file: two little-endian u32 magics (IMG_COMMON, then USERNS), then
 * entries, each a u32 length and a protobuf message:
 *
 *   message uid_gid_extent { required uint32 first = 1;
 *                            required uint32 lower_first = 2;
 *                            required uint32 count = 3; }
 *   message userns_entry   { repeated uid_gid_extent uid_map = 1;
 *                            repeated uid_gid_extent gid_map = 2; }
 *
 * Pure: bytes in, bytes out.
 */
import { IglooError } from '../errors.ts';
import type { IdMapEntry, IdMaps } from '../idmap/index.ts';

export const IMG_COMMON_MAGIC = 0x54564319;
export const USERNS_MAGIC = 0x55474906;

function bad(why: string): never {
  throw new IglooError('EINVAL', `Cannot read the CRIU userns image: ${why}`, {
    op: 'criu-userns-image',
    hint: 'The checkpoint images are damaged or come from an unknown criu version; make a new checkpoint',
  });
}

function readVarint(b: Uint8Array, at: { i: number }): number {
  let v = 0;
  let mul = 1;
  for (;;) {
    if (at.i >= b.length) bad('a varint runs past its message');
    const c = b[at.i++]!;
    v += (c & 0x7f) * mul;
    if ((c & 0x80) === 0) return v;
    mul *= 128;
    if (mul > 2 ** 63) bad('a varint is too long');
  }
}

function writeVarint(out: number[], v: number): void {
  while (v >= 0x80) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
}

function readU32(b: Uint8Array, i: number): number {
  if (i + 4 > b.length) bad('it ends inside a length or magic');
  return (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16)) + b[i + 3]! * 0x1000000;
}

function pushU32(out: number[], v: number): void {
  out.push(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
}

/** The fields of one protobuf message: varints and length-delimited bytes. */
function fields(b: Uint8Array): Array<{ field: number; value: number | Uint8Array }> {
  const out: Array<{ field: number; value: number | Uint8Array }> = [];
  const at = { i: 0 };
  while (at.i < b.length) {
    const key = readVarint(b, at);
    const field = Math.floor(key / 8);
    const type = key % 8;
    if (type === 0) out.push({ field, value: readVarint(b, at) });
    else if (type === 2) {
      const len = readVarint(b, at);
      if (at.i + len > b.length) bad('a field runs past its message');
      out.push({ field, value: b.subarray(at.i, at.i + len) });
      at.i += len;
    } else bad(`unexpected wire type ${type} in field ${field}`);
  }
  return out;
}

function decodeExtent(b: Uint8Array): IdMapEntry {
  let inside: number | undefined;
  let outside: number | undefined;
  let count: number | undefined;
  for (const f of fields(b)) {
    if (typeof f.value !== 'number') bad(`extent field ${f.field} is not a number`);
    if (f.field === 1) inside = f.value;
    else if (f.field === 2) outside = f.value;
    else if (f.field === 3) count = f.value;
  }
  if (inside === undefined || outside === undefined || count === undefined)
    bad('an extent lacks first, lower_first or count');
  return { inside, outside, count };
}

/** The maps of a userns image (its first entry). */
export function decodeUsernsImage(img: Uint8Array): IdMaps {
  if (readU32(img, 0) !== IMG_COMMON_MAGIC || readU32(img, 4) !== USERNS_MAGIC)
    bad('wrong magic (not a userns image)');
  const len = readU32(img, 8);
  if (12 + len > img.length) bad('its entry is cut short');
  const uid: IdMapEntry[] = [];
  const gid: IdMapEntry[] = [];
  for (const f of fields(img.subarray(12, 12 + len))) {
    if (typeof f.value === 'number') bad(`field ${f.field} is not an extent`);
    if (f.field === 1) uid.push(decodeExtent(f.value));
    else if (f.field === 2) gid.push(decodeExtent(f.value));
  }
  return { uid, gid };
}

function encodeExtent(e: IdMapEntry): number[] {
  const out: number[] = [];
  out.push(0x08);
  writeVarint(out, e.inside);
  out.push(0x10);
  writeVarint(out, e.outside);
  out.push(0x18);
  writeVarint(out, e.count);
  return out;
}

/** A userns image holding MAPS. */
export function encodeUsernsImage(maps: IdMaps): Uint8Array {
  const msg: number[] = [];
  for (const [field, map] of [
    [1, maps.uid],
    [2, maps.gid],
  ] as const) {
    for (const e of map) {
      const ext = encodeExtent(e);
      msg.push((field << 3) | 2);
      writeVarint(msg, ext.length);
      msg.push(...ext);
    }
  }
  const out: number[] = [];
  pushU32(out, IMG_COMMON_MAGIC);
  pushU32(out, USERNS_MAGIC);
  pushU32(out, msg.length);
  out.push(...msg);
  return Uint8Array.from(out);
}

function sameEntries(a: readonly IdMapEntry[], b: readonly IdMapEntry[]): boolean {
  const key = (m: readonly IdMapEntry[]) =>
    m
      .map((e) => `${e.inside}:${e.outside}:${e.count}`)
      .sort()
      .join(',');
  return key(a) === key(b);
}

/**
 * The image rewritten for a container moved from slice FROM to slice TO:
 * checks that the image holds FROM (the map it was dumped with) and
 * returns an image holding TO.
 */
export function remapUsernsImage(img: Uint8Array, from: IdMaps, to: IdMaps): Uint8Array {
  const had = decodeUsernsImage(img);
  if (!sameEntries(had.uid, from.uid) || !sameEntries(had.gid, from.gid)) {
    throw new IglooError(
      'ESTATE',
      'Cannot move the checkpoint to another id map: its userns image does not hold the map it was made with',
      {
        op: 'criu-userns-image',
        hint: 'The checkpoint images and igloo-checkpoint.json disagree; make a new checkpoint',
      },
    );
  }
  return encodeUsernsImage(to);
}
