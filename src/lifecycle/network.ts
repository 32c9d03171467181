/**
 * A container's network over its life (issue 14; docs/network.md),
 * dispatching on its mode (core/net/spec.ts):
 *
 *   prepareNetwork  before the helper runs: what the launch plan carries
 *                   (user mode: the supervised slirp4netns and resolv.conf)
 *   attachNetwork   after READY, with init's pid (bridge: a veth on the bridge)
 *   detachNetwork   after init is gone (stop, kill, destroy): nothing left behind
 *
 * none and private need nothing here: their namespace is made by the
 * helper (private: the plan's `loopback` step brings lo up; none: no step).
 * A config without igloo.net is private (a container made before it).
 */
import type { ContainerConfig } from '../core/config/model.ts';
import { IglooError } from '../core/errors.ts';
import { parseNetSpec, type NetPaths, type NetSpec } from '../core/net/spec.ts';
import type { NetLaunch } from '../core/plan/plan.ts';
import { attachBridge, detachBridge, requireBridge } from './net-bridge.ts';
import { prepareUserNet, detachUserNet, userNetDefault } from './net-user.ts';

export type { NetPaths } from '../core/net/spec.ts';

/** The network a config asks for (none named: private). */
export const netOf = (config: ContainerConfig): NetSpec => config.net ?? { mode: 'private' };

/** What the launch plan needs for CONFIG's network; nothing for none, private and bridge. */
export async function prepareNetwork(config: ContainerConfig, paths: NetPaths): Promise<NetLaunch> {
  const net = netOf(config);
  if (net.mode === 'user') return prepareUserNet(net, config.ports ?? [], paths);
  return {};
}

/** At create: refuses a network that cannot be had (a bridge that does not exist). */
export async function checkNetwork(net: NetSpec | string, op = 'create'): Promise<void> {
  const spec = typeof net === 'string' ? parseNetSpec(net) : net;
  if (spec.mode === 'bridge') await requireBridge(spec.bridge, op);
}

/** After READY: connects the container whose init is PID (bridge mode). */
export async function attachNetwork(
  config: ContainerConfig,
  pid: number,
  paths: NetPaths,
): Promise<void> {
  const net = netOf(config);
  if (net.mode === 'bridge') await attachBridge({ ...onBridge(net.bridge, paths), pid });
}

const onBridge = (bridge: string, paths: NetPaths) => ({
  owner: paths.owner,
  container: paths.container,
  bridge,
  rundir: paths.rundir,
});

/** After init is gone: removes what the network left (a veth, a lease, a user-mode process). */
export async function detachNetwork(config: ContainerConfig, paths: NetPaths): Promise<void> {
  const net = netOf(config);
  if (net.mode === 'bridge') await detachBridge(onBridge(net.bridge, paths));
  else if (net.mode === 'user') await detachUserNet(paths);
}

/**
 * The network a new container gets when none is asked for: user mode when
 * the host lets the caller run it, else private; `why` says which and why
 * (create reports it).
 */
export async function defaultNet(opts: {
  uid: number;
  oneShot?: boolean;
}): Promise<{ net: NetSpec; why: string }> {
  if (opts.oneShot)
    return { net: { mode: 'private' }, why: 'a one-shot run is private unless --net says more' };
  if (opts.uid === 0)
    return {
      net: { mode: 'private' },
      why: "root's containers are private unless --net says more",
    };
  return userNetDefault();
}

/**
 * CRIU carries a container's network namespace when nothing outside holds
 * a part of it: none and private. user mode's slirp4netns (a host process
 * holding the tap device) and bridge mode's host-side veth are refused.
 */
export function refuseUncheckpointableNet(config: ContainerConfig, op: string): void {
  const net = netOf(config);
  if (net.mode === 'none' || net.mode === 'private') return;
  throw new IglooError(
    'ENOTSUP',
    `Cannot ${op} "${config.name}": CRIU cannot carry its ${net.mode}-mode network (a host process or interface holds part of it)`,
    {
      op,
      subject: config.name,
      hint: 'Only containers with --net none or --net private can be checkpointed (docs/network.md, docs/criu.md)',
    },
  );
}
