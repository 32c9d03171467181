import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseRuncArgs, type FlagTable } from './oci-args.ts';

const table: FlagTable = {
  detach: { type: 'boolean', short: 'd', help: '' },
  'pid-file': { type: 'string', help: '' },
  env: { type: 'multiple', short: 'e', help: '' },
};

test("runc's flags: one or two dashes, =value or the next word, stop at the first positional", () => {
  const a = parseRuncArgs('exec', table, [
    '-d',
    '--pid-file=/p',
    '-e',
    'A=1',
    '--env',
    'B=2',
    'c1',
    'sh',
    '-c',
    'x',
  ]);
  assert.deepEqual(a.flags, { detach: true, 'pid-file': '/p', env: ['A=1', 'B=2'] });
  assert.deepEqual(a.positionals, ['c1', 'sh', '-c', 'x']);
  assert.deepEqual(parseRuncArgs('exec', table, ['-pid-file', '/q', '--detach=false', 'c']).flags, {
    'pid-file': '/q',
    detach: false,
  });
  assert.deepEqual(parseRuncArgs('kill', table, ['--', '-x']).positionals, ['-x']);
});

test('unknown flags, missing values and bad booleans are usage errors naming the verb', () => {
  assert.throws(
    () => parseRuncArgs('exec', table, ['--nope']),
    /igloo-runc exec: unknown flag "--nope"/,
  );
  assert.throws(() => parseRuncArgs('exec', table, ['--pid-file']), /needs a value/);
  assert.throws(() => parseRuncArgs('exec', table, ['--detach=maybe']), /true or false/);
});
