/**
 * Where igloo's own built files are. In the bundle every chunk sits in dist/
 * beside dist/igloo.mjs and dist/libexec/; when running from source (tests
 * under tsx) this module is in src/host/ and the built files in dist/.
 * IGLOO_HELPER and IGLOO_CLI override both; IGLOO_DIST names another build.
 */
import { accessSync, constants } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { IglooError } from '../core/errors.ts';

/** The native helper binary. */
export function helperPath(): string {
  return findBuilt(
    'igloo-helper',
    process.env.IGLOO_HELPER,
    'libexec/igloo-helper',
    constants.X_OK,
  );
}

/** The CLI bundle, which igloo re-runs inside user namespaces. */
export function cliPath(): string {
  return findBuilt('igloo.mjs', process.env.IGLOO_CLI, 'igloo.mjs', constants.R_OK);
}

function findBuilt(
  what: string,
  override: string | undefined,
  inDist: string,
  mode: number,
): string {
  const candidates = [
    override,
    process.env.IGLOO_DIST && `${process.env.IGLOO_DIST}/${inDist}`,
    fileURLToPath(new URL(`./${inDist}`, import.meta.url)),
    fileURLToPath(new URL(`../../dist/${inDist}`, import.meta.url)),
  ].filter((p): p is string => typeof p === 'string' && p.length > 0);
  for (const path of candidates) {
    try {
      accessSync(path, mode);
      return path;
    } catch {
      // try the next place
    }
  }
  throw new IglooError('EHOST', `Cannot find ${what} (looked in ${candidates.join(', ')})`, {
    op: `find ${what}`,
    hint: 'Build igloo: npm run build (needs a C compiler: apt-get install gcc libc6-dev make)',
  });
}
