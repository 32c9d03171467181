/**
 * Attaching a running container's network namespace to a bridge, and
 * detaching it.
 *
 * Root's containers (root does it all, one exec of the helper, which speaks
 * netlink itself: src/native/netlink.c):
 *   1. lease an address in DATA/net/bridges.json (under its lock);
 *   2. `igloo-helper netlink attach`: the port's elements in the bridge's
 *      nft sets (so the port is filtered from the moment it exists), a veth
 *      pair with one end made directly in the container's netns as eth0 and
 *      the other enslaved to the bridge and up, then, having entered only
 *      the container's netns (no process of the container can see or trace
 *      it): lo up, the lease on eth0, eth0 up, the default route.
 *   Any failure undoes what was done (veth, elements, lease).
 *
 * Users' containers (the user's own igloo, no root):
 *   1. read the bridge as root published it, and the user's block;
 *   2. pick the lowest address of the block that none of the user's live
 *      containers holds (DATA/net/leases.json of the user, under its lock);
 *   3. lxc-user-nic makes the pair within the quota (or refuses);
 *   4. `igloo-helper netlink configure` configures eth0 as for root. It
 *      joins the container's user and network namespaces only, not its pid
 *      namespace, so no process of the container can address it (and it is
 *      not dumpable: the container's root cannot trace it either).
 *   root's rules allow that user's ports (veth<UID>_*) only the addresses of
 *   the user's block.
 *
 * Detach releases the lease and deletes the host end if it is still there
 * (a veth dies with its namespace, so after a stop there is nothing to
 * delete); a lease whose veth is gone is dropped by the next reconcile
 * (root) or the next attach (users), which covers kill -9 of a monitor.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { IglooError } from '../../core/errors.ts';
import {
  blockAddresses,
  findBridge,
  leaseAddress,
  parseCidr,
  releaseLease,
} from '../../core/net/bridge.ts';
import { readTextOrEmpty, replaceFileAtomically, withFileLock } from '../files.ts';
import { applyBridgeRules, withNetState, type NetPaths } from './bridge.ts';
import { hostLinks, ipBatch, netlinkHelper, runTool } from './bridge-tools.ts';
import { tableName } from './nft.ts';
import { readPublished, userNicCreate, type UsernetPaths } from './lxc-user-nic.ts';

export interface Attached {
  readonly address: string;
  readonly gateway: string;
  readonly prefix: number;
  readonly hostVeth: string;
}

async function deleteLink(name: string): Promise<void> {
  const r = await runTool(['ip', 'link', 'del', name]);
  if (r.status !== 0 && !/Cannot find device/.test(r.stderr)) {
    throw new IglooError('ESYS', `Cannot delete interface ${name}: ip said: ${r.stderr.trim()}`, {
      op: 'detach',
      subject: name,
    });
  }
}

/**
 * Root: the lease under the state's lock, then one `igloo-helper netlink
 * attach` (the port's nft elements first, the veth pair, eth0's address,
 * link and route: eth0 carries frames only after the rules name its port);
 * undone on failure.
 */
export async function attachRoot(
  paths: NetPaths,
  req: { owner: string; container: string; bridge: string; pid: number },
): Promise<Attached> {
  const key = { bridge: req.bridge, owner: req.owner, container: req.container };
  const { lease, def } = await withNetState(
    paths.state,
    async (state) => {
      const def = findBridge(state, req.bridge, 'attach');
      const links = await hostLinks();
      if (!links.has(def.name)) {
        throw new IglooError(
          'EHOST',
          `Cannot attach "${req.container}": bridge "${def.name}" is not up`,
          {
            op: 'attach',
            subject: def.name,
            hint: 'Run igloo net ls as root: it makes missing bridges again',
          },
        );
      }
      // A lease of the same container whose veth is gone (killed) is taken again.
      const { state: next, lease } = leaseAddress(state, key);
      if (links.has(lease.hostVeth)) {
        throw new IglooError(
          'EEXIST',
          `Cannot attach "${req.container}" to bridge "${def.name}": it is attached already (${lease.hostVeth})`,
          {
            op: 'attach',
            subject: req.container,
            hint: `Stop it first: igloo stop ${req.container}`,
          },
        );
      }
      return { state: next, result: { lease, def } };
    },
    false,
  );
  const prefix = parseCidr(def.subnet).prefix;
  try {
    await netlinkHelper(
      [
        'attach',
        String(req.pid),
        lease.hostVeth,
        def.name,
        `${lease.address}/${prefix}`,
        def.gateway,
        tableName(def.name),
      ],
      { op: 'attach', subject: req.container },
    );
  } catch (err) {
    // The helper undid its own part; the lease goes too.
    await detachRoot(paths, key).catch(() => undefined);
    throw err;
  }
  return {
    address: lease.address,
    gateway: def.gateway,
    prefix: parseCidr(def.subnet).prefix,
    hostVeth: lease.hostVeth,
  };
}

/** Root: release the lease, delete the host end if it is still there, the port's elements. */
export async function detachRoot(
  paths: NetPaths,
  req: { owner: string; container: string; bridge: string },
): Promise<void> {
  await withNetState(
    paths.state,
    async (state) => {
      const { state: next, released } = releaseLease(state, req);
      if (!released) return { state, result: undefined };
      const def = state.bridges.find((b) => b.name === req.bridge);
      if (!def) await deleteLink(released.hostVeth);
      else {
        // The host end if it is still there, and the port's elements.
        await netlinkHelper(['detach', released.hostVeth, released.address, tableName(def.name)], {
          op: 'detach',
          subject: req.container,
        }).catch(() => applyBridgeRules(next, def));
      }
      return { state: next, result: undefined };
    },
    false,
  );
}

