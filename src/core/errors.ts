/**
 * One error type for all of igloo. Every error names the operation that
 * failed, the path or id it failed on, and (in `hint`) what to do about it.
 *
 * Message style (Deno's): sentence case, no final period, action then state:
 *   Cannot grant ids to "anna": range 2000000-2999999 overlaps elsa's block
 * The hint is kept apart so the CLI can print it on its own line and the
 * JSON output can carry it as a field.
 */

export type ErrorCode =
  | 'EINVAL' // bad input: a name, a map, a config value
  | 'EPARSE' // a file or text that does not parse (carries file and line)
  | 'EOVERLAP' // id ranges that must be disjoint are not
  | 'ENOTDELEGATED' // ids the user does not own in /etc/subuid or /etc/subgid
  | 'ENOSPACE' // no free block or slice left
  | 'EUNMAPPED' // an id has no translation through a map
  | 'ENOENT' // a container, user, image or file that does not exist
  | 'EEXIST' // it exists already
  | 'EPERM' // the caller may not do this
  | 'ESTATE' // the container is in the wrong state for this operation
  | 'EBUSY' // a lock is held by someone else
  | 'EHOST' // the host lacks something (a tool, a kernel feature)
  | 'ENOTSUP' // igloo knows the request but does not do it (yet, or in this mode)
  | 'EUNSAFE' // a file someone else controls is not what it must be (a link, a FIFO, too large)
  | 'ESYS'; // a system call or a host tool failed

export interface ErrorDetails {
  /** What was being done, e.g. "grant", "create", "read /etc/subuid". */
  op?: string;
  /** The file the error is about. */
  path?: string;
  /** 1-based line number within `path` (or within the parsed text). */
  line?: number;
  /** The id, name or value the error is about. */
  subject?: string;
  /** What the user can do about it. */
  hint?: string;
  /** The errno name from the kernel or a tool, e.g. "EPERM". */
  errno?: string;
  cause?: unknown;
}

export class IglooError extends Error {
  readonly code: ErrorCode;
  readonly op: string | undefined;
  readonly path: string | undefined;
  readonly line: number | undefined;
  readonly subject: string | undefined;
  readonly hint: string | undefined;
  readonly errno: string | undefined;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'IglooError';
    this.code = code;
    this.op = details.op;
    this.path = details.path;
    this.line = details.line;
    this.subject = details.subject;
    this.hint = details.hint;
    this.errno = details.errno;
  }

  /** A plain object for `--json` output and for logs. */
  toJSON(): Record<string, unknown> {
    const out: Record<string, unknown> = { code: this.code, message: this.message };
    for (const key of ['op', 'path', 'line', 'subject', 'hint', 'errno'] as const) {
      if (this[key] !== undefined) out[key] = this[key];
    }
    return out;
  }
}

export function isIglooError(value: unknown): value is IglooError {
  return value instanceof IglooError;
}
