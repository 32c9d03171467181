import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IglooError } from './errors.ts';
import { parseGroup, parsePasswd, resolveUser } from './passwd.ts';

const passwd = parsePasswd(
  'root:x:0:0:root:/root:/bin/sh\nbroken line\nanna:x:1001:1001::/home/anna:/bin/sh\nbad:x:uid:1::/:/bin/sh\n',
);
const groups = parseGroup('root:x:0:\nusers:x:100:anna,elsa\nbroken\n');

test('parsePasswd() keeps well-formed entries only', () => {
  assert.deepEqual(
    passwd.map((p) => [p.name, p.uid, p.gid, p.home]),
    [
      ['root', 0, 0, '/root'],
      ['anna', 1001, 1001, '/home/anna'],
    ],
  );
});
test('parseGroup() reads members', () => {
  assert.deepEqual(groups, [
    { name: 'root', gid: 0, members: [] },
    { name: 'users', gid: 100, members: ['anna', 'elsa'] },
  ]);
});
test('resolveUser() takes names, ids and user:group', () => {
  assert.deepEqual(resolveUser('anna', passwd), { uid: 1001, gid: 1001, name: 'anna' });
  assert.deepEqual(resolveUser('1001', passwd), { uid: 1001, gid: 1001, name: 'anna' });
  assert.deepEqual(resolveUser('4242', passwd), { uid: 4242, gid: 4242 });
  assert.deepEqual(resolveUser('anna:users', passwd, groups), {
    uid: 1001,
    gid: 100,
    name: 'anna',
  });
  assert.deepEqual(resolveUser('0:7', passwd, groups), { uid: 0, gid: 7, name: 'root' });
});
test('resolveUser() names the unknown user or group and where it looked', () => {
  assert.throws(
    () => resolveUser('elsa', passwd, groups, 'c1:/etc/passwd'),
    (e: unknown) =>
      e instanceof IglooError &&
      e.code === 'ENOENT' &&
      /Cannot find user "elsa" in c1:\/etc\/passwd/.test(e.message),
  );
  assert.throws(
    () => resolveUser('anna:wheel', passwd, groups),
    (e: unknown) => e instanceof IglooError && /Cannot find group "wheel"/.test(e.message),
  );
});
test('IglooError.toJSON() carries only the fields that are set', () => {
  const e = new IglooError('EINVAL', 'Bad thing', { op: 'x', hint: 'do y' });
  assert.deepEqual(e.toJSON(), { code: 'EINVAL', message: 'Bad thing', op: 'x', hint: 'do y' });
});
