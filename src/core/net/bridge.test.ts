import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  EMPTY_NET_STATE,
  blockAddresses,
  broadcastOf,
  cidrsOverlap,
  defineBridge,
  formatIp4,
  formatNetState,
  grantBlock,
  hostVethName,
  hostsFileText,
  interfaceNetwork,
  leaseAddress,
  parseCidr,
  parseIp4,
  parseNetState,
  poolOf,
  releaseLease,
  removeBridge,
  revokeBlocks,
  validateBridgeName,
  type NetState,
} from './bridge.ts';

const code = (c: string) => (err: unknown) => (err as { code?: string }).code === c;

test('validateBridgeName() takes interface names of at most 15 characters', () => {
  for (const ok of ['igloo0', 'a', 'br-test-1', 'abcdefghijklmno'])
    assert.equal(validateBridgeName(ok), ok);
  for (const bad of [
    '',
    '../x',
    'a/b',
    '..',
    'abcdefghijklmnop',
    'Br0',
    '0br',
    'br_0',
    'br-',
    'a b',
    'br.0',
  ])
    assert.throws(() => validateBridgeName(bad), code('EINVAL'), bad);
});

test('parseIp4() and formatIp4() round-trip and refuse shorthand', () => {
  assert.equal(parseIp4('10.251.1.2'), 0x0afb0102);
  assert.equal(formatIp4(0x0afb0102), '10.251.1.2');
  assert.equal(formatIp4(0xffffffff), '255.255.255.255');
  for (const bad of ['10.1.1', '10.1.1.256', '010.1.1.1', '1.2.3.4.5', 'a.b.c.d', '', '1..2.3'])
    assert.equal(parseIp4(bad), undefined, bad);
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xffffffff }), (n) => parseIp4(formatIp4(n)) === n),
  );
});

test('parseCidr() wants host bits zero and a prefix between /8 and /30', () => {
  assert.deepEqual(parseCidr('10.251.1.0/24'), { network: 0x0afb0100, prefix: 24 });
  assert.equal(broadcastOf(parseCidr('10.251.1.0/24')), 0x0afb01ff);
  assert.throws(
    () => parseCidr('10.251.1.5/24'),
    /host bits are set \(the network is 10\.251\.1\.0\/24\)/,
  );
  assert.throws(() => parseCidr('10.251.1.0/31'), /between \/8 and \/30/);
  assert.throws(() => parseCidr('10.0.0.0/7'), /between \/8 and \/30/);
  for (const bad of ['10.251.1.0', '10.251.1.0/', '/24', '10.251.1.0/24x', '300.1.1.0/24', 'x'])
    assert.throws(() => parseCidr(bad), code('EINVAL'), bad);
});

test('cidrsOverlap() is true exactly when two networks share an address', () => {
  const c = (s: string) => parseCidr(s);
  assert.ok(cidrsOverlap(c('10.251.0.0/16'), c('10.251.7.0/24')));
  assert.ok(cidrsOverlap(c('10.251.7.0/24'), c('10.251.0.0/16')));
  assert.ok(!cidrsOverlap(c('10.251.1.0/24'), c('10.251.2.0/24')));
  assert.ok(!cidrsOverlap(c('10.251.1.0/25'), c('10.251.1.128/25')));
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.integer({ min: 8, max: 30 }),
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.integer({ min: 8, max: 30 }),
      (a, pa, b, pb) => {
        const mask = (p: number) => (0xffffffff << (32 - p)) >>> 0;
        const x = { network: (a & mask(pa)) >>> 0, prefix: pa };
        const y = { network: (b & mask(pb)) >>> 0, prefix: pb };
        const p = Math.min(pa, pb);
        const same = (x.network & mask(p)) >>> 0 === (y.network & mask(p)) >>> 0;
        return cidrsOverlap(x, y) === same;
      },
    ),
  );
});

test('defineBridge() gives the first host as gateway and refuses duplicates and overlaps', () => {
  const a = defineBridge({ name: 'igloo0', subnet: '10.251.1.0/24', nat: true }, []);
  assert.deepEqual(a, {
    name: 'igloo0',
    subnet: '10.251.1.0/24',
    gateway: '10.251.1.1',
    nat: true,
  });
  assert.deepEqual(poolOf(a), { first: 0x0afb0102, last: 0x0afb01fe });
  assert.throws(
    () => defineBridge({ name: 'igloo0', subnet: '10.251.2.0/24', nat: false }, [a]),
    code('EEXIST'),
  );
  assert.throws(
    () => defineBridge({ name: 'igloo1', subnet: '10.251.0.0/16', nat: false }, [a]),
    /subnet 10\.251\.0\.0\/16 overlaps bridge "igloo0" \(10\.251\.1\.0\/24\)/,
  );
  assert.throws(
    () => defineBridge({ name: 'x/../y', subnet: '10.251.2.0/24', nat: false }, [a]),
    code('EINVAL'),
  );
});

