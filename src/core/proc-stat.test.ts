import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseProcStat } from './proc-stat.ts';

test('parseProcStat() splits after the last parenthesis of comm', () => {
  const fields = Array.from({ length: 30 }, (_, i) => String(i + 3));
  fields[0] = 'S';
  // field 22 is index 19 after "pid (comm)"
  const stat = `42 (a) b (c)) ${fields.join(' ')}\n`;
  assert.equal(parseProcStat(stat)?.startTime, 22);
  assert.equal(parseProcStat('garbage')?.startTime, undefined);
  assert.equal(parseProcStat('1 (x) S 1')?.startTime, undefined);
});

test('parseProcStat() reads field 22 with or without a trailing newline', () => {
  const fields = Array.from({ length: 50 }, (_, i) => String(i + 3));
  fields[0] = 'S';
  assert.equal(parseProcStat(`7 (x y) ${fields.slice(0, 20).join(' ')}`)?.startTime, 22);
  assert.equal(parseProcStat(`7 (x y) ${fields.slice(0, 20).join(' ')}\n`)?.startTime, 22);
  fields[19] = '2x';
  assert.equal(parseProcStat(`7 (x) ${fields.join(' ')}\n`)?.startTime, undefined);
});

test('parseProcStat() gives the state letter with the start time', () => {
  const fields = Array.from({ length: 50 }, (_, i) => String(i + 3));
  fields[0] = 'Z';
  assert.deepEqual(parseProcStat(`9 (sh) ${fields.join(' ')}\n`), { state: 'Z', startTime: 22 });
  fields[0] = 'S';
  assert.deepEqual(parseProcStat(`9 ()) ) ${fields.join(' ')}\n`), { state: 'S', startTime: 22 });
});
