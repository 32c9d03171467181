/**
 * The members of a container archive (igloo export), classified before
 * anything is written: `igloo-export.json`, `config`, `rootfs/...` and
 * `checkpoint/IMAGE`. Everything else, and every name that is absolute, has
 * a ".." component or a NUL, is refused: an archive is untrusted input and
 * export never writes such names. Pure.
 */
import { IMAGE_NAME } from './signature.ts';

export type ArchiveMember =
  | { readonly kind: 'manifest' }
  | { readonly kind: 'config' }
  /** PATH relative to the rootfs ('' is the rootfs directory itself). */
  | { readonly kind: 'rootfs'; readonly path: string }
  | { readonly kind: 'checkpoint-dir' }
  | { readonly kind: 'checkpoint'; readonly name: string }
  | { readonly kind: 'refuse'; readonly why: string };

export const EXPORT_MANIFEST = 'igloo-export.json';

export function archiveMember(name: string): ArchiveMember {
  if (name.includes('\0')) return { kind: 'refuse', why: 'a NUL in its name' };
  if (name.startsWith('/')) return { kind: 'refuse', why: 'an absolute name' };
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) return { kind: 'refuse', why: 'a ".." in its name' };
  const [top, ...rest] = parts;
  if (top === EXPORT_MANIFEST && rest.length === 0) return { kind: 'manifest' };
  if (top === 'config' && rest.length === 0) return { kind: 'config' };
  if (top === 'rootfs') return { kind: 'rootfs', path: rest.join('/') };
  if (top === 'checkpoint') {
    if (rest.length === 0) return { kind: 'checkpoint-dir' };
    if (rest.length === 1 && IMAGE_NAME.test(rest[0]!))
      return { kind: 'checkpoint', name: rest[0]! };
    return { kind: 'refuse', why: 'not a checkpoint image name (a flat directory of files)' };
  }
  return { kind: 'refuse', why: 'not a member igloo export writes' };
}