const base: NetState = {
  ...EMPTY_NET_STATE,
  bridges: [defineBridge({ name: 'br0', subnet: '10.251.9.0/29', nat: false }, [])],
};

test('leaseAddress() takes the lowest free address, again the same for the same container', () => {
  const a = leaseAddress(base, { bridge: 'br0', owner: 'root', container: 'a' });
  assert.equal(a.lease.address, '10.251.9.2');
  assert.equal(a.lease.hostVeth, hostVethName('br0', 'root', 'a'));
  const again = leaseAddress(a.state, { bridge: 'br0', owner: 'root', container: 'a' });
  assert.equal(again.state, a.state);
  const b = leaseAddress(a.state, { bridge: 'br0', owner: 'root', container: 'b' });
  assert.equal(b.lease.address, '10.251.9.3');
  const c = leaseAddress(b.state, { bridge: 'br0', owner: 'anna', container: 'a' });
  assert.equal(c.lease.address, '10.251.9.4');
  const freed = releaseLease(c.state, { bridge: 'br0', owner: 'root', container: 'a' });
  assert.equal(freed.released?.address, '10.251.9.2');
  assert.equal(
    leaseAddress(freed.state, { bridge: 'br0', owner: 'root', container: 'z' }).lease.address,
    '10.251.9.2',
  );
  assert.equal(
    releaseLease(base, { bridge: 'br0', owner: 'root', container: 'a' }).released,
    undefined,
  );
});

test('leaseAddress() refuses an unknown bridge and a full pool', () => {
  assert.throws(
    () => leaseAddress(base, { bridge: 'nope', owner: 'root', container: 'a' }),
    /Bridge "nope" does not exist/,
  );
  let s = base;
  for (const n of ['a', 'b', 'c', 'd', 'e'])
    s = leaseAddress(s, { bridge: 'br0', owner: 'root', container: n }).state;
  assert.throws(
    () => leaseAddress(s, { bridge: 'br0', owner: 'root', container: 'f' }),
    code('ENOSPACE'),
  );
});

test('hostVethName() fits IFNAMSIZ and differs per container', () => {
  fc.assert(
    fc.property(fc.string(), fc.string(), (owner, name) =>
      /^igv[0-9a-f]{8}$/.test(hostVethName('br0', owner, name)),
    ),
  );
  const names = new Set(
    Array.from({ length: 2000 }, (_, i) => hostVethName('br0', 'root', `c${i}`)),
  );
  assert.equal(names.size, 2000);
  assert.notEqual(hostVethName('br0', 'anna', 'a'), hostVethName('br0', 'root', 'a'));
  assert.notEqual(hostVethName('br1', 'root', 'a'), hostVethName('br0', 'root', 'a'));
});

test('grantBlock() reserves a run from the top that leases then skip; revokeBlocks() frees it', () => {
  const g = grantBlock(base, { user: 'anna', bridge: 'br0', count: 2 });
  assert.equal(g.grant.first, '10.251.9.5');
  assert.deepEqual(blockAddresses(g.grant), ['10.251.9.5', '10.251.9.6']);
  const resized = grantBlock(g.state, { user: 'anna', bridge: 'br0', count: 3 });
  assert.equal(resized.state.grants.length, 1);
  assert.deepEqual(blockAddresses(resized.grant), ['10.251.9.4', '10.251.9.5', '10.251.9.6']);
  let s = resized.state;
  s = leaseAddress(s, { bridge: 'br0', owner: 'root', container: 'a' }).state;
  s = leaseAddress(s, { bridge: 'br0', owner: 'root', container: 'b' }).state;
  assert.throws(
    () => leaseAddress(s, { bridge: 'br0', owner: 'root', container: 'c' }),
    code('ENOSPACE'),
  );
  assert.throws(
    () => grantBlock(s, { user: 'elsa', bridge: 'br0', count: 1 }),
    /no run of 1 free addresses/,
  );
  assert.throws(() => grantBlock(s, { user: 'elsa', bridge: 'br0', count: 0 }), code('EINVAL'));
  assert.throws(() => grantBlock(s, { user: 'elsa', bridge: 'br9', count: 1 }), code('ENOENT'));
  const r = revokeBlocks(s, { user: 'anna' });
  assert.equal(r.revoked.length, 1);
  assert.equal(r.state.grants.length, 0);
  assert.equal(revokeBlocks(s, { user: 'anna', bridge: 'other' }).revoked.length, 0);
});

