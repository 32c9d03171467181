import { IglooError } from '../errors.ts';

/** Container and image names: safe as one path component and as a hostname label. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/**
 * Refuses names that could escape the storage directory or confuse tools
 * (`../x`, `.`, empty, slashes, spaces), before any path is made from them.
 */
export function validateName(name: string, what = 'container'): string {
  if (!NAME_PATTERN.test(name)) {
    throw new IglooError(
      'EINVAL',
      `Invalid ${what} name "${name}": it must match ${NAME_PATTERN.source}`,
      {
        op: `name ${what}`,
        subject: name,
        hint: 'Use 1-64 letters, digits, "_", "." or "-", starting with a letter or digit',
      },
    );
  }
  return name;
}
