/**
 * Host bridges for `--net bridge=NAME` (pure: no I/O). A bridge has a name
 * (its host interface), an IPv4 subnet, a gateway (the subnet's first host,
 * the bridge's own address) and NAT on or off. Addresses come from the pool
 * between the gateway and the broadcast address:
 *
 *   10.251.1.0/24   gateway 10.251.1.1   pool 10.251.1.2 .. 10.251.1.254
 *
 * Root's containers take leases from the bottom of the pool, one per
 * owner/container; a user granted N interfaces on a bridge gets a block of N
 * addresses from the top of the pool, from which the user's own igloo picks
 * its containers' addresses. Blocks and leases never overlap, and the
 * subnets of two bridges never do either.
 *
 * State (root's DATA/net/bridges.json) is parsed strictly: it is root's own
 * file, but a hand edit must fail loudly, not half-load.
 */
import { IglooError } from '../errors.ts';

/** An IPv4 address as an unsigned 32-bit number. */
export type Ip4 = number;

export interface Cidr {
  /** The network address (host bits zero). */
  readonly network: Ip4;
  readonly prefix: number;
}

export interface BridgeDef {
  readonly name: string;
  /** "10.251.1.0/24". */
  readonly subnet: string;
  /** The bridge's own address, the containers' default route. */
  readonly gateway: string;
  readonly nat: boolean;
}

/** One address given to one container. */
export interface Lease {
  readonly bridge: string;
  readonly owner: string;
  readonly container: string;
  readonly address: string;
  /** The host end of the veth pair (its name on the host). */
  readonly hostVeth: string;
}

/** A user's delegation on a bridge: N interfaces, and the N addresses they may use. */
export interface BridgeGrant {
  readonly user: string;
  readonly bridge: string;
  readonly count: number;
  /** The first address of the user's block (count addresses). */
  readonly first: string;
}

export interface NetState {
  readonly bridges: readonly BridgeDef[];
  readonly leases: readonly Lease[];
  readonly grants: readonly BridgeGrant[];
}

export const EMPTY_NET_STATE: NetState = { bridges: [], leases: [], grants: [] };

/** Linux's IFNAMSIZ - 1. */
export const IFNAME_MAX = 15;

function invalid(message: string, subject: string, hint: string, op = 'net'): IglooError {
  return new IglooError('EINVAL', message, { op, subject, hint });
}

/**
 * A bridge name is its host interface name: lower-case letters, digits and
 * "-", starting with a letter, at most 15 characters (IFNAMSIZ). No "/",
 * no "..", no "_" (nft table names are made from it, "-" becoming "_").
 */
export function validateBridgeName(name: string, op = 'net'): string {
  if (!/^[a-z][a-z0-9-]*$/.test(name) || name.length > IFNAME_MAX || name.endsWith('-')) {
    throw invalid(
      `Invalid bridge name "${name}": use 1 to ${IFNAME_MAX} lower-case letters, digits and "-", starting with a letter`,
      name,
      'For example: igloo net create igloo0 --subnet 10.251.1.0/24',
      op,
    );
  }
  return name;
}

/** Parses a dotted quad strictly (no leading zeros, no shorthand). */
export function parseIp4(text: string): Ip4 | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    const v = Number(p);
    if (v > 255) return undefined;
    n = n * 256 + v;
  }
  return n;
}

export function formatIp4(ip: Ip4): string {
  return [ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255].join('.');
}

const maskOf = (prefix: number): number => (prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);

/** Host bits must be zero; the prefix between /8 and /30 (a bridge needs room for a gateway and one container). */
export function parseCidr(text: string, op = 'net'): Cidr {
  const hint = 'Give a network as ADDRESS/PREFIX with the host bits zero, e.g. 10.251.1.0/24';
  const m = /^([0-9.]+)\/([0-9]{1,2})$/.exec(text);
  const ip = m ? parseIp4(m[1]!) : undefined;
  if (!m || ip === undefined)
    throw invalid(`Invalid subnet "${text}": not an IPv4 CIDR`, text, hint, op);
  const prefix = Number(m[2]);
  if (prefix < 8 || prefix > 30)
    throw invalid(
      `Invalid subnet "${text}": the prefix must be between /8 and /30`,
      text,
      hint,
      op,
    );
  const network = (ip & maskOf(prefix)) >>> 0;
  if (network !== ip)
    throw invalid(
      `Invalid subnet "${text}": host bits are set (the network is ${formatIp4(network)}/${prefix})`,
      text,
      hint,
      op,
    );
  return { network, prefix };
}

