/**
 * Turns Node's system errors into IglooErrors that name the operation and the
 * path, with advice for the errnos users meet (bubblewrap-style hints). The
 * same table advises on the helper's ERROR records (host/helper.ts).
 */
import { IglooError } from '../core/errors.ts';

export function errnoOf(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

/**
 * What to do about an errno, by who met it: Node on a host path (`path`), or
 * the helper at a step of a container's setup (`step`: a mount, a map, the
 * exec), where the same errno means something else.
 */
const hints: Record<string, { readonly path?: string; readonly step?: string }> = {
  EACCES: {
    path: 'Check the permissions of the path and of its parent directories',
    step: "A path is not accessible to the container's ids; check its permissions",
  },
  EPERM: {
    path: 'This needs a privilege the caller lacks; see `igloo check`',
    step: 'The kernel refused a privileged step; run `igloo check` to see whether user namespaces are allowed here',
  },
  ENOSPC: {
    path: 'The disk is full, or a kernel limit was reached (see /proc/sys/user/max_*_namespaces)',
    step: 'A namespace limit was reached (see /proc/sys/user/max_*_namespaces)',
  },
  EROFS: { path: 'The file system is mounted read-only' },
  ENOENT: { step: 'A file the plan needs is missing: check the rootfs and the command' },
  EINVAL: { step: 'The kernel does not support a requested feature' },
  ELOOP: { step: 'A symlink in the rootfs points where it should not' },
};

/** The advice for ERRNO met on a host path or at a container's setup step, if there is any. */
export function errnoHint(errno: string | undefined, where: 'path' | 'step'): string | undefined {
  return errno === undefined ? undefined : hints[errno]?.[where];
}

/** Wraps a system error: "Cannot <op> <path>: <reason>". Passes IglooErrors through. */
export function sysError(err: unknown, op: string, path?: string, hint?: string): IglooError {
  if (err instanceof IglooError) return err;
  const errno = errnoOf(err);
  const reason =
    err instanceof Error
      ? err.message.replace(/^[A-Z]+: /, '').replace(/, \w+ '.*'$/, '')
      : String(err);
  const hintText = hint ?? errnoHint(errno, 'path');
  const code =
    errno === 'ENOENT' ? 'ENOENT' : errno === 'EACCES' || errno === 'EPERM' ? 'EPERM' : 'ESYS';
  return new IglooError(code, `Cannot ${op}${path ? ` ${path}` : ''}: ${reason}`, {
    op,
    ...(path !== undefined && { path }),
    ...(errno !== undefined && { errno }),
    ...(hintText !== undefined && { hint: hintText }),
    cause: err,
  });
}
