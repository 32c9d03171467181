import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IglooError } from '../core/errors.ts';
import * as table from './command-table.ts';
import { parseCommandLine } from './parse.ts';
import type { Entry, Invocation } from './spec.ts';

/** The invocation a command line gives (failing the test on help). */
function invocation(entry: Entry, args: string[]): Invocation {
  const parsed = parseCommandLine(entry, args);
  assert.equal(parsed.kind, 'run');
  return parsed.kind === 'run' ? parsed.invocation : assert.fail();
}

/** The usage error a command line gives. */
function usageError(entry: Entry, args: string[]): IglooError {
  try {
    parseCommandLine(entry, args);
  } catch (err) {
    assert.ok(err instanceof IglooError, String(err));
    assert.equal(err.code, 'EINVAL', 'a usage error: exit status 2');
    return err;
  }
  return assert.fail(`${args.join(' ')} was accepted`);
}

test('an unknown option is named, with its command, and the error points at the help', () => {
  const err = usageError(table.check, ['--bogus']);
  assert.match(err.message, /^check: Unknown option '--bogus'$/);
  assert.match(err.hint ?? '', /igloo check --help/);
  const short = usageError(table.exec, ['-x', 'web', '--', 'ls']);
  assert.match(short.message, /^exec: Unknown option '-x'$/);
  assert.match(short.hint ?? '', /Usage: igloo exec NAME \[options\] -- CMD/);
  assert.match(usageError(table.imageLs, ['--bogus']).message, /^image ls: Unknown option/);
  assert.match(usageError(table.create, ['-x']).message, /Unknown option '-x'/);
});

test('a missing or extra positional is a usage error', () => {
  assert.equal(usageError(table.create, []).message, 'create: missing NAME');
  assert.equal(usageError(table.exportContainer, ['c1']).message, 'export: missing FILE');
  assert.equal(usageError(table.ls, ['c1']).message, 'ls: unexpected argument "c1"');
  assert.equal(
    usageError(table.exec, ['c1', 'ls']).message,
    'exec: unexpected argument "ls" (put the command after --)',
  );
  assert.equal(usageError(table.exec, ['c1']).message, 'exec: no command given after --');
  assert.equal(usageError(table.subidGrant, ['--count', '5']).message, 'subid grant: missing USER');
});

test('everything after the first -- is the command, untouched', () => {
  const exec = invocation(table.exec, ['-t', 'c1', '--', 'ls', '-la', '--json', '--', '-h']);
  assert.deepEqual(exec.args, { NAME: 'c1' });
  assert.deepEqual(exec.options, { tty: true });
  assert.deepEqual(exec.command, ['ls', '-la', '--json', '--', '-h']);
  const run = invocation(table.run, ['--rm', '--name', 'x', '--', '/bin/sh', '-c', 'exit 3']);
  assert.deepEqual(run.options, { rm: true, name: 'x' });
  assert.deepEqual(run.command, ['/bin/sh', '-c', 'exit 3']);
  assert.deepEqual(invocation(table.run, []).command, [], 'run may take the image command');
  // Options may follow the name; --help after -- is the command's.
  const late = invocation(table.exec, [
    'c1',
    '--user',
    'inner',
    '-e',
    'A=1',
    '-e',
    'B=2',
    '--',
    '--help',
  ]);
  assert.deepEqual(late.options, { user: 'inner', env: ['A=1', 'B=2'] });
  assert.deepEqual(late.command, ['--help']);
  // A verb without a command reads -- as the end of its options.
  assert.deepEqual(invocation(table.ps, ['--', '--all']).args, { NAME: ['--all'] });
});

test('options are typed from the table: whole numbers, choices, booleans', () => {
  const create = invocation(table.create, ['c1', '--slice-stride', '100000', '--nesting']);
  assert.deepEqual(create.options, { 'slice-stride': 100000, nesting: true });
  assert.equal(
    usageError(table.stop, ['c1', '--timeout', '1.5']).message,
    'stop: --timeout must be a whole number, not "1.5"',
  );
  assert.deepEqual(invocation(table.start, ['c1', '--console', 'null']).options, {
    console: 'null',
  });
  assert.equal(
    usageError(table.start, ['c1', '--console', 'tty']).message,
    'start: --console must be pty or null, not "tty"',
  );
  assert.match(usageError(table.stop, ['c1', '--timeout']).message, /^stop: Option '--timeout/);
  assert.match(usageError(table.imageBuild, ['ubuntu']).message, /unknown kind "ubuntu"/);
  assert.deepEqual(invocation(table.kill, ['c1']).args, { NAME: 'c1', SIGNAL: undefined });
  assert.deepEqual(invocation(table.kill, ['c1', 'KILL']).args, { NAME: 'c1', SIGNAL: 'KILL' });
  assert.deepEqual(invocation(table.ps, []).args, { NAME: [] });
});

test('--help and -h ask for the help, which wins over missing arguments', () => {
  for (const args of [['--help'], ['-h'], ['c1', '--json', '-h']])
    assert.deepEqual(parseCommandLine(table.info, args), {
      kind: 'help',
      entry: table.info,
      status: 0,
    });
  // Unknown options are still refused next to --help.
  usageError(table.info, ['--help', '--bogus']);
});

test('a family takes its action first: image ls, subid grant USER', () => {
  assert.deepEqual(parseCommandLine(table.image, []), {
    kind: 'help',
    entry: table.image,
    status: 2,
  });
  assert.deepEqual(parseCommandLine(table.image, ['--help']), {
    kind: 'help',
    entry: table.image,
    status: 0,
  });
  assert.deepEqual(parseCommandLine(table.image, ['import', '--help']), {
    kind: 'help',
    entry: table.imageImport,
    status: 0,
  });
  const grant = invocation(table.subid, ['grant', 'anna', '--start', '2000000', '--json']);
  assert.equal(grant.spec, table.subidGrant);
  assert.deepEqual(grant.args, { USER: 'anna' });
  assert.deepEqual(grant.options, { start: 2000000, json: true });
  const err = usageError(table.image, ['frob']);
  assert.equal(err.message, 'image: unknown action "frob"');
  assert.match(err.hint ?? '', /ls, import, rm, build, pull or push/);
});
