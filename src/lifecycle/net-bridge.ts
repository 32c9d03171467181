/**
 * bridge mode (issue 14): a veth on a host bridge. A stub until the bridge
 * work lands: its body is replaced there, its exported signatures stay.
 */
import { IglooError } from '../core/errors.ts';

function notBuilt(op: string, bridge: string): IglooError {
  return new IglooError('ENOTSUP', 'bridge mode is not built yet', {
    op,
    subject: bridge,
    hint: 'Use --net user (or private) for now',
  });
}

/** Puts the container whose init is PID on BRIDGE; resolves to its address, gateway and DNS. */
export async function attachBridge(opts: {
  owner: string;
  container: string;
  bridge: string;
  pid: number;
  rundir: string;
}): Promise<{ address: string; gateway: string; dns: string[] }> {
  throw notBuilt('attach bridge', opts.bridge);
}

/** Takes the container off BRIDGE: its veth, its lease, its rules (idempotent; nothing to undo in this stub). */
export async function detachBridge(_opts: {
  owner: string;
  container: string;
  bridge: string;
  rundir: string;
}): Promise<void> {}
