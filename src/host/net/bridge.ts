/**
 * Root's bridges: `igloo net create/ls/rm/grant/revoke`. The state (bridges,
 * leases, users' blocks) is root's DATA/net/bridges.json, written atomically
 * under its lock (files.ts); the kernel objects (the bridge, its address,
 * its nft tables) are made from it and made again from it when missing (a
 * reboot) by `reconcile`, which also drops the leases whose veth is gone (a
 * container that died without a detach: kill -9 of its monitor).
 *
 * Users learn what they need (the bridge's subnet and gateway, their own
 * block of addresses) from a world-readable view of the state, one file per
 * bridge beside /etc/lxc/lxc-usernet (lxc-user-nic.ts), since root's DATA is
 * 0700.
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { IglooError } from '../../core/errors.ts';
import {
  defineBridge,
  findBridge,
  formatNetState,
  grantBlock,
  overlapError,
  cidrsOverlap,
  interfaceNetwork,
  parseCidr,
  parseNetState,
  removeBridge,
  revokeBlocks,
  type BridgeDef,
  type BridgeGrant,
  type Lease,
  type NetState,
} from '../../core/net/bridge.ts';
import { iglooDirsFor, type LayoutEnv } from '../../core/layout.ts';
import { readTextOrEmpty, replaceFileAtomically, withFileLock } from '../files.ts';
import { lookupHostUser } from '../users.ts';
import { hostLinks, hostNetworks, ipBatch, runTool } from './bridge-tools.ts';
import {
  publishBridge,
  readPublished,
  unpublishBridge,
  usernetGrant,
  usernetPaths,
  usernetRevoke,
  type UsernetPaths,
} from './lxc-user-nic.ts';
import { applyRuleset, bridgeRuleset, removeRuleset } from './nft.ts';

export interface NetPaths {
  /** Root's DATA/net/bridges.json. */
  readonly state: string;
  readonly usernet: UsernetPaths;
}

export const netStatePath = (data: string): string => join(data, 'net', 'bridges.json');

export function requireRootFor(op: string, subject: string): void {
  if ((process.geteuid?.() ?? 0) !== 0) {
    throw new IglooError('EPERM', `Cannot ${op} ${subject}: only root manages bridges`, {
      op,
      subject,
      hint: `Ask the administrator to run: sudo igloo ${op} ...`,
    });
  }
}

export async function readNetState(path: string): Promise<NetState> {
  return parseNetState(await readTextOrEmpty(path), path);
}

/** Runs fn on the state under its lock; writes what fn returns as the new state. */
export async function withNetState<T>(
  path: string,
  fn: (state: NetState) => Promise<{ state: NetState; result: T }>,
  /** false for leases: without fsync (a lease lost in a crash is one whose veth died with it). */
  durable = true,
): Promise<T> {
  await mkdir(join(path, '..'), { recursive: true, mode: 0o700 });
  return withFileLock(path, async () => {
    const before = await readNetState(path);
    const { state, result } = await fn(before);
    if (state !== before)
      await replaceFileAtomically(path, formatNetState(state), { mode: 0o600, durable });
    return result;
  });
}

/** The grants of a bridge with each user's uid (the nft rules name ports by uid). */
async function grantsWithUids(
  state: NetState,
  bridge: string,
): Promise<(BridgeGrant & { uid: number })[]> {
  const out: (BridgeGrant & { uid: number })[] = [];
  for (const g of state.grants.filter((x) => x.bridge === bridge)) {
    const user = await lookupHostUser(g.user).catch(() => undefined);
    if (user) out.push({ ...g, uid: user.uid });
  }
  return out;
}

/** Makes the kernel's rules of a bridge match the state. */
export async function applyBridgeRules(state: NetState, def: BridgeDef): Promise<void> {
  await applyRuleset(
    def.name,
    bridgeRuleset(def, state.leases, await grantsWithUids(state, def.name)),
  );
}

