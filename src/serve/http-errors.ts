/**
 * IglooError codes as HTTP statuses, and the error body every route answers
 * with: the IglooError's own fields (code, message, op, path, subject,
 * hint), as `--json` prints them.
 */
import type { ErrorCode } from '../core/errors.ts';

const STATUS: Record<ErrorCode, number> = {
  EINVAL: 400,
  EPARSE: 400,
  EUNMAPPED: 400,
  ENOENT: 404,
  EPERM: 403,
  ENOTDELEGATED: 403,
  EUNSAFE: 403,
  EEXIST: 409,
  ESTATE: 409,
  EOVERLAP: 409,
  EBUSY: 423,
  ENOSPACE: 507,
  EHOST: 501,
  ENOTSUP: 501,
  ESYS: 500,
};

export function statusOf(code: ErrorCode): number {
  return STATUS[code] ?? 500;
}

/** The body of every error answer (the OpenAPI document's Error schema). */
export const errorSchema = {
  type: 'object',
  required: ['code', 'message'],
  properties: {
    code: { type: 'string', enum: Object.keys(STATUS) },
    message: { type: 'string' },
    op: { type: 'string' },
    path: { type: 'string' },
    line: { type: 'integer' },
    subject: { type: 'string' },
    hint: { type: 'string' },
    errno: { type: 'string' },
  },
} as const;