test('removeBridge() refuses a bridge with attached containers, naming them', () => {
  const s = leaseAddress(grantBlock(base, { user: 'anna', bridge: 'br0', count: 1 }).state, {
    bridge: 'br0',
    owner: 'root',
    container: 'web',
  }).state;
  assert.throws(() => removeBridge(s, 'br0'), /containers are attached to it: root\/web/);
  const empty = removeBridge(
    releaseLease(s, { bridge: 'br0', owner: 'root', container: 'web' }).state,
    'br0',
  );
  assert.deepEqual(empty, EMPTY_NET_STATE);
  assert.throws(() => removeBridge(empty, 'br0'), code('ENOENT'));
});

test('parseNetState() round-trips and refuses what does not hold together', () => {
  let s = grantBlock(base, { user: 'anna', bridge: 'br0', count: 2 }).state;
  s = leaseAddress(s, { bridge: 'br0', owner: 'root', container: 'a' }).state;
  assert.deepEqual(parseNetState(formatNetState(s), 'f'), s);
  assert.deepEqual(parseNetState('', 'f'), EMPTY_NET_STATE);
  const j = (o: unknown) => JSON.stringify(o);
  for (const bad of [
    '{',
    j({ version: 2 }),
    j({ version: 1, bridges: {} }),
    j({ version: 1, bridges: [{ name: 'Bad', subnet: '10.1.0.0/24' }] }),
    j({
      version: 1,
      bridges: [
        { name: 'a', subnet: '10.1.0.0/24' },
        { name: 'b', subnet: '10.1.0.0/16' },
      ],
    }),
    j({
      version: 1,
      leases: [{ bridge: 'x', owner: 'o', container: 'c', address: '10.1.0.2', hostVeth: 'v' }],
    }),
    j({
      version: 1,
      bridges: [{ name: 'a', subnet: '10.1.0.0/24' }],
      leases: [{ bridge: 'a', owner: 'o', container: 'c', address: '10.2.0.2', hostVeth: 'v' }],
    }),
    j({
      version: 1,
      bridges: [{ name: 'a', subnet: '10.1.0.0/24' }],
      grants: [{ user: 'u', bridge: 'a', count: 0, first: '10.1.0.9' }],
    }),
    j({
      version: 1,
      bridges: [{ name: 'a', subnet: '10.1.0.0/24' }],
      grants: [{ user: 'u', bridge: 'a', count: 3, first: '10.1.0.253' }],
    }),
  ])
    assert.throws(() => parseNetState(bad, '/var/lib/igloo/net/bridges.json'), code('EPARSE'), bad);
});

test('hostsFileText() lists the container first, then its peers once each', () => {
  const text = hostsFileText({ name: 'a', address: '10.0.0.2' }, [
    { name: 'c', address: '10.0.0.4' },
    { name: 'a', address: '10.0.0.2' },
    { name: 'b', address: '10.0.0.3' },
  ]);
  assert.equal(
    text,
    '# written by igloo for the containers of this bridge\n127.0.0.1\tlocalhost\n10.0.0.2\ta\n10.0.0.3\tb\n10.0.0.4\tc\n',
  );
});

test('interfaceNetwork() masks an interface address of any prefix', () => {
  assert.deepEqual(interfaceNetwork('10.0.2.15/24'), { network: 0x0a000200, prefix: 24 });
  assert.deepEqual(interfaceNetwork('127.0.0.1/8'), { network: 0x7f000000, prefix: 8 });
  assert.deepEqual(interfaceNetwork('192.0.2.7/32'), { network: 0xc0000207, prefix: 32 });
  assert.deepEqual(interfaceNetwork('0.0.0.0/0'), { network: 0, prefix: 0 });
  for (const bad of ['10.0.2.15', '10.0.2.15/33', 'x/24'])
    assert.equal(interfaceNetwork(bad), undefined);
  assert.ok(cidrsOverlap(interfaceNetwork('10.251.1.77/32')!, parseCidr('10.251.1.0/24')));
});