/** The peers of a container on its bridge, for its /etc/hosts: root's leases of this owner. */
export async function rootPeers(
  paths: NetPaths,
  req: { owner: string; bridge: string },
): Promise<{ name: string; address: string }[]> {
  return withNetState(paths.state, async (state) => ({
    state,
    result: state.leases
      .filter((l) => l.bridge === req.bridge && l.owner === req.owner)
      .map((l) => ({ name: l.container, address: l.address })),
  }));
}

/** A user's leases: container -> address and host veth, in the user's DATA/net/leases.json. */
interface UserLease {
  readonly container: string;
  readonly bridge: string;
  readonly address: string;
  readonly hostVeth: string;
}

export const userLeasesPath = (data: string): string => join(data, 'net', 'leases.json');

function parseUserLeases(text: string, path: string): UserLease[] {
  if (text.trim() === '') return [];
  try {
    const raw = JSON.parse(text) as { leases?: UserLease[] };
    if (!Array.isArray(raw.leases)) throw new Error('no "leases" list');
    return raw.leases.filter(
      (l) =>
        typeof l.container === 'string' &&
        typeof l.bridge === 'string' &&
        typeof l.address === 'string' &&
        typeof l.hostVeth === 'string',
    );
  } catch (err) {
    throw new IglooError('EPARSE', `Cannot read ${path}: ${(err as Error).message}`, {
      op: 'attach',
      path,
      hint: 'Remove the file: igloo rebuilds it from the running containers',
    });
  }
}

async function withUserLeases<T>(
  path: string,
  fn: (leases: UserLease[], links: Set<string>) => Promise<{ leases: UserLease[]; result: T }>,
): Promise<T> {
  await mkdir(join(path, '..'), { recursive: true, mode: 0o700 });
  return withFileLock(path, async () => {
    const links = await hostLinks();
    // Leases whose veth died with their container are free again.
    const live = parseUserLeases(await readTextOrEmpty(path), path).filter(
      (l) => l.hostVeth !== '' && links.has(l.hostVeth),
    );
    const { leases, result } = await fn(live, links);
    await replaceFileAtomically(path, `${JSON.stringify({ leases }, null, 2)}\n`, {
      mode: 0o600,
    });
    return result;
  });
}

/** A user: block address, lxc-user-nic, inside config; undone on failure. */
export async function attachUser(
  usernet: UsernetPaths,
  req: { user: string; data: string; container: string; bridge: string; pid: number },
): Promise<Attached> {
  const published = await readPublished(usernet, req.bridge);
  const def = published.bridge;
  const grant = published.grants.find((g) => g.user === req.user);
  if (!grant) {
    throw new IglooError(
      'EPERM',
      `Cannot attach "${req.container}" to bridge "${req.bridge}": ${req.user} has no grant on it`,
      {
        op: 'attach',
        subject: req.bridge,
        hint: `Ask the administrator: sudo igloo net grant ${req.user} --bridge ${req.bridge} --count N`,
      },
    );
  }
  return withUserLeases(userLeasesPath(req.data), async (leases) => {
    const others = leases.filter(
      (l) => !(l.container === req.container && l.bridge === req.bridge),
    );
    const used = new Set(others.filter((l) => l.bridge === req.bridge).map((l) => l.address));
    const address = blockAddresses(grant).find((a) => !used.has(a));
    if (!address) {
      throw new IglooError(
        'ENOSPACE',
        `Cannot attach "${req.container}" to bridge "${req.bridge}": ${req.user} has as many interfaces on it as /etc/lxc/lxc-usernet allows (${grant.count})`,
        {
          op: 'attach',
          subject: req.container,
          hint: `Stop another of your containers on "${req.bridge}", or ask the administrator for more: sudo igloo net grant ${req.user} --bridge ${req.bridge} --count N`,
        },
      );
    }
    const { hostVeth } = await userNicCreate({
      user: req.user,
      container: req.container,
      pid: req.pid,
      bridge: req.bridge,
      lxcpath: join(req.data, 'containers'),
    });
    // eth0's address and route; on failure the helper deletes eth0, which
    // deletes the pair: nothing left, the quota given back.
    await netlinkHelper(
      ['configure', String(req.pid), `${address}/${parseCidr(def.subnet).prefix}`, def.gateway],
      { op: 'attach', subject: req.container },
    );
    const lease = { container: req.container, bridge: req.bridge, address, hostVeth };
    return {
      leases: [...others, lease],
      result: { address, gateway: def.gateway, prefix: parseCidr(def.subnet).prefix, hostVeth },
    };
  });
}

/** A user: forget the lease (the veth dies with the container's namespace). */
export async function detachUser(req: {
  data: string;
  container: string;
  bridge: string;
}): Promise<void> {
  await withUserLeases(userLeasesPath(req.data), async (leases) => ({
    leases: leases.filter((l) => !(l.container === req.container && l.bridge === req.bridge)),
    result: undefined,
  }));
}

/** A user's containers on a bridge, for /etc/hosts. */
export async function userPeers(req: {
  data: string;
  bridge: string;
}): Promise<{ name: string; address: string }[]> {
  return withUserLeases(userLeasesPath(req.data), async (leases) => ({
    leases,
    result: leases
      .filter((l) => l.bridge === req.bridge)
      .map((l) => ({ name: l.container, address: l.address })),
  }));
}

/** A user: take eth0 out of the container again (deleting it deletes the pair, giving the quota back). */
export async function undoUserAttach(pid: number, container: string): Promise<void> {
  await ipBatch(
    ['link del eth0'],
    { op: 'undo attach', subject: container },
    {
      pid,
      userns: true,
    },
  );
}