/** The network of an interface address ("10.0.2.15/24" -> 10.0.2.0/24; any prefix), or undefined. */
export function interfaceNetwork(text: string): Cidr | undefined {
  const m = /^([0-9.]+)\/([0-9]{1,2})$/.exec(text);
  const ip = m ? parseIp4(m[1]!) : undefined;
  const prefix = Number(m?.[2]);
  if (ip === undefined || prefix > 32) return undefined;
  return { network: (ip & maskOf(prefix)) >>> 0, prefix };
}

export const formatCidr = (c: Cidr): string => `${formatIp4(c.network)}/${c.prefix}`;

/** The last address of the subnet (its broadcast address). */
export const broadcastOf = (c: Cidr): Ip4 => (c.network | (~maskOf(c.prefix) >>> 0)) >>> 0;

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return a.network <= broadcastOf(b) && b.network <= broadcastOf(a);
}

export function cidrContains(c: Cidr, ip: Ip4): boolean {
  return ip >= c.network && ip <= broadcastOf(c);
}

/** The pool of container addresses: [first, last], gateway excluded. */
export function poolOf(def: BridgeDef): { first: Ip4; last: Ip4 } {
  const c = parseCidr(def.subnet);
  return { first: c.network + 2, last: broadcastOf(c) - 1 };
}

/** A new bridge's definition, with its gateway, checked against the ones there are. */
export function defineBridge(
  input: { name: string; subnet: string; nat: boolean },
  existing: readonly BridgeDef[],
): BridgeDef {
  const name = validateBridgeName(input.name, 'net create');
  const cidr = parseCidr(input.subnet, 'net create');
  if (existing.some((b) => b.name === name)) {
    throw new IglooError('EEXIST', `Cannot create bridge "${name}": it exists already`, {
      op: 'net create',
      subject: name,
      hint: 'See the bridges with: igloo net ls',
    });
  }
  const clash = existing.find((b) => cidrsOverlap(parseCidr(b.subnet), cidr));
  if (clash) throw overlapError(name, cidr, `bridge "${clash.name}" (${clash.subnet})`);
  return { name, subnet: formatCidr(cidr), gateway: formatIp4(cidr.network + 1), nat: input.nat };
}

/** The subnet of a new bridge overlaps something (a bridge, a host address). */
export function overlapError(name: string, cidr: Cidr, what: string): IglooError {
  return new IglooError(
    'EOVERLAP',
    `Cannot create bridge "${name}": subnet ${formatCidr(cidr)} overlaps ${what}`,
    {
      op: 'net create',
      subject: name,
      hint: 'Choose a subnet that no bridge and no host interface uses (igloo net ls, ip addr)',
    },
  );
}

export function findBridge(state: NetState, name: string, op: string): BridgeDef {
  const def = state.bridges.find((b) => b.name === name);
  if (!def) {
    throw new IglooError('ENOENT', `Bridge "${name}" does not exist`, {
      op,
      subject: name,
      hint:
        state.bridges.length > 0
          ? `Known bridges: ${state.bridges.map((b) => b.name).join(', ')}`
          : 'An administrator creates one with: igloo net create NAME --subnet 10.x.y.0/24',
    });
  }
  return def;
}

/** Addresses of a bridge's pool already taken by leases and by user blocks. */
function takenOn(state: NetState, bridge: string): Set<Ip4> {
  const taken = new Set<Ip4>();
  for (const l of state.leases) if (l.bridge === bridge) taken.add(parseIp4(l.address)!);
  for (const g of state.grants) {
    if (g.bridge !== bridge) continue;
    const first = parseIp4(g.first)!;
    for (let i = 0; i < g.count; i++) taken.add(first + i);
  }
  return taken;
}

/**
 * The name of a container's host veth end: "igv" and 8 hex digits of a hash
 * of bridge/owner/container (11 characters, under IFNAMSIZ), so a name says
 * nothing a container chose and two leases get different names (a clash is
 * refused by leaseAddress, never silently shared).
 */
