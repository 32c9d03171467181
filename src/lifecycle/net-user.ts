/**
 * user mode (docs/network.md): slirp4netns run by the owner, supervised by
 * the helper's monitor. Not built yet in this commit.
 */
import { IglooError } from '../core/errors.ts';
import type { NetPaths, NetSpec, PortForward } from '../core/net/spec.ts';
import type { NetLaunch } from '../core/plan/plan.ts';

export async function prepareUserNet(
  _net: Extract<NetSpec, { mode: 'user' }>,
  _ports: readonly PortForward[],
  paths: NetPaths,
): Promise<NetLaunch> {
  throw new IglooError('ENOTSUP', 'user mode is not built yet', {
    op: 'attach user network',
    subject: paths.container,
    hint: 'Use --net private for now',
  });
}

export async function detachUserNet(_paths: NetPaths): Promise<void> {}

export async function userNetDefault(): Promise<{ net: NetSpec; why: string }> {
  return { net: { mode: 'private' }, why: 'user mode is not built yet' };
}
