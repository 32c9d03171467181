/**
 * The nftables rules of one bridge, rebuilt as a whole from the net state in
 * one `nft -f -` transaction whenever the state changes (create, grant,
 * revoke, reconcile), so the kernel's rules never drift from the state and a
 * reconcile is just applying them again. Between rebuilds, attach and detach
 * add and delete one root port's elements of `ports` and `pairs` over
 * netlink (`igloo-helper netlink`, src/native/netlink.c), with no exec.
 *
 *   table bridge igloo_NAME     anti-spoofing, before the bridge forwards
 *     set ports { root's veth host ends }, set pairs { port . its lease }
 *     from a root port: IPv4 and ARP only with its lease's address, no IPv6
 *     from a user's port (lxc-user-nic names them veth<UID>_xxxx): only the
 *       addresses of that user's block, no IPv6
 *   table ip igloo_NAME         (--nat only) masquerade what leaves the subnet
 *
 * The bridge family sees frames as they enter a port, so a container cannot
 * send from an address that is not its own, nor answer ARP for one.
 */
import type { BridgeDef, BridgeGrant, Lease } from '../../core/net/bridge.ts';
import { blockAddresses } from '../../core/net/bridge.ts';
import { mustRun, runTool } from './bridge-tools.ts';

export const tableName = (bridge: string): string => `igloo_${bridge.replaceAll('-', '_')}`;

/** The ruleset text of one bridge (what `nft -f -` is given after deleting the old tables). */
export function bridgeRuleset(
  def: BridgeDef,
  leases: readonly Lease[],
  grants: readonly (BridgeGrant & { uid: number })[],
): string {
  const t = tableName(def.name);
  const mine = leases.filter((l) => l.bridge === def.name);
  const ports = mine.map((l) => `"${l.hostVeth}"`);
  const pairs = mine.map((l) => `"${l.hostVeth}" . ${l.address}`);
  const lines = [
    `table bridge ${t} {`,
    `  set ports { type ifname; ${ports.length ? `elements = { ${ports.join(', ')} }` : ''} }`,
    `  set pairs { type ifname . ipv4_addr; ${pairs.length ? `elements = { ${pairs.join(', ')} }` : ''} }`,
    `  chain pre {`,
    `    type filter hook prerouting priority -300; policy accept;`,
    `    iifname @ports ether type ip iifname . ip saddr != @pairs counter drop`,
    `    iifname @ports ether type arp iifname . arp saddr ip != @pairs counter drop`,
    `    iifname @ports ether type ip6 counter drop`,
  ];
  for (const g of grants.filter((x) => x.bridge === def.name)) {
    const port = `"veth${g.uid}_*"`;
    const block = `{ ${blockAddresses(g).join(', ')} }`;
    lines.push(
      `    iifname ${port} ether type ip ip saddr != ${block} counter drop`,
      `    iifname ${port} ether type arp arp saddr ip != ${block} counter drop`,
      `    iifname ${port} ether type ip6 counter drop`,
    );
  }
  lines.push('  }', '}');
  if (def.nat) {
    lines.push(
      `table ip ${t} {`,
      `  chain post {`,
      `    type nat hook postrouting priority srcnat; policy accept;`,
      `    ip saddr ${def.subnet} ip daddr != ${def.subnet} masquerade`,
      '  }',
      '}',
    );
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Replaces the bridge's tables with `ruleset` in one transaction: "add
 * table" then "delete table" removes a table whether or not it was there.
 */
export async function applyRuleset(bridge: string, ruleset: string): Promise<void> {
  const t = tableName(bridge);
  const drop = (['bridge', 'ip'] as const).flatMap((f) => [
    `add table ${f} ${t}`,
    `delete table ${f} ${t}`,
  ]);
  await mustRun(['nft', '-f', '-'], `${drop.join('\n')}\n${ruleset}`, {
    op: 'apply the nftables rules of bridge',
    subject: bridge,
    hint: 'Check that nftables is installed (nft --version) and the kernel has nf_tables',
  });
}

/** Removes the bridge's tables (nothing if there are none). */
export async function removeRuleset(bridge: string): Promise<void> {
  await applyRuleset(bridge, '');
}

/** The bridge's tables as nft lists them ('' when there are none): for tests and `igloo net ls --json`. */
export async function listRuleset(bridge: string): Promise<string> {
  const t = tableName(bridge);
  let out = '';
  for (const family of ['bridge', 'ip'] as const) {
    const r = await runTool(['nft', 'list', 'table', family, t]);
    if (r.status === 0) out += r.stdout;
  }
  return out;
}
