/**
 * The `igloo` front (src/native/front.c) finds the data and run directories
 * on its own, in C; it must find the ones iglooDirs() of
 * src/lifecycle/paths.ts finds, or `igloo exec` and `igloo run` would look
 * for prepared plans where TypeScript never wrote them. `igloo-helper dirs`
 * prints what the front's own function says, here under explicit
 * environments (nothing inherited), as root and as an unprivileged uid.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { iglooDirs } from '../../src/lifecycle/paths.ts';
import { requireRoot, root } from '../support/host.ts';

// A copy every uid may run (the checkout may be private to root).
const work = mkdtempSync(join(tmpdir(), 'igloo-front-dirs-'));
chmodSync(work, 0o755);
const helper = join(work, 'igloo-helper');
copyFileSync(join(root, 'dist/libexec/igloo-helper'), helper);
chmodSync(helper, 0o755);
after(() => rmSync(work, { recursive: true, force: true }));

const NOBODY = 65534;
const setpriv = execFileSync('sh', ['-c', 'command -v setpriv'], { encoding: 'utf8' }).trim();

/** What `igloo-helper dirs` prints under exactly ENV, as UID. */
function helperDirs(env: Record<string, string>, uid: number): { data: string; run: string } {
  const argv =
    uid === 0
      ? [helper, 'dirs']
      : [setpriv, `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', helper, 'dirs'];
  const r = spawnSync(argv[0]!, argv.slice(1), { env, encoding: 'utf8' });
  assert.equal(r.status, 0, `igloo-helper dirs failed: ${r.stderr}`);
  const m = /^data (.*)\nrun (.*)\n$/.exec(r.stdout);
  assert.ok(m, `two lines, data and run: ${JSON.stringify(r.stdout)}`);
  return { data: m[1]!, run: m[2]! };
}

const HOME = { HOME: '/home/anna' };
const XDG = {
  XDG_DATA_HOME: '/home/anna/data',
  XDG_RUNTIME_DIR: '/run/user/65534',
  XDG_CACHE_HOME: '/home/anna/cache',
};
const IGLOO = { IGLOO_DATA_DIR: '/srv/igloo/data', IGLOO_RUN_DIR: '/srv/igloo/run' };

const environments: Array<[string, Record<string, string>]> = [
  ['nothing set', {}],
  ['HOME only', HOME],
  ['HOME with a trailing slash', { HOME: '/home/anna/' }],
  ['HOME /', { HOME: '/' }],
  ['HOME empty', { HOME: '' }],
  ['XDG_DATA_HOME', { ...HOME, XDG_DATA_HOME: XDG.XDG_DATA_HOME }],
  ['XDG_RUNTIME_DIR', { ...HOME, XDG_RUNTIME_DIR: XDG.XDG_RUNTIME_DIR }],
  ['XDG_CACHE_HOME', { ...HOME, XDG_CACHE_HOME: XDG.XDG_CACHE_HOME }],
  ['XDG_RUNTIME_DIR and XDG_CACHE_HOME', { ...HOME, ...XDG, XDG_DATA_HOME: '' }],
  ['every XDG variable', { ...HOME, ...XDG }],
  ['every XDG variable, without HOME', XDG],
  ['empty XDG variables', { ...HOME, XDG_DATA_HOME: '', XDG_RUNTIME_DIR: '', XDG_CACHE_HOME: '' }],
  [
    'XDG paths to normalize',
    { ...HOME, XDG_DATA_HOME: '/a//b/./c/', XDG_RUNTIME_DIR: '/run/../run/user/x/' },
  ],
  ['a relative XDG_CACHE_HOME', { ...HOME, XDG_CACHE_HOME: 'cache/../here' }],
  ['both IGLOO_* variables', { ...HOME, ...XDG, ...IGLOO }],
  ['IGLOO_DATA_DIR alone (ignored)', { ...HOME, IGLOO_DATA_DIR: IGLOO.IGLOO_DATA_DIR }],
  ['IGLOO_RUN_DIR alone (ignored)', { ...HOME, IGLOO_RUN_DIR: IGLOO.IGLOO_RUN_DIR }],
];

for (const uid of [0, NOBODY]) {
  for (const [what, env] of environments) {
    test(`uid ${uid}, ${what}: the front's directories are iglooDirs()'s`, () => {
      requireRoot();
      assert.deepEqual(helperDirs(env, uid), iglooDirs(env, uid));
    });
  }
}
