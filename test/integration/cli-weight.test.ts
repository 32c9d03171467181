/**
 * What the everyday commands load. Every `igloo run`, `exec`, `start` and
 * `ls` pays for each module it imports (tar alone took ~100 ms to import on
 * the benchmark host, node:crypto 10-30 ms): the image and archive code
 * must stay behind the commands that use it. This runs the built CLI and
 * lists the Node built-ins it loaded; zlib stands for the tar code (layers
 * and archives are its only users).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import { cliPath } from '../../src/host/install.ts';
import { Cleanup, requireRoot, tempDir } from '../support/host.ts';

const cleanup = new Cleanup();
let env: NodeJS.ProcessEnv;

before(() => {
  requireRoot();
  const base = tempDir(cleanup, 'igloo-weight-', 0o700);
  env = { ...process.env, IGLOO_DATA_DIR: `${base}/data`, IGLOO_RUN_DIR: `${base}/run` };
});
after(() => cleanup.run());

/** The built-in modules a CLI command loaded, and its exit status. */
function builtinsOf(
  args: string[],
  script: string[] = [cliPath()],
): { status: number | null; loaded: string[]; stderr: string } {
  const report =
    "process.on('exit',()=>process.stderr.write('\\nLOADED '+JSON.stringify(process.moduleLoadList)+'\\n'))";
  const r = spawnSync(
    process.execPath,
    ['--import', `data:text/javascript,${encodeURIComponent(report)}`, ...script, ...args],
    { env, encoding: 'utf8' },
  );
  const line = r.stderr.split('\n').find((l) => l.startsWith('LOADED ')) ?? 'LOADED []';
  const loaded = (JSON.parse(line.slice(7)) as string[])
    .filter((m) => m.startsWith('NativeModule '))
    .map((m) => m.slice('NativeModule '.length));
  return { status: r.status, loaded, stderr: r.stderr };
}

for (const args of [
  ['ls', '--json'],
  ['run', '--', '/bin/true'],
  ['exec', 'no-such', '--', '/bin/true'],
]) {
  test(`igloo ${args.join(' ')} loads neither node:crypto nor the tar code`, () => {
    const r = builtinsOf(args);
    assert.ok(r.loaded.includes('child_process') || args[0] === 'ls', r.stderr);
    assert.ok(r.loaded.length > 10, `the report came back: ${r.stderr}`);
    if (args[0] !== 'exec') assert.equal(r.status, 0, r.stderr);
    for (const heavy of ['crypto', 'zlib'])
      assert.ok(!r.loaded.includes(heavy), `${args.join(' ')} loaded ${heavy}`);
  });
}

test('the report sees a module when it is loaded (the check is real)', () => {
  const r = builtinsOf([], ['-e', "require('node:zlib'); require('node:crypto')"]);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(r.loaded.includes('zlib') && r.loaded.includes('crypto'), r.stderr);
});
