import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatCommand, parseNsLink, parseStatus } from './proc.ts';

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

test('parseStatus() marks kernel threads (Kthread: 1) and only them', () => {
  const kthread = STATUS.replace(
    'NSpid:\t23781\t6\n',
    'NSpid:\t23781\t6\nNSpgid:\t1\nKthread:\t1\n',
  );
  assert.equal(parseStatus(kthread, 23781)?.kthread, true);
  assert.equal('kthread' in parseStatus(kthread.replace('Kthread:\t1', 'Kthread:\t0'), 1)!, false);
});

test('parseStatus() reads lines in any order and escaped names (the general path)', () => {
  const lines = STATUS.trimEnd().split('\n').reverse();
  const shuffled = lines.join('\n').replace('Name:\tmy prog', 'Name:\ta\\nb: c') + '\n';
  assert.deepEqual(parseStatus(shuffled, 23781), {
    name: 'a\nb: c',
    state: 'S',
    ppid: 23748,
    uids: [2000000, 2000001, 2000002, 2000003],
    gids: [2000000, 2000000, 2000000, 2000000],
    nspid: [23781, 6],
  });
  // The same text in the kernel's order takes the one-expression path and agrees.
  const ordered = STATUS.replace('Name:\tmy prog', 'Name:\ta\\nb: c');
  assert.deepEqual(parseStatus(ordered, 23781), parseStatus(shuffled, 23781));
});
