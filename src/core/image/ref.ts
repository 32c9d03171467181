/**
 * Image names with tags, as podman users write them: `debian:bookworm`,
 * `app` (a bare name: its `latest` tag, else its newest), and the
 * registry references of `igloo image pull/push`
 * (`localhost:5000/team/app:1.0`, `docker://…`, `…@sha256:…`).
 *
 * In the store an image is the directory `NAME+TAG` ("+" is in neither
 * grammar, so the directory name is never ambiguous). Images stored before
 * tags existed have a directory `NAME` and no tag: they keep their name and
 * are found by it as before.
 */
import { IglooError } from '../errors.ts';
import { NAME_PATTERN } from '../config/name.ts';

/** A tag as docker and OCI spell it. */
export const TAG_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
export const DEFAULT_TAG = 'latest';

export interface ImageRef {
  readonly name: string;
  /** Undefined: a bare name (resolveImageRef decides), or an image stored before tags. */
  readonly tag?: string;
}

/** What an image of the store is known by, for resolution. */
export interface TaggedImage extends ImageRef {
  /** ISO time of its import or build: the newest tag wins a bare name. */
  readonly imported: string;
}

function invalid(text: string, why: string, hint: string): IglooError {
  return new IglooError('EINVAL', `Invalid image name "${text}": ${why}`, {
    op: 'name image',
    subject: text,
    hint,
  });
}

/** "NAME" or "NAME:TAG", checked; the tag stays undefined for a bare name. */
export function parseImageRef(text: string): ImageRef {
  const colon = text.indexOf(':');
  const name = colon < 0 ? text : text.slice(0, colon);
  const tag = colon < 0 ? undefined : text.slice(colon + 1);
  if (!NAME_PATTERN.test(name))
    throw invalid(
      text,
      `the name must match ${NAME_PATTERN.source}`,
      'Use NAME or NAME:TAG: 1-64 letters, digits, "_", "." or "-" for NAME, starting with a letter or digit',
    );
  if (tag !== undefined && !TAG_PATTERN.test(tag))
    throw invalid(
      text,
      `the tag must match ${TAG_PATTERN.source}`,
      'A tag is 1-128 letters, digits, "_", "." or "-", not starting with "." or "-" (e.g. debian:bookworm)',
    );
  return tag === undefined ? { name } : { name, tag };
}

/** A name to store a new image under: NAME:TAG, the tag `latest` when none is given. */
export function newImageRef(text: string): Required<ImageRef> {
  const ref = parseImageRef(text);
  return { name: ref.name, tag: ref.tag ?? DEFAULT_TAG };
}

/** "debian:bookworm"; an image stored before tags: its name. */
export function formatImageRef(ref: ImageRef): string {
  return ref.tag === undefined ? ref.name : `${ref.name}:${ref.tag}`;
}

/** The image's directory in the store: "debian+bookworm"; before tags: the name. */
export function imageDirName(ref: ImageRef): string {
  return ref.tag === undefined ? ref.name : `${ref.name}+${ref.tag}`;
}

/** A directory name of the store back to the image it holds (undefined: not one). */
export function refFromDirName(dir: string): ImageRef | undefined {
  const plus = dir.indexOf('+');
  try {
    return plus < 0
      ? parseImageRef(dir)
      : parseImageRef(`${dir.slice(0, plus)}:${dir.slice(plus + 1)}`);
  } catch {
    return undefined;
  }
}

/**
 * Which stored image REF names. NAME:TAG names exactly that image (and an
 * image stored before tags, for NAME:latest). A bare NAME names, in order:
 * an image stored before tags under that very name, NAME:latest, the newest
 * NAME:* (podman takes `latest`; a user of `igloo image build debian` who
 * built bookworm and then trixie means the newer one).
 */