/** The kernel's rules and the users' view of a bridge, from the state. */
async function syncBridge(paths: NetPaths, state: NetState, def: BridgeDef): Promise<void> {
  await applyBridgeRules(state, def);
  await publishBridge(
    paths.usernet,
    def,
    state.grants.filter((g) => g.bridge === def.name),
  );
}

/** The bridge interface with its gateway address, up (made when missing). */
async function ensureBridgeLink(def: BridgeDef, links: Set<string>): Promise<boolean> {
  if (links.has(def.name)) return false;
  const prefix = parseCidr(def.subnet).prefix;
  await ipBatch(
    [
      `link add ${def.name} type bridge`,
      `addr add ${def.gateway}/${prefix} dev ${def.name}`,
      `link set ${def.name} up`,
    ],
    { op: 'create bridge', subject: def.name },
  );
  return true;
}

async function enableForwarding(): Promise<void> {
  await writeFile('/proc/sys/net/ipv4/ip_forward', '1\n');
}

export async function forwardingEnabled(): Promise<boolean> {
  return (await readFile('/proc/sys/net/ipv4/ip_forward', 'utf8')).trim() === '1';
}

export interface CreatedBridge {
  readonly bridge: BridgeDef;
  /** True when create switched on the host's IPv4 forwarding (for NAT). */
  readonly forwardingEnabled: boolean;
}

/** igloo net create: the state entry, the bridge, its address and its rules; all or nothing. */
export async function createBridge(
  paths: NetPaths,
  input: { name: string; subnet: string; nat: boolean },
): Promise<CreatedBridge> {
  requireRootFor('net create', input.name);
  return withNetState(paths.state, async (state) => {
    const def = defineBridge(input, state.bridges);
    const cidr = parseCidr(def.subnet);
    const links = await hostLinks();
    if (links.has(def.name)) {
      throw new IglooError(
        'EEXIST',
        `Cannot create bridge "${def.name}": the host has an interface of that name`,
        { op: 'net create', subject: def.name, hint: 'Choose another name (ip link shows them)' },
      );
    }
    for (const n of await hostNetworks()) {
      const net = interfaceNetwork(n.cidr);
      if (net && cidrsOverlap(net, cidr))
        throw overlapError(def.name, cidr, `${n.cidr} on host interface ${n.ifname}`);
    }
    const next: NetState = { ...state, bridges: [...state.bridges, def] };
    await ensureBridgeLink(def, links);
    let forwarding = false;
    try {
      await syncBridge(paths, next, def);
      if (def.nat && !(await forwardingEnabled())) {
        await enableForwarding();
        forwarding = true;
      }
    } catch (err) {
      await removeRuleset(def.name).catch(() => undefined);
      await ipBatch([`link del ${def.name}`], { op: 'remove bridge', subject: def.name }).catch(
        () => undefined,
      );
      await unpublishBridge(paths.usernet, def.name).catch(() => undefined);
      throw err;
    }
    return { state: next, result: { bridge: def, forwardingEnabled: forwarding } };
  });
}

/** igloo net rm: refused while a container holds a lease (reconciled first, so dead ones do not count). */
export async function deleteBridge(paths: NetPaths, name: string): Promise<void> {
  requireRootFor('net rm', name);
  await reconcile(paths);
  await withNetState(paths.state, async (state) => {
    const next = removeBridge(state, name);
    for (const g of state.grants.filter((x) => x.bridge === name))
      await usernetRevoke(paths.usernet, { user: g.user, bridge: name });
    await removeRuleset(name);
    const r = await runTool(['ip', 'link', 'del', name]);
    if (r.status !== 0 && !/Cannot find device/.test(r.stderr)) {
      throw new IglooError('ESYS', `Cannot remove bridge "${name}": ip said: ${r.stderr.trim()}`, {
        op: 'net rm',
        subject: name,
      });
    }
    await unpublishBridge(paths.usernet, name);
    return { state: next, result: undefined };
  });
}

export interface BridgeReport {
  readonly bridge: BridgeDef;
  readonly up: boolean;
  readonly leases: readonly Lease[];
  readonly grants: readonly BridgeGrant[];
}

