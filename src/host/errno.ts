/**
 * Turns Node's system errors into IglooErrors that name the operation and the
 * path, with advice for the errnos users meet (bubblewrap-style hints).
 */
import { IglooError } from '../core/errors.ts';

export function errnoOf(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

const hints: Record<string, string> = {
  EACCES: 'Check the permissions of the path and of its parent directories',
  EPERM: 'This needs a privilege the caller lacks; see `igloo check`',
  ENOSPC: 'The disk is full, or a kernel limit was reached (see /proc/sys/user/max_*_namespaces)',
  EROFS: 'The file system is mounted read-only',
};

/** Wraps a system error: "Cannot <op> <path>: <reason>". Passes IglooErrors through. */
export function sysError(err: unknown, op: string, path?: string, hint?: string): IglooError {
  if (err instanceof IglooError) return err;
  const errno = errnoOf(err);
  const reason =
    err instanceof Error
      ? err.message.replace(/^[A-Z]+: /, '').replace(/, \w+ '.*'$/, '')
      : String(err);
  const hintText = hint ?? (errno ? hints[errno] : undefined);
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