export function resolveImageRef<T extends TaggedImage>(
  ref: ImageRef,
  images: readonly T[],
): T | undefined {
  const same = images.filter((i) => i.name === ref.name);
  if (ref.tag !== undefined)
    return (
      same.find((i) => i.tag === ref.tag) ??
      (ref.tag === DEFAULT_TAG ? same.find((i) => i.tag === undefined) : undefined)
    );
  return (
    same.find((i) => i.tag === undefined) ??
    same.find((i) => i.tag === DEFAULT_TAG) ??
    [...same].sort((a, b) => (a.imported < b.imported ? 1 : a.imported > b.imported ? -1 : 0))[0]
  );
}

/** A registry reference, split: what skopeo is given and what the image is stored as. */
export interface RemoteRef {
  /** The transport-qualified reference skopeo takes ("docker://host:5000/a/b:1"). */
  readonly transport: string;
  /** The registry host (with port), or undefined for a short name. */
  readonly registry?: string;
  /** The repository path below the registry ("a/b"). */
  readonly repository: string;
  readonly tag?: string;
  readonly digest?: string;
  /** The local name by default: the repository's last part and the tag (latest). */
  readonly local: Required<ImageRef>;
}

const REPO_PART = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const HOST = /^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:]+\])(?::[0-9]{1,5})?$/;

function badRemote(text: string, why: string): IglooError {
  return new IglooError('EINVAL', `Invalid registry reference "${text}": ${why}`, {
    op: 'parse image reference',
    subject: text,
    hint: 'Write [docker://]HOST[:PORT]/REPOSITORY[:TAG|@sha256:DIGEST], e.g. localhost:5000/team/app:1.0',
  });
}

/**
 * A reference to an image in a registry (docker's grammar, a subset):
 * [docker://][HOST[:PORT]/]PATH[:TAG][@sha256:HEX]. A first part with a dot,
 * a colon or "localhost" is the registry; without one the name is short and
 * skopeo resolves it through the host's registries.conf.
 */
export function parseRemoteRef(text: string): RemoteRef {
  let rest = text.startsWith('docker://') ? text.slice('docker://'.length) : text;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(rest))
    throw badRemote(text, 'only the docker:// transport (a registry) is supported');
  if (rest === '' || rest.length > 512) throw badRemote(text, 'it is empty or too long');
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw badRemote(text, `"${digest}" is not a sha256 digest`);
  }
  const parts = rest.split('/');
  let registry: string | undefined;
  if (parts.length > 1 && /[.:]|^localhost$/.test(parts[0]!)) {
    registry = parts.shift()!;
    if (!HOST.test(registry)) throw badRemote(text, `"${registry}" is not a host[:port]`);
  }
  let last = parts[parts.length - 1]!;
  let tag: string | undefined;
  const colon = last.indexOf(':');
  if (colon >= 0) {
    tag = last.slice(colon + 1);
    last = last.slice(0, colon);
    parts[parts.length - 1] = last;
    if (!TAG_PATTERN.test(tag)) throw badRemote(text, `the tag "${tag}" is not a tag`);
  }
  for (const p of parts)
    if (!REPO_PART.test(p))
      throw badRemote(text, `"${p}" is not a repository name (lowercase letters, digits, . _ -)`);
  const repository = parts.join('/');
  const transport = `docker://${registry ? `${registry}/` : ''}${repository}${tag ? `:${tag}` : ''}${digest ? `@${digest}` : ''}`;
  const name = last.slice(0, 64);
  return {
    transport,
    ...(registry !== undefined && { registry }),
    repository,
    ...(tag !== undefined && { tag }),
    ...(digest !== undefined && { digest }),
    local: { name, tag: tag ?? (digest ? digest.slice(7, 19) : DEFAULT_TAG) },
  };
}

/** The default local name for an archive's tag ("docker.io/library/alpine:3.19" -> alpine:3.19). */
export function localRefFromTag(tag: string): Required<ImageRef> | undefined {
  try {
    return parseRemoteRef(tag).local;
  } catch {
    return undefined;
  }
}
