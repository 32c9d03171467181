import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bridgeRuleset, tableName } from './nft.ts';

const def = { name: 'igloo-a0', subnet: '10.251.1.0/24', gateway: '10.251.1.1', nat: false };
const lease = {
  bridge: 'igloo-a0',
  owner: 'root',
  container: 'web',
  address: '10.251.1.2',
  hostVeth: 'igv0123abcd',
};

test('tableName() makes an nft identifier of a bridge name', () => {
  assert.equal(tableName('igloo-a0'), 'igloo_igloo_a0');
});

test("bridgeRuleset() keeps root's ports to their leases and users' ports to their blocks", () => {
  const text = bridgeRuleset(
    def,
    [lease, { ...lease, bridge: 'other', hostVeth: 'igvffffffff' }],
    [
      { user: 'anna', bridge: 'igloo-a0', count: 2, first: '10.251.1.253', uid: 1001 },
      { user: 'elsa', bridge: 'other', count: 1, first: '10.9.0.9', uid: 1002 },
    ],
  );
  assert.match(text, /^table bridge igloo_igloo_a0 \{$/m);
  assert.match(text, /set ports \{ type ifname; elements = \{ "igv0123abcd" \} \}/);
  assert.match(
    text,
    /set pairs \{ type ifname \. ipv4_addr; elements = \{ "igv0123abcd" \. 10\.251\.1\.2 \} \}/,
  );
  assert.match(text, /iifname @ports ether type ip iifname \. ip saddr != @pairs counter drop/);
  assert.match(
    text,
    /iifname @ports ether type arp iifname \. arp saddr ip != @pairs counter drop/,
  );
  assert.match(
    text,
    /iifname "veth1001_\*" ether type ip ip saddr != \{ 10\.251\.1\.253, 10\.251\.1\.254 \} counter drop/,
  );
  assert.match(text, /iifname "veth1001_\*" ether type ip6 counter drop/);
  assert.doesNotMatch(text, /igvffffffff|veth1002_/, 'other bridges stay out');
  assert.doesNotMatch(text, /masquerade/, 'no NAT table without --nat');
});

test('bridgeRuleset() masquerades what leaves the subnet with NAT on, and has empty sets with no lease', () => {
  const text = bridgeRuleset({ ...def, nat: true }, [], []);
  assert.match(text, /set ports \{ type ifname;\s*\}/);
  assert.match(text, /^table ip igloo_igloo_a0 \{$/m);
  assert.match(text, /ip saddr 10\.251\.1\.0\/24 ip daddr != 10\.251\.1\.0\/24 masquerade/);
});
