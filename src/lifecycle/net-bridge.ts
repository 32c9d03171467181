/**
 * Bridge mode (`--net bridge=NAME`, issue 14; docs/network.md, "Bridge"):
 * a veth pair whose container end is eth0 with an address of the bridge's
 * pool and a default route via the bridge, and whose host end is on the
 * bridge. Root's containers are attached by root itself, users' through
 * LXC's lxc-user-nic within the quota root granted (host/net/bridge-attach.ts).
 *
 * Names: the containers of one owner on one bridge reach each other by name
 * through /etc/hosts, which igloo writes in each of them when one joins (the
 * new one gets every peer, each running peer gets the new list). The file is
 * written by a process of the container itself (an exec with its ids, its
 * namespaces and its filter, like `igloo exec`), so no host process ever
 * opens a path in a rootfs the container controls; resolv.conf is written
 * the same way, with the host's nameservers (loopback ones left out: the
 * container cannot reach the host's loopback).
 */
import { readFile } from 'node:fs/promises';
import { IglooError } from '../core/errors.ts';
import { planExec } from '../core/plan/plan.ts';
import { runHelper } from '../native/spawn.ts';
import { containerPaths, iglooDirs } from './paths.ts';
import { liveState, loadRunnable } from './store.ts';

const isRoot = (): boolean => (process.geteuid?.() ?? 0) === 0;

/**
 * The bridge code, loaded only by containers on a bridge: every other start
 * and run (this file is imported by lifecycle/network.ts) pays nothing for it.
 */
async function bridgeCode() {
  const [attach, bridge, nic, core] = await Promise.all([
    import('../host/net/bridge-attach.ts'),
    import('../host/net/bridge.ts'),
    import('../host/net/lxc-user-nic.ts'),
    import('../core/net/bridge.ts'),
  ]);
  return {
    ...attach,
    netPaths: bridge.netPaths,
    usernetPaths: nic.usernetPaths,
    hostsFileText: core.hostsFileText,
  };
}

/** The host's nameservers a container on a bridge can use (not the host's loopback). */
async function hostNameservers(): Promise<string[]> {
  const text = await readFile('/etc/resolv.conf', 'utf8').catch(() => '');
  return [...text.matchAll(/^\s*nameserver\s+(\S+)/gm)]
    .map((m) => m[1]!)
    .filter((a) => !a.startsWith('127.') && a !== '::1');
}

/** Writes FILES in the running container NAME (init PID) by a process of the container. */
async function writeInside(
  name: string,
  pid: number,
  files: readonly { path: string; data: string }[],
): Promise<void> {
  const paths = containerPaths(iglooDirs(), name);
  const config = await loadRunnable(paths, name);
  // sh -c 'printf %s "$1" > /etc/hosts; printf %s "$3" > ...' sh PATH1 DATA1 PATH2 DATA2
  const script = files.map((_, i) => `printf '%s' "$${2 * i + 2}" > "$${2 * i + 1}"`).join(' && ');
  const argv = ['/bin/sh', '-c', script, 'sh', ...files.flatMap((f) => [f.path, f.data])];
  const plan = planExec(config, {
    pid,
    argv,
    env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'],
    cwd: '/',
    user: { uid: 0, gid: 0, groups: [] },
    tty: false,
  });
  const result = await runHelper(plan, `write ${files.map((f) => f.path).join(', ')} in "${name}"`);
  if (result.exitCode !== 0) {
    throw new IglooError(
      'ESYS',
      `Cannot write ${files.map((f) => f.path).join(' and ')} in container "${name}": /bin/sh exited with ${result.exitCode ?? result.status}`,
      {
        op: 'attach',
        subject: name,
        hint: "Bridge mode writes /etc/hosts and /etc/resolv.conf with the container's /bin/sh: check that it has one and that /etc is writable",
      },
    );
  }
}

/**
 * Refuses a bridge that does not exist (create, before anything is made;
 * start refuses it again, since root may remove it in between): root reads
 * its state, a user the bridge root published, with the same error either
 * way.
 */
export async function requireBridge(bridge: string, op: string): Promise<void> {
  const [{ findBridge }, { netPaths, readNetState }, { readPublished, usernetPaths }] =
    await Promise.all([
      import('../core/net/bridge.ts'),
      import('../host/net/bridge.ts'),
      import('../host/net/lxc-user-nic.ts'),
    ]);
  if (isRoot()) findBridge(await readNetState(netPaths().state), bridge, op);
  else await readPublished(usernetPaths(), bridge, op);
}

export async function attachBridge(opts: {
  owner: string;
  container: string;
  bridge: string;
  pid: number;
  rundir: string;
}): Promise<{ address: string; gateway: string; dns: string[] }> {
  const root = isRoot();
  const data = iglooDirs().data;
  const {
    attachRoot,
    attachUser,
    hostsFileText,
    netPaths,
    rootPeers,
    undoUserAttach,
    userPeers,
    usernetPaths,
  } = await bridgeCode();
  const attached = root
    ? await attachRoot(netPaths(), opts)
    : await attachUser(usernetPaths(), {
        user: opts.owner,
        data,
        container: opts.container,
        bridge: opts.bridge,
        pid: opts.pid,
      });
  const dns = await hostNameservers();
  try {
    const peers = root
      ? await rootPeers(netPaths(), { owner: opts.owner, bridge: opts.bridge })
      : await userPeers({ data, bridge: opts.bridge });
    const self = { name: opts.container, address: attached.address };
    await writeInside(opts.container, opts.pid, [
      { path: '/etc/hosts', data: hostsFileText(self, peers) },
      {
        path: '/etc/resolv.conf',
        data: `# written by igloo (bridge ${opts.bridge})\n${dns.map((d) => `nameserver ${d}\n`).join('')}`,
      },
    ]);
    // Each running peer learns the new name; a peer that is stopping is skipped.
    for (const p of peers) {
      if (p.name === opts.container) continue;
      const state = await liveState(containerPaths(iglooDirs(), p.name)).catch(() => undefined);
      if (state?.status !== 'running' || state.pid === undefined) continue;
      await writeInside(p.name, state.pid, [
        { path: '/etc/hosts', data: hostsFileText(p, peers) },
      ]).catch(() => undefined);
    }
  } catch (err) {
    if (!root) await undoUserAttach(opts.pid, opts.container).catch(() => undefined);
    await detachBridge(opts).catch(() => undefined);
    throw err;
  }
  return { address: attached.address, gateway: attached.gateway, dns };
}

export async function detachBridge(opts: {
  owner: string;
  container: string;
  bridge: string;
  rundir: string;
}): Promise<void> {
  const { detachRoot, detachUser, netPaths } = await bridgeCode();
  if (isRoot()) await detachRoot(netPaths(), opts);
  else await detachUser({ data: iglooDirs().data, container: opts.container, bridge: opts.bridge });
}
