// Builds igloo: one ESM bundle for the CLI and one for the library API (esbuild,
// with code splitting so each CLI command is a chunk loaded on demand), and the
// native helper from source with the host's C compiler.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';

const root = new URL('..', import.meta.url).pathname;
// IGLOO_DIST builds elsewhere (e.g. several developers' test runs side by side).
const dist = process.env.IGLOO_DIST ?? `${root}dist`;
rmSync(dist, { recursive: true, force: true });
await build({
  entryPoints: { igloo: `${root}src/cli/main.ts`, api: `${root}src/api/index.ts` },
  outdir: dist,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  outExtension: { '.js': '.mjs' },
  chunkNames: '[name]-[hash]',
  sourcemap: 'linked',
  logLevel: 'warning',
});
// igloo serve's page (src/serve/web) and xterm.js from node_modules, served from dist/web.
mkdirSync(`${dist}/web`, { recursive: true });
cpSync(`${root}src/serve/web`, `${dist}/web`, { recursive: true });
for (const [from, to] of [
  ['@xterm/xterm/lib/xterm.js', 'xterm.js'],
  ['@xterm/xterm/css/xterm.css', 'xterm.css'],
  ['@xterm/addon-fit/lib/addon-fit.js', 'addon-fit.js'],
])
  cpSync(`${root}node_modules/${from}`, `${dist}/web/${to}`);
mkdirSync(`${dist}/libexec`, { recursive: true });
execFileSync('make', ['-s', '-C', `${root}src/native`, `OUT=${dist}/libexec`], {
  stdio: 'inherit',
});
// `igloo` on PATH: the helper under that name is the command's native front
// (src/native/front.c), which runs prepared exec/run plans without Node and
// hands everything else to igloo.mjs.
mkdirSync(`${dist}/bin`, { recursive: true });
symlinkSync('../libexec/igloo-helper', `${dist}/bin/igloo`);
// `igloo-runc`: the OCI runtime (`igloo oci`) under the name engines point at.
symlinkSync('../libexec/igloo-helper', `${dist}/bin/igloo-runc`);
