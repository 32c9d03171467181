import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { hostAllowed, hostName, judge, originAllowed } from './guard.ts';

const tcp = { token: 'secret-token', listen: '127.0.0.1:8080' };
const good = { host: '127.0.0.1:8080', authorization: 'Bearer secret-token' };

describe('guard', () => {
  test('the unix socket needs no token, but a foreign Origin is still refused', () => {
    assert.deepEqual(judge({}, { host: 'igloo' }), { ok: true });
    const v = judge({}, { host: 'igloo', origin: 'http://evil.example' });
    assert.equal(v.ok, false);
    assert.equal(!v.ok && v.status, 403);
  });

  test('TCP: the token is required, by header or query, and compared whole', () => {
    assert.deepEqual(judge(tcp, good), { ok: true });
    assert.deepEqual(judge(tcp, { host: good.host, queryToken: 'secret-token' }), { ok: true });
    for (const bad of [
      {},
      { authorization: 'Bearer secret' },
      { authorization: 'Bearer secret-token-and-more' },
      { authorization: 'Basic secret-token' },
      { queryToken: '' },
    ]) {
      const v = judge(tcp, { host: good.host, ...bad });
      assert.equal(v.ok, false, JSON.stringify(bad));
      assert.equal(!v.ok && v.status, 401);
      assert.ok(!v.ok && v.hint.length > 0);
    }
  });

  test('TCP: the page needs no token, but Host and Origin are checked for it too', () => {
    assert.deepEqual(judge(tcp, { host: good.host, asset: true }), { ok: true });
    assert.equal(judge(tcp, { host: 'evil.example:8080', asset: true }).ok, false);
  });

  test('TCP: DNS rebinding (a foreign Host) and cross-site requests are refused with 403', () => {
    for (const req of [
      { ...good, host: 'evil.example:8080' },
      { ...good, host: undefined },
      { ...good, origin: 'http://evil.example' },
      { ...good, origin: 'http://127.0.0.1:9999' },
      { ...good, origin: 'https://127.0.0.1:8080' },
      { ...good, origin: 'null' },
    ]) {
      const v = judge(tcp, req);
      assert.equal(!v.ok && v.status, 403, JSON.stringify(req));
    }
    assert.deepEqual(judge(tcp, { ...good, origin: 'http://127.0.0.1:8080' }), { ok: true });
  });

  test('host names', () => {
    assert.equal(hostName('127.0.0.1:80'), '127.0.0.1');
    assert.equal(hostName('[::1]:80'), '[::1]');
    assert.equal(hostName('LOCALHOST'), 'localhost');
    assert.ok(hostAllowed('localhost:1', undefined));
    assert.ok(hostAllowed('127.1.2.3:1', undefined));
    assert.ok(hostAllowed('[::1]:1', undefined));
    assert.ok(hostAllowed('10.0.0.5:80', '10.0.0.5:80'));
    assert.ok(!hostAllowed('10.0.0.5:80', '127.0.0.1:80'));
    assert.ok(!hostAllowed('127.0.0.1.evil.example', undefined));
    assert.ok(!hostAllowed('localhost.evil.example:80', undefined));
    assert.ok(originAllowed('http://localhost:8080', 'localhost:8080'));
    assert.ok(!originAllowed('http://localhost:8080', undefined));
  });
});
