import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { errnoHint } from './errno.ts';
import {
  exitCodeOf,
  helperError,
  helperReason,
  onHelperLines,
  parseHelperLine,
  type HelperErrorLine,
} from './helper.ts';

test('parseHelperLine: the sync lines', () => {
  assert.deepEqual(parseHelperLine('READY 4242'), { kind: 'READY', pid: 4242 });
  assert.deepEqual(parseHelperLine('EXIT exited 3'), { kind: 'EXIT', status: 'exited 3' });
  assert.deepEqual(parseHelperLine('EXIT signaled SIGKILL'), {
    kind: 'EXIT',
    status: 'signaled SIGKILL',
  });
  assert.deepEqual(parseHelperLine('PID 17'), { kind: 'PID', pid: 17 });
  assert.deepEqual(parseHelperLine('ERROR 12 exec ENOENT /no/such/command: No such file'), {
    kind: 'ERROR',
    index: 12,
    op: 'exec',
    errno: 'ENOENT',
    message: '/no/such/command: No such file',
  });
  assert.deepEqual(parseHelperLine('ERROR 3 mount EPERM '), {
    kind: 'ERROR',
    index: 3,
    op: 'mount',
    errno: 'EPERM',
    message: '',
  });
});

test('parseHelperLine: an ERROR out of format is still an ERROR', () => {
  const line = parseHelperLine('ERROR garbled');
  assert.equal(line.kind, 'ERROR');
  assert.match((line as HelperErrorLine).message, /the helper said "ERROR garbled"/);
});

test('parseHelperLine: the one-shot modes and the zygote', () => {
  assert.deepEqual(parseHelperLine('ZYGOTE igloo-zygote-12-00ff'), {
    kind: 'ZYGOTE',
    name: 'igloo-zygote-12-00ff',
  });
  assert.deepEqual(parseHelperLine('IDMAP ok'), { kind: 'IDMAP', ok: true });
  assert.deepEqual(parseHelperLine('IDMAP EINVAL mount_setattr MOUNT_ATTR_IDMAP on /x: bad'), {
    kind: 'IDMAP',
    ok: false,
    errno: 'EINVAL',
    message: 'mount_setattr MOUNT_ATTR_IDMAP on /x: bad',
  });
  assert.deepEqual(parseHelperLine('SHIFTED 1234'), { kind: 'SHIFTED', count: 1234 });
  for (const line of ['', 'hello', 'IDMAP', 'SHIFTED many', 'ZYGOTE', 'READYX 1'])
    assert.deepEqual(parseHelperLine(line), { kind: 'unknown', line }, line);
});

test('onHelperLines: lines split across chunks, the last one kept until its newline', () => {
  const stream = new PassThrough();
  const lines: string[] = [];
  onHelperLines(stream, (line) => lines.push(line));
  stream.write('REA');
  stream.write('DY 1\nEXIT exi');
  stream.write('ted 0\nEXIT');
  assert.deepEqual(lines, ['READY 1', 'EXIT exited 0']);
});

test('exitCodeOf: shell style', () => {
  assert.equal(exitCodeOf('exited 0'), 0);
  assert.equal(exitCodeOf('exited 42'), 42);
  assert.equal(exitCodeOf('signaled SIGKILL'), 137);
  assert.equal(exitCodeOf('signaled SIG40'), 168);
  assert.equal(exitCodeOf('what'), 128);
});

const error = (op: string, errno: string, message: string): HelperErrorLine => ({
  kind: 'ERROR',
  index: 4,
  op,
  errno,
  message,
});

test('helperError: names the operation, keeps op and errno, advises', () => {
  const err = helperError(error('mount', 'EPERM', 'mount proc on /proc'), 'start container "a"');
  assert.equal(err.code, 'ESYS');
  assert.equal(err.message, 'Cannot start container "a": mount proc on /proc');
  assert.equal(err.op, 'start container "a": mount');
  assert.equal(err.errno, 'EPERM');
  assert.equal(err.hint, errnoHint('EPERM', 'step'));
  const missing = helperError(error('exec', 'ENOENT', '/bin/nope'), 'exec in "a"');
  assert.equal(missing.code, 'ENOENT');
  assert.equal(helperError(error('x', 'E99', 'odd'), 'w').hint, undefined);
});

test('helperError: a refused map is ENOTDELEGATED, a missing tool EHOST', () => {
  const refused = error('idmap', 'EPERM', 'newuidmap 77 0 4000000 65536: write failed');
  const err = helperError(refused, 'start container "revoked"');
  assert.equal(err.code, 'ENOTDELEGATED');
  assert.match(err.message, /start container "revoked".*newuidmap \d+ 0 4000000 65536/);
  assert.match(err.hint ?? '', /delegated to you in \/etc\/subuid/);
  assert.equal(helperReason(refused), 'cannot map ids: newuidmap 77 0 4000000 65536: write failed');
  const gid = helperError(error('idmap', 'EPERM', 'newgidmap 77 0 1 1: no'), 'start');
  assert.match(gid.hint ?? '', /\/etc\/subgid/);
  const tool = helperError(error('idmap', 'ENOENT', 'newgidmap: not found'), 'start');
  assert.equal(tool.code, 'EHOST');
  assert.equal(tool.subject, 'newgidmap');
  assert.equal(tool.message, 'Cannot start: newgidmap: not found');
});

test('errnoHint: one table, advice by who met the errno', () => {
  assert.match(errnoHint('EACCES', 'path') ?? '', /parent directories/);
  assert.match(errnoHint('EACCES', 'step') ?? '', /container's ids/);
  assert.equal(errnoHint('EROFS', 'step'), undefined);
  assert.equal(errnoHint('ELOOP', 'path'), undefined);
  assert.equal(errnoHint(undefined, 'path'), undefined);
});
