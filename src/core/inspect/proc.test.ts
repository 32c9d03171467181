import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatCommand, parseNsLink, parseStatStartTime, parseStatus } from './proc.ts';

const STATUS = `Name:\tmy prog
Umask:\t0022
State:\tS (sleeping)
Tgid:\t23781
PPid:\t23748
Uid:\t2000000\t2000001\t2000002\t2000003
Gid:\t2000000\t2000000\t2000000\t2000000
NStgid:\t23781\t6
NSpid:\t23781\t6
`;

test('parseStatus() reads name, state, ppid, the four uids and gids and NSpid', () => {
  assert.deepEqual(parseStatus(STATUS, 23781), {
    name: 'my prog',
    state: 'S',
    ppid: 23748,
    uids: [2000000, 2000001, 2000002, 2000003],
    gids: [2000000, 2000000, 2000000, 2000000],
    nspid: [23781, 6],
  });
});

test('parseStatus() falls back to a one-level chain without NSpid (old kernels)', () => {
  const text = STATUS.split('\n')
    .filter((l) => !l.startsWith('NSpid'))
    .join('\n');
  assert.deepEqual(parseStatus(text, 42)?.nspid, [42]);
});

test('parseStatus() gives undefined for a truncated or malformed status', () => {
  assert.equal(parseStatus('', 1), undefined);
  assert.equal(parseStatus('Name:\tx\nState:\tS\nPPid:\t1\n', 1), undefined);
  assert.equal(parseStatus(STATUS.replace('Uid:\t2000000', 'Uid:\tx'), 1), undefined);
  assert.equal(parseStatus(STATUS.replace(/Gid:.*\n/, ''), 1), undefined);
});

test('parseStatStartTime() splits after the last parenthesis of comm', () => {
  const fields = Array.from({ length: 30 }, (_, i) => String(i + 3));
  fields[0] = 'S';
  // field 22 is index 19 after "pid (comm)"
  const stat = `42 (a) b (c)) ${fields.join(' ')}\n`;
  assert.equal(parseStatStartTime(stat), 22);
  assert.equal(parseStatStartTime('garbage'), undefined);
  assert.equal(parseStatStartTime('1 (x) S 1'), undefined);
});

test('formatCommand() joins argv like ps and brackets kernel threads', () => {
  assert.equal(formatCommand(['sleep', '1000', ''].join('\0'), 'sleep'), 'sleep 1000');
  assert.equal(formatCommand('', 'kthreadd'), '[kthreadd]');
  assert.equal(formatCommand(['sh', '-c', 'echo a\nb', ''].join('\0'), 'sh'), 'sh -c echo a b');
});

test('parseNsLink() takes the inode of the right kind only', () => {
  assert.equal(parseNsLink('user:[4026531837]', 'user'), 4026531837);
  assert.equal(parseNsLink('pid:[4026531836]', 'user'), undefined);
  assert.equal(parseNsLink('user:[x]', 'user'), undefined);
});
