/** Where igloo's own files are: the native helper next to the bundle. */
import { accessSync, constants } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { IglooError } from '../core/errors.ts';

/**
 * The helper binary. In the bundle, every chunk sits in dist/ beside
 * dist/libexec/; when running from source (tests under tsx) the module is in
 * src/host/ and the built helper in dist/libexec/. IGLOO_HELPER overrides both.
 */
export function helperPath(): string {
  const candidates = [
    process.env.IGLOO_HELPER,
    fileURLToPath(new URL('./libexec/igloo-helper', import.meta.url)),
    fileURLToPath(new URL('../../dist/libexec/igloo-helper', import.meta.url)),
  ].filter((p): p is string => typeof p === 'string' && p.length > 0);
  for (const path of candidates) {
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // try the next place
    }
  }
  throw new IglooError(
    'EHOST',
    `Cannot find the native helper igloo-helper (looked in ${candidates.join(', ')})`,
    {
      op: 'find helper',
      hint: 'Build it: npm run build (needs a C compiler: apt-get install build-essential)',
    },
  );
}
