import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { IglooError } from '../errors.ts';
import {
  expandPortForwards,
  formatNetSpec,
  formatPortForward,
  isIPv4,
  netProblem,
  parseNetSpec,
  parsePortForward,
  type NetSpec,
} from './spec.ts';

function rejects(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof IglooError, String(err));
    assert.equal(err.code, 'EINVAL');
    assert.match(err.message, pattern);
    assert.ok(err.hint);
    return true;
  });
}

describe('parseNetSpec()', () => {
  test('reads every mode and option', () => {
    assert.deepEqual(parseNetSpec('none'), { mode: 'none' });
    assert.deepEqual(parseNetSpec('private'), { mode: 'private' });
    assert.deepEqual(parseNetSpec('user'), { mode: 'user', hostLoopback: false });
    assert.deepEqual(parseNetSpec(' user, host-loopback '), { mode: 'user', hostLoopback: true });
    assert.deepEqual(parseNetSpec('bridge'), { mode: 'bridge', bridge: 'igloo0' });
    assert.deepEqual(parseNetSpec('bridge=lan_1'), { mode: 'bridge', bridge: 'lan_1' });
  });

  test('refuses what is not a mode, with the input named', () => {
    rejects(() => parseNetSpec(''), /"": no mode given/);
    rejects(() => parseNetSpec('host'), /unknown mode "host"/);
    rejects(() => parseNetSpec('USER'), /unknown mode "USER"/);
    rejects(() => parseNetSpec('user,loopback'), /unknown user-mode option "loopback"/);
    rejects(() => parseNetSpec('user=x'), /user takes no "=x"/);
    rejects(() => parseNetSpec('none,host-loopback'), /none takes no option/);
    rejects(() => parseNetSpec('bridge,host-loopback'), /bridge takes no option/);
  });

  test('refuses bridge names that are not interface names', () => {
    for (const bad of ['../x', 'a/b', '', '.', '..', 'x.y', '-x', 'a b', 'abcdefghijklmnop', 'é'])
      rejects(() => parseNetSpec(`bridge=${bad}`), /is not a bridge name/);
    assert.deepEqual(parseNetSpec('bridge=abcdefghijklmno').mode, 'bridge'); // 15 bytes
  });

  test('formatNetSpec() is its inverse', () => {
    const specs: NetSpec[] = [
      { mode: 'none' },
      { mode: 'private' },
      { mode: 'user', hostLoopback: false },
      { mode: 'user', hostLoopback: true },
      { mode: 'bridge', bridge: 'igloo0' },
      { mode: 'bridge', bridge: 'br-7' },
    ];
    for (const s of specs) assert.deepEqual(parseNetSpec(formatNetSpec(s)), s);
    assert.equal(formatNetSpec({ mode: 'bridge', bridge: 'igloo0' }), 'bridge');
  });
});

describe('parsePortForward()', () => {
  test('reads HOST:CONTAINER with loopback and tcp by default', () => {
    assert.deepEqual(parsePortForward('8080:80'), {
      hostIp: '127.0.0.1',
      hostPort: 8080,
      containerPort: 80,
      count: 1,
      protocol: 'tcp',
    });
  });

  test('reads an address, a protocol and ranges', () => {
    assert.deepEqual(parsePortForward('0.0.0.0:5000-5002:6000-6002/udp'), {
      hostIp: '0.0.0.0',
      hostPort: 5000,
      containerPort: 6000,
      count: 3,
      protocol: 'udp',
    });
    assert.equal(parsePortForward('127.0.0.2:1:65535/tcp').containerPort, 65535);
  });

  test('refuses bad ports, addresses, protocols and shapes', () => {
    rejects(() => parsePortForward('70000:80'), /host port 70000 is not in 1-65535/);
    rejects(() => parsePortForward('8080:0'), /container port 0 is not in 1-65535/);
    rejects(() => parsePortForward('80'), /expected HOST:CONTAINER/);
    rejects(() => parsePortForward('a:b:c:d'), /expected HOST:CONTAINER/);
    rejects(() => parsePortForward('x:80'), /host port "x" is not a port/);
    rejects(() => parsePortForward('8080:80/sctp'), /protocol "sctp"/);
    rejects(() => parsePortForward('256.0.0.1:8080:80'), /"256.0.0.1" is not an IPv4 address/);
    rejects(() => parsePortForward('localhost:8080:80'), /"localhost" is not an IPv4/);
    rejects(() => parsePortForward('[::1]:8080:80'), /IPv6/);
    rejects(() => parsePortForward('9-8:9-8'), /ends before it starts/);
    rejects(() => parsePortForward('1-2000:1-2000'), /more than 1024 ports/);
    rejects(() => parsePortForward('8000-8001:80'), /host range has 2 ports and the container's 1/);
    rejects(() => parsePortForward('123456:80'), /is not a port or a range/);
  });

  test('formatPortForward() is its inverse', () => {
    for (const text of ['127.0.0.1:8080:80/tcp', '0.0.0.0:5000-5002:6000-6002/udp'])
      assert.equal(formatPortForward(parsePortForward(text)), text);
  });

  test('expandPortForwards() lists single ports in order', () => {
    const ports = expandPortForwards([parsePortForward('10-11:20-21'), parsePortForward('9:9')]);
    assert.deepEqual(
      ports.map((p) => [p.hostPort, p.containerPort, p.count]),
      [
        [10, 20, 1],
        [11, 21, 1],
        [9, 9, 1],
      ],
    );
  });
});

test('isIPv4() accepts dotted quads only', () => {
  for (const ok of ['0.0.0.0', '127.0.0.1', '255.255.255.255']) assert.ok(isIPv4(ok), ok);
  for (const bad of ['1.2.3', '1.2.3.4.5', '01.2.3.4', '1.2.3.256', ' 1.2.3.4', 'a.b.c.d'])
    assert.ok(!isIPv4(bad), bad);
});

describe('netProblem()', () => {
  const user: NetSpec = { mode: 'user', hostLoopback: false };
  test('forwards need user or bridge', () => {
    assert.match(
      netProblem({ mode: 'private' }, [parsePortForward('8080:80')])!.problem,
      /need the user or bridge network, not "private"/,
    );
    assert.equal(netProblem({ mode: 'private' }, []), undefined);
    assert.equal(netProblem(user, [parsePortForward('8080:80')]), undefined);
  });

  test('a host port may be forwarded once per address, and 0.0.0.0 covers all', () => {
    const p = (t: string) => parsePortForward(t);
    assert.match(netProblem(user, [p('8080:80'), p('8080:81')])!.problem, /8080\/tcp/);
    assert.match(netProblem(user, [p('8079-8080:80-81'), p('0.0.0.0:8080:90')])!.problem, /twice/);
    assert.equal(netProblem(user, [p('8080:80'), p('8080:80/udp')]), undefined);
    assert.equal(netProblem(user, [p('127.0.0.1:8080:80'), p('127.0.0.2:8080:80')]), undefined);
  });
});
