import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { COMMANDS } from './command-table.ts';
import { bashScript, commandFlags, zshScript } from './completion.ts';
import { isFamily } from './spec.ts';

const leaves = COMMANDS.flatMap((c) => (isFamily(c) ? [...c.actions] : [c]));

// A data directory with two containers and an image, as igloo lays it out.
const base = mkdtempSync(join(tmpdir(), 'igloo-completion-'));
for (const dir of ['containers/web', 'containers/db', 'images/app'])
  mkdirSync(join(base, 'data', dir), { recursive: true });
after(() => rmSync(base, { recursive: true, force: true }));

/** What bash's completion offers for a command line (the last word is being completed). */
function bashComplete(...words: string[]): string[] {
  const script = `${bashScript()}
COMP_WORDS=(igloo "$@"); COMP_CWORD=$#
_igloo
printf '%s\\n' "\${COMPREPLY[@]}"`;
  const r = spawnSync('bash', ['-c', script, 'bash', ...words], {
    encoding: 'utf8',
    env: {
      PATH: process.env.PATH,
      HOME: base,
      IGLOO_DATA_DIR: join(base, 'data'),
      IGLOO_RUN_DIR: join(base, 'run'),
    },
  });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n').filter(Boolean).sort();
}

for (const [name, script] of [
  ['bash', bashScript()],
  ['zsh', zshScript()],
] as const) {
  test(`the ${name} script names every command, action and option`, () => {
    for (const c of COMMANDS) assert.ok(script.includes(c.name), c.name);
    for (const spec of leaves) {
      for (const flag of commandFlags(spec))
        assert.ok(script.includes(flag), `${spec.name} ${flag}`);
      const action = spec.name.split(' ')[1];
      if (action) assert.ok(script.includes(action), spec.name);
    }
  });

  // bash and zsh are installed by scripts/install.sh: a missing shell fails here.
  test(`the ${name} script is valid ${name}`, () => {
    const r = spawnSync(name, ['-n'], { input: script, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  });
}

test('bash completes verbs, actions and options from the tables', () => {
  assert.deepEqual(bashComplete('ex'), ['exec', 'export']);
  assert.deepEqual(bashComplete('image', ''), ['build', 'import', 'ls', 'pull', 'push', 'rm']);
  assert.deepEqual(bashComplete('subid', 'gr'), ['grant']);
  assert.deepEqual(
    bashComplete('exec', 'web', '--'),
    ['--cwd', '--help', '--no-tty', '--tty', '--user', '--env'].sort(),
  );
  assert.deepEqual(bashComplete('image', 'import', 'x', '--'), ['--help', '--json', '--name']);
  assert.deepEqual(bashComplete('start', 'web', '--console', ''), ['null', 'pty']);
  assert.deepEqual(bashComplete('completion', ''), ['bash', 'zsh']);
});

test('bash completes container and image names from the data directory', () => {
  assert.deepEqual(bashComplete('exec', ''), ['db', 'web']);
  assert.deepEqual(bashComplete('exec', '-t', '--user', 'root', 'w'), ['web']);
  assert.deepEqual(bashComplete('ps', 'web', ''), ['db', 'web'], 'ps takes several');
  assert.deepEqual(bashComplete('kill', 'web', 'KI'), ['KILL']);
  assert.deepEqual(bashComplete('create', '--image', ''), ['app', 'busybox']);
  assert.deepEqual(bashComplete('image', 'rm', 'a'), ['app']);
  assert.deepEqual(bashComplete('create', ''), [], 'a new name is not completed');
  assert.deepEqual(bashComplete('exec', 'web', '--', ''), [], "the command's words are its own");
  assert.deepEqual(bashComplete('info', 'web', ''), [], 'info takes one name');
});