/**
 * Makes the host match the state: recreates a missing bridge (after a
 * reboot), drops leases whose veth is gone (a container that died without
 * detaching), and applies each bridge's rules again.
 */
export async function reconcile(paths: NetPaths): Promise<NetState> {
  return withNetState(paths.state, async (state) => {
    const links = await hostLinks();
    const leases = state.leases.filter((l) => links.has(l.hostVeth));
    const next = leases.length === state.leases.length ? state : { ...state, leases };
    for (const def of next.bridges) {
      await ensureBridgeLink(def, links);
      await syncBridge(paths, next, def);
    }
    return { state: next, result: next };
  });
}

/**
 * igloo net ls: bridges with their leases and grants. Root's view is
 * reconciled first; a user sees the published bridges (no leases: those of
 * root's containers are root's business).
 */
export async function listBridges(paths: NetPaths): Promise<BridgeReport[]> {
  const links = await hostLinks();
  if ((process.geteuid?.() ?? 0) !== 0) {
    const names = (await readdir(paths.usernet.publicDir).catch(() => [] as string[]))
      .filter((f) => f.endsWith('.json'))
      .map((f) => f.slice(0, -5));
    const published = await Promise.all(names.map((n) => readPublished(paths.usernet, n)));
    return published.map((p) => ({
      bridge: p.bridge,
      up: links.has(p.bridge.name),
      leases: [],
      grants: p.grants,
    }));
  }
  const state = await reconcile(paths);
  return state.bridges.map((bridge) => ({
    bridge,
    up: links.has(bridge.name),
    leases: state.leases.filter((l) => l.bridge === bridge.name),
    grants: state.grants.filter((g) => g.bridge === bridge.name),
  }));
}

/** igloo net grant USER --bridge NAME --count N: a block of addresses, the lxc-usernet line, the rules. */
export async function grantBridge(
  paths: NetPaths,
  req: { user: string; bridge: string; count: number },
): Promise<BridgeGrant> {
  requireRootFor('net grant', req.user);
  const user = await lookupHostUser(req.user);
  return withNetState(paths.state, async (state) => {
    const def = findBridge(state, req.bridge, 'net grant');
    const { state: next, grant } = grantBlock(state, { ...req, user: user.name });
    const before = await usernetGrant(paths.usernet, { ...req, user: user.name });
    try {
      await syncBridge(paths, next, def);
    } catch (err) {
      await before.restore();
      throw err;
    }
    return { state: next, result: grant };
  });
}

/** igloo net revoke USER [--bridge NAME]. */
export async function revokeBridge(
  paths: NetPaths,
  req: { user: string; bridge?: string },
): Promise<BridgeGrant[]> {
  requireRootFor('net revoke', req.user);
  const user = await lookupHostUser(req.user);
  return withNetState(paths.state, async (state) => {
    if (req.bridge !== undefined) findBridge(state, req.bridge, 'net revoke');
    const { state: next, revoked } = revokeBlocks(state, { ...req, user: user.name });
    const removed = await usernetRevoke(paths.usernet, { ...req, user: user.name });
    if (revoked.length === 0 && removed === 0) {
      throw new IglooError(
        'ENOENT',
        `Cannot revoke bridges of "${user.name}": ${user.name} has no grant${req.bridge ? ` on "${req.bridge}"` : ''}`,
        { op: 'net revoke', subject: user.name, hint: 'See the grants with: igloo net ls' },
      );
    }
    for (const def of next.bridges) {
      if (!revoked.some((g) => g.bridge === def.name)) continue;
      await syncBridge(paths, next, def);
    }
    return { state: next, result: revoked };
  });
}

/** Root's paths for this process (IGLOO_DATA_DIR and IGLOO_LXC_USERNET move them). */
export function netPaths(env: LayoutEnv = process.env): NetPaths {
  return {
    state: netStatePath(iglooDirsFor(env, process.geteuid?.() ?? 0).data),
    usernet: usernetPaths(env as { IGLOO_LXC_USERNET?: string }),
  };
}
