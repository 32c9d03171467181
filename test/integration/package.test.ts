/**
 * igloo as admins and programmers install it (issue 21), for real:
 * - the Debian package: built from this tree, checked by lintian, installed
 *   with apt-get, the seed story's first steps run by a test user through
 *   the installed /usr/bin/igloo (not the clone), then purged, leaving none
 *   of its files;
 * - the npm package: `npm pack`, installed into a throwaway TypeScript
 *   project, a typed example compiled with `tsc --strict` (a wrong call must
 *   not compile) and run as a test user against real containers.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  Cleanup,
  assertRangeFree,
  createUser,
  igloo,
  requireRoot,
  root,
  runAs,
  tempDir,
  type TestUser,
} from '../support/host.ts';

const cleanup = new Cleanup();
const DEB_RANGE = 41_000_000;
const NPM_RANGE = 41_200_000;
const COUNT = 131_072;
const APT = ['-o', 'DPkg::Lock::Timeout=600', '-y', '-qq'];

function installed(): boolean {
  const q = spawnSync('dpkg-query', ['-W', '-f=${Status}', 'igloo'], { encoding: 'utf8' });
  return q.status === 0 && q.stdout.includes('install ok installed');
}

function ok(argv: string[], what: string, opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', ...opts });
  assert.equal(r.status, 0, `${what}: ${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

before(() => {
  requireRoot();
  assertRangeFree(DEB_RANGE, COUNT);
  assertRangeFree(NPM_RANGE, COUNT);
  // A leftover of a crashed run of this test would hide what the package installs.
  if (installed()) ok(['apt-get', 'purge', ...APT, 'igloo'], 'purge a leftover igloo package');
});
after(() => cleanup.run());

describe('the Debian package', () => {
  let deb: string;
  let user: TestUser;
  let files: string[];
  const cmd = '/usr/bin/igloo';

  test('npm run package:deb builds a package that lintian passes with no error', () => {
    const out = tempDir(cleanup, 'igloo-deb-out-');
    deb = ok(['npm', 'run', '-s', 'package:deb', '--', '--out', out], 'package:deb', {
      cwd: root,
    }).trim();
    assert.match(deb, /\/igloo_\d+\.\d+\.\d+_[a-z0-9]+\.deb$/);
    const fields = ok(['dpkg-deb', '--field', deb, 'Package', 'Depends'], 'dpkg-deb --field');
    assert.match(fields, /^Package: igloo$/m);
    assert.match(fields, /^Depends: .*nodejs \(>= 20\).*uidmap/m);
    const contents = ok(['dpkg-deb', '--contents', deb], 'dpkg-deb --contents');
    for (const path of [
      './usr/bin/igloo -> ../lib/igloo/libexec/igloo-helper',
      './usr/lib/igloo/igloo.mjs',
      './usr/share/man/man1/igloo.1.gz',
      './usr/share/man/man1/igloo-create.1.gz',
      './usr/share/bash-completion/completions/igloo',
      './usr/share/zsh/vendor-completions/_igloo',
      './usr/share/doc/igloo/copyright',
    ])
      assert.ok(contents.includes(path), `${path} in the package`);
    // lintian exits non-zero on an error (and prints it); warnings are allowed.
    const lint = spawnSync('lintian', ['--fail-on', 'error', deb], { encoding: 'utf8' });
    assert.equal(lint.status, 0, `lintian:\n${lint.stdout}${lint.stderr}`);
    assert.doesNotMatch(lint.stdout, /^E: /m, lint.stdout);
  });

  test('apt-get installs it; a user runs the seed story through the installed command', async () => {
    assert.ok(deb, 'the package was built');
    cleanup.add('purge the igloo package', () => {
      if (installed()) ok(['apt-get', 'purge', ...APT, 'igloo'], 'apt-get purge igloo');
    });
    ok(
      ['apt-get', 'install', ...APT, '--no-install-recommends', `./${deb.split('/').pop()}`],
      'apt-get install',
      {
        cwd: deb.slice(0, deb.lastIndexOf('/')),
        env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      },
    );
    assert.ok(installed());
    files = ok(['dpkg-query', '-L', 'igloo'], 'dpkg -L').split('\n').filter(Boolean);
    assert.ok(files.includes('/usr/lib/igloo/libexec/igloo-helper'));
    assert.match(ok([cmd, '--version'], 'igloo --version'), /\d+\.\d+\.\d+/);

    user = createUser(cleanup, 'igloo-deb');
    // The installed command's root side: the admin grants the user a block.
    ok(
      [cmd, 'subid', 'grant', user.name, '--start', String(DEB_RANGE), '--count', String(COUNT)],
      'grant',
    );
    const as = (args: string[]) => runAs(user, [cmd, ...args], { env: { PATH: '/usr/bin:/bin' } });
    let r = await as(['check']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    r = await as(['create', 'deb-c1', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const created = JSON.parse(r.stdout) as { idmap: { uid: Array<{ outside: number }> } };
    assert.equal(
      created.idmap.uid[0]!.outside,
      DEB_RANGE,
      'the first container gets the block start',
    );
    r = await as(['start', 'deb-c1']);
    assert.equal(r.status, 0, r.stderr);
    r = await as(['exec', 'deb-c1', '--', '/bin/sh', '-c', 'echo $(id -u) $$']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout.trim(), /^0 \d+$/);
    r = await as(['ls', '--json']);
    const list = JSON.parse(r.stdout) as Array<{ name: string; state: string; pid: number }>;
    const c1 = list.find((c) => c.name === 'deb-c1');
    assert.equal(c1?.state, 'running', r.stdout);
    // The monitor and init run the installed helper, not a build in the clone.
    const monitors = ok(['ps', '-o', 'args=', '-u', String(user.uid)], 'ps').split('\n');
    assert.ok(
      monitors.every((m) => !m.includes(root)),
      `nothing of the clone runs: ${monitors.join('\n')}`,
    );
    r = await as(['stop', 'deb-c1']);
    assert.equal(r.status, 0, r.stderr);
    r = await as(['run', '--', '/bin/sh', '-c', 'echo one-shot $(id -u)']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'one-shot 0');
    r = await as(['destroy', 'deb-c1']);
    assert.equal(r.status, 0, r.stderr);
  });

  test('apt-get purge removes every file of the package', () => {
    assert.ok(files?.length, 'the package was installed');
    ok(['apt-get', 'purge', ...APT, 'igloo'], 'apt-get purge igloo');
    assert.equal(installed(), false);
    const left = files.filter(
      (f) =>
        existsSync(f) &&
        !execFileSync('stat', ['-c', '%F', f], { encoding: 'utf8' }).startsWith('directory'),
    );
    assert.deepEqual(left, [], 'files of the package left behind');
    assert.equal(existsSync('/usr/lib/igloo'), false);
  });
});

describe('the npm package', () => {
  test('docs/api is the reference generated from the declarations (npm run docs:api)', () => {
    const out = tempDir(cleanup, 'igloo-api-docs-');
    ok(['npx', 'typedoc', '--out', out, '--treatWarningsAsErrors'], 'typedoc', { cwd: root });
    const diff = spawnSync('diff', ['-r', out, join(root, 'docs', 'api')], { encoding: 'utf8' });
    assert.equal(diff.status, 0, `docs/api is stale: run npm run docs:api\n${diff.stdout}`);
  });

  test('npm pack; a TypeScript project installs it, gets its types, and runs containers', async () => {
    const out = tempDir(cleanup, 'igloo-npm-out-');
    ok(['npm', 'pack', '--silent', '--pack-destination', out], 'npm pack', { cwd: root });
    const [tarball] = readdirSync(out).filter((f) => f.endsWith('.tgz'));
    assert.ok(tarball, 'npm pack made a tarball');
    const user = createUser(cleanup, 'igloo-npm');
    const granted = await igloo(cleanup, 'root', [
      'subid',
      'grant',
      user.name,
      '--start',
      String(NPM_RANGE),
      '--count',
      String(COUNT),
    ]);
    assert.equal(granted.status, 0, granted.stderr);
    const project = join(tempDir(cleanup, 'igloo-npm-project-'), 'app');
    mkdirSync(join(project, 'src'), { recursive: true });
    writeFileSync(
      join(project, 'package.json'),
      JSON.stringify({ name: 'app', private: true, type: 'module' }),
    );
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          target: 'ES2022',
          outDir: 'out',
          types: ['node'],
          skipLibCheck: false,
        },
        include: ['src'],
      }),
    );
    // typescript and @types/node as this tree pins them (npm ci put them in the cache).
    const pin = (name: string) =>
      (
        JSON.parse(
          execFileSync('npm', ['ls', name, '--json', '--depth=0'], { cwd: root, encoding: 'utf8' }),
        ) as {
          dependencies: Record<string, { version: string }>;
        }
      ).dependencies[name]!.version;
    ok(
      [
        'npm',
        'install',
        '--no-audit',
        '--no-fund',
        '--prefer-offline',
        '--silent',
        join(out, tarball),
        `typescript@${pin('typescript')}`,
        `@types/node@${pin('@types/node')}`,
      ],
      'npm install the tarball',
      { cwd: project },
    );
    writeFileSync(
      join(project, 'src', 'main.ts'),
      `import { Igloo, IglooError, type CreateOptions } from 'igloo';
const igloo = new Igloo();
const options: CreateOptions = {};
await igloo.create('npm-c1', options);
await igloo.start('npm-c1');
const { exitCode } = await igloo.exec('npm-c1', ['/bin/true']);
const code: number = exitCode;
let refused = '';
try {
  await igloo.create('../x');
} catch (err) {
  if (err instanceof IglooError) refused = err.code;
}
await igloo.stop('npm-c1');
await igloo.destroy('npm-c1');
console.log(JSON.stringify({ code, refused }));
`,
    );
    const tsc = join(project, 'node_modules', '.bin', 'tsc');
    ok([tsc, '-p', project], 'tsc --strict on the typed example');
    // A wrong call must not compile: a string where argv is a list.
    writeFileSync(
      join(project, 'src', 'wrong.ts'),
      `import { Igloo } from 'igloo';\nawait new Igloo().exec('c', '/bin/true');\n`,
    );
    const wrong = spawnSync(tsc, ['-p', project, '--noEmit'], { encoding: 'utf8' });
    assert.notEqual(wrong.status, 0);
    assert.match(
      wrong.stdout,
      /src\/wrong\.ts\(2,\d+\): error TS2345: Argument of type 'string' is not assignable to parameter of type 'readonly string\[\]'/,
    );
    execFileSync('chmod', ['-R', 'a+rX', join(project, '..')]);
    const r = await runAs(user, [process.execPath, join(project, 'out', 'main.js')], {
      cwd: project,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout.trim()), { code: 0, refused: 'EINVAL' });
  });
});