export function hostVethName(bridge: string, owner: string, container: string): string {
  let h = 0x811c9dc5;
  for (const ch of `${bridge}/${owner}/${container}`) {
    h ^= ch.codePointAt(0)!;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return `igv${h.toString(16).padStart(8, '0')}`;
}

/**
 * Gives owner/container an address on the bridge (the same one again if it
 * has a lease), from the bottom of the pool, skipping every lease and every
 * user's block. Returns the new state and the lease.
 */
export function leaseAddress(
  state: NetState,
  req: { bridge: string; owner: string; container: string },
): { state: NetState; lease: Lease } {
  const def = findBridge(state, req.bridge, 'attach');
  const old = state.leases.find(
    (l) => l.bridge === req.bridge && l.owner === req.owner && l.container === req.container,
  );
  if (old) return { state, lease: old };
  const hostVeth = hostVethName(req.bridge, req.owner, req.container);
  const clash = state.leases.find((l) => l.hostVeth === hostVeth);
  if (clash) {
    throw new IglooError(
      'EEXIST',
      `Cannot attach "${req.container}" to bridge "${req.bridge}": its interface name ${hostVeth} is taken by ${clash.owner}/${clash.container}`,
      { op: 'attach', subject: req.container, hint: 'Rename the container' },
    );
  }
  const taken = takenOn(state, req.bridge);
  const { first, last } = poolOf(def);
  for (let ip = first; ip <= last; ip++) {
    if (taken.has(ip)) continue;
    const lease: Lease = { ...req, address: formatIp4(ip), hostVeth };
    return { state: { ...state, leases: [...state.leases, lease] }, lease };
  }
  throw new IglooError(
    'ENOSPACE',
    `Cannot attach "${req.container}" to bridge "${req.bridge}": no free address in ${def.subnet}`,
    {
      op: 'attach',
      subject: req.bridge,
      hint: 'Stop a container on that bridge, or create a bridge with a larger subnet',
    },
  );
}

export function releaseLease(
  state: NetState,
  req: { bridge: string; owner: string; container: string },
): { state: NetState; released: Lease | undefined } {
  const released = state.leases.find(
    (l) => l.bridge === req.bridge && l.owner === req.owner && l.container === req.container,
  );
  if (!released) return { state, released };
  return { state: { ...state, leases: state.leases.filter((l) => l !== released) }, released };
}

/**
 * Reserves (or resizes) a user's block of `count` addresses on a bridge, from
 * the top of the pool: the highest run of free addresses long enough.
 */
export function grantBlock(
  state: NetState,
  req: { user: string; bridge: string; count: number },
): { state: NetState; grant: BridgeGrant } {
  const def = findBridge(state, req.bridge, 'net grant');
  if (!Number.isInteger(req.count) || req.count < 1 || req.count > 4096) {
    throw invalid(
      `Invalid count ${req.count} for ${req.user} on bridge "${req.bridge}": give a whole number from 1 to 4096`,
      String(req.count),
      'For example: igloo net grant anna --bridge igloo0 --count 4',
      'net grant',
    );
  }
  const others = state.grants.filter((g) => !(g.user === req.user && g.bridge === req.bridge));
  const without: NetState = { ...state, grants: others };
  const taken = takenOn(without, req.bridge);
  const { first, last } = poolOf(def);
  let run = 0;
  for (let ip = last; ip >= first; ip--) {
    run = taken.has(ip) ? 0 : run + 1;
    if (run === req.count) {
      const grant: BridgeGrant = { ...req, first: formatIp4(ip) };
      return { state: { ...without, grants: [...others, grant] }, grant };
    }
  }
  throw new IglooError(
    'ENOSPACE',
    `Cannot grant ${req.user} ${req.count} addresses on bridge "${req.bridge}": no run of ${req.count} free addresses in ${def.subnet}`,
    {
      op: 'net grant',
      subject: req.user,
      hint: 'Give a smaller --count, or revoke other grants',
    },
  );
}

export function revokeBlocks(
  state: NetState,
  req: { user: string; bridge?: string },
): { state: NetState; revoked: BridgeGrant[] } {
  const match = (g: BridgeGrant) =>
    g.user === req.user && (req.bridge === undefined || g.bridge === req.bridge);
  const revoked = state.grants.filter(match);
  return { state: { ...state, grants: state.grants.filter((g) => !match(g)) }, revoked };
}

/** The addresses of a grant's block, first to last. */
export function blockAddresses(g: BridgeGrant): string[] {
  const first = parseIp4(g.first)!;
  return Array.from({ length: g.count }, (_, i) => formatIp4(first + i));
}

/** Removes a bridge from the state; refuses while a container holds a lease on it (naming them). */
export function removeBridge(state: NetState, name: string): NetState {
  findBridge(state, name, 'net rm');
  const attached = state.leases.filter((l) => l.bridge === name);
  if (attached.length > 0) {
    throw new IglooError(
      'ESTATE',
      `Cannot remove bridge "${name}": containers are attached to it: ${attached.map((l) => `${l.owner}/${l.container}`).join(', ')}`,
      { op: 'net rm', subject: name, hint: 'Stop those containers first' },
    );
  }
  return {
    bridges: state.bridges.filter((b) => b.name !== name),
    leases: state.leases,
    grants: state.grants.filter((g) => g.bridge !== name),
  };
}

function fail(path: string, why: string): IglooError {
  return new IglooError('EPARSE', `Cannot read ${path}: ${why}`, {
    op: 'read net state',
    path,
    hint: 'Fix or remove the file (igloo net create rebuilds it)',
  });
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function str(o: Record<string, unknown>, key: string, path: string): string {
  const v = o[key];
  if (typeof v !== 'string' || v === '') throw fail(path, `"${key}" must be a non-empty string`);
  return v;
}

/** Parses bridges.json; an empty text is the empty state. */
export function parseNetState(text: string, path: string): NetState {
  if (text.trim() === '') return EMPTY_NET_STATE;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw fail(path, `not JSON (${(err as Error).message})`);
  }
  if (!isObject(raw) || raw.version !== 1) throw fail(path, 'not a version 1 net state');
  const list = (key: string): Record<string, unknown>[] => {
    const v = raw[key] ?? [];
    if (!Array.isArray(v) || !v.every(isObject))
      throw fail(path, `"${key}" must be a list of objects`);
    return v;
  };
  const bridges: BridgeDef[] = [];
  for (const b of list('bridges')) {
    const def = { name: str(b, 'name', path), subnet: str(b, 'subnet', path), nat: b.nat === true };
    try {
      bridges.push(defineBridge(def, bridges));
    } catch (err) {
      throw fail(path, (err as Error).message);
    }
  }
  const leases: Lease[] = list('leases').map((l) => ({
    bridge: str(l, 'bridge', path),
    owner: str(l, 'owner', path),
    container: str(l, 'container', path),
    address: str(l, 'address', path),
    hostVeth: str(l, 'hostVeth', path),
  }));
  const grants: BridgeGrant[] = list('grants').map((g) => {
    const count = g.count;
    if (typeof count !== 'number' || !Number.isInteger(count) || count < 1)
      throw fail(path, '"count" must be a positive whole number');
    return {
      user: str(g, 'user', path),
      bridge: str(g, 'bridge', path),
      count,
      first: str(g, 'first', path),
    };
  });
  for (const x of [...leases, ...grants]) {
    const def = bridges.find((b) => b.name === x.bridge);
    if (!def) throw fail(path, `bridge "${x.bridge}" is used but not defined`);
    const ip = parseIp4('address' in x ? x.address : x.first);
    const { first, last } = poolOf(def);
    const end = ip === undefined ? 0 : ip + ('count' in x ? x.count - 1 : 0);
    if (ip === undefined || ip < first || end > last)
      throw fail(path, `an address of bridge "${def.name}" is outside its pool`);
  }
  return { bridges, leases, grants };
}

export function formatNetState(state: NetState): string {
  return `${JSON.stringify({ version: 1, ...state }, null, 2)}\n`;
}

/** One line of /etc/hosts per container on the bridge, names sorted. */
export function hostsFileText(
  self: { name: string; address: string },
  peers: readonly { name: string; address: string }[],
): string {
  const lines = ['127.0.0.1\tlocalhost', `${self.address}\t${self.name}`];
  const seen = new Set([self.name]);
  for (const p of [...peers].sort((a, b) => a.name.localeCompare(b.name))) {
    if (seen.has(p.name)) continue;
    seen.add(p.name);
    lines.push(`${p.address}\t${p.name}`);
  }
  return `# written by igloo for the containers of this bridge\n${lines.join('\n')}\n`;
}
