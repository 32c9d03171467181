/**
 * The page of `igloo serve`: src/serve/web/ (plain HTML, CSS and a script,
 * no build step) and xterm.js from igloo's own node_modules, all served by
 * igloo, so it works with no network outside. A Content-Security-Policy
 * allows only these scripts: even a string that slipped past the page's
 * escaping (container hostnames and commands are a container's to choose)
 * could not run as script.
 */
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';

/**
 * The page's files: dist/web in the bundle (scripts/build.mjs copies
 * src/serve/web and xterm.js there), or src/serve/web and node_modules
 * when running from source (tests under tsx).
 */
function pageFiles(): { web: string; xterm: string; xtermCss: string; fit: string } {
  const here = dirname(fileURLToPath(import.meta.url));
  const built = join(here, 'web');
  if (existsSync(join(built, 'xterm.js')))
    return {
      web: built,
      xterm: join(built, 'xterm.js'),
      xtermCss: join(built, 'xterm.css'),
      fit: join(built, 'addon-fit.js'),
    };
  const require = createRequire(import.meta.url);
  const xterm = dirname(require.resolve('@xterm/xterm/package.json'));
  const fit = dirname(require.resolve('@xterm/addon-fit/package.json'));
  return {
    web: join(here, 'web'),
    xterm: join(xterm, 'lib', 'xterm.js'),
    xtermCss: join(xterm, 'css', 'xterm.css'),
    fit: join(fit, 'lib', 'addon-fit.js'),
  };
}

const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'", // xterm.js adds its own style elements; styles run no script
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

export function registerPage(app: FastifyInstance): void {
  const { web, xterm, xtermCss, fit } = pageFiles();
  // Every file the page may load, by its URL: nothing else is read.
  const files = new Map<string, string>([
    ['/', join(web, 'index.html')],
    ['/assets/app.js', join(web, 'app.js')],
    ['/assets/picture.js', join(web, 'picture.js')],
    ['/assets/style.css', join(web, 'style.css')],
    ['/assets/xterm.js', xterm],
    ['/assets/xterm.css', xtermCss],
    ['/assets/addon-fit.js', fit],
  ]);
  for (const [url, path] of files) {
    app.get(url, { schema: { hide: true } }, async (_req, reply) => {
      const type = TYPES[path.slice(path.lastIndexOf('.'))] ?? 'application/octet-stream';
      return reply
        .header('content-type', type)
        .header('content-security-policy', CSP)
        .header('x-content-type-options', 'nosniff')
        .header('cache-control', 'no-cache')
        .send(await readFile(path));
    });
  }
}
