/** igloo net create | ls | rm | grant | revoke: host bridges for --net bridge=NAME. */
import { IglooError } from '../../core/errors.ts';
import { blockAddresses } from '../../core/net/bridge.ts';
import {
  createBridge,
  deleteBridge,
  grantBridge,
  listBridges,
  netPaths,
  revokeBridge,
} from '../../host/net/bridge.ts';
import type {
  netCreate as C,
  netGrant as G,
  netLs as L,
  netRevoke as V,
  netRm as R,
} from '../command-table.ts';
import { paint, printJson, table } from '../output.ts';
import type { Invocation } from '../spec.ts';

function required<T>(value: T | undefined, option: string, op: string, example: string): T {
  if (value === undefined) {
    throw new IglooError('EINVAL', `${op}: --${option} is required`, {
      op,
      subject: option,
      hint: `For example: ${example}`,
    });
  }
  return value;
}

export async function netCreate({
  options,
  args: { NAME },
}: Invocation<typeof C>): Promise<number> {
  if (options.nat && options['no-nat']) {
    throw new IglooError('EINVAL', 'net create: give --nat or --no-nat, not both', {
      op: 'net create',
      subject: NAME,
    });
  }
  const subnet = required(
    options.subnet,
    'subnet',
    'net create',
    'igloo net create igloo0 --subnet 10.251.1.0/24',
  );
  const created = await createBridge(netPaths(), {
    name: NAME,
    subnet,
    nat: options['no-nat'] !== true,
  });
  if (options.json) printJson(created);
  else {
    const b = created.bridge;
    process.stdout.write(
      `Created bridge ${b.name}: ${b.subnet}, gateway ${b.gateway}, NAT ${b.nat ? 'on' : 'off'}\n`,
    );
    if (created.forwardingEnabled)
      process.stdout.write('Switched on IPv4 forwarding (net.ipv4.ip_forward=1) for NAT\n');
  }
  return 0;
}

export async function netRm({ options, args: { NAME } }: Invocation<typeof R>): Promise<number> {
  await deleteBridge(netPaths(), NAME);
  if (options.json) printJson({ removed: NAME });
  else process.stdout.write(`Removed bridge ${NAME}\n`);
  return 0;
}

export async function netLs({ options }: Invocation<typeof L>): Promise<number> {
  const reports = await listBridges(netPaths());
  if (options.json) {
    printJson(reports);
    return 0;
  }
  const rows: string[][] = [];
  for (const r of reports) {
    const b = r.bridge;
    rows.push([
      b.name,
      b.subnet,
      b.gateway,
      b.nat ? 'on' : 'off',
      r.up ? 'up' : paint('red', 'missing'),
      '',
      '',
    ]);
    for (const l of r.leases)
      rows.push(['', '', '', '', '', `${l.owner}/${l.container}`, `${l.address} (${l.hostVeth})`]);
    for (const g of r.grants) {
      const block = blockAddresses(g);
      rows.push([
        '',
        '',
        '',
        '',
        '',
        `grant ${g.user} x${g.count}`,
        `${block[0]}-${block[block.length - 1]}`,
      ]);
    }
  }
  process.stdout.write(
    table(['BRIDGE', 'SUBNET', 'GATEWAY', 'NAT', 'STATE', 'CONTAINER/GRANT', 'ADDRESS'], rows),
  );
  return 0;
}

export async function netGrant({ options, args: { USER } }: Invocation<typeof G>): Promise<number> {
  const example = `igloo net grant ${USER} --bridge igloo0 --count 4`;
  const g = await grantBridge(netPaths(), {
    user: USER,
    bridge: required(options.bridge, 'bridge', 'net grant', example),
    count: required(options.count, 'count', 'net grant', example),
  });
  if (options.json) printJson(g);
  else {
    const block = blockAddresses(g);
    process.stdout.write(
      `Granted ${g.user} ${g.count} interface${g.count === 1 ? '' : 's'} on ${g.bridge} (addresses ${block[0]}-${block[block.length - 1]})\n`,
    );
  }
  return 0;
}

export async function netRevoke({
  options,
  args: { USER },
}: Invocation<typeof V>): Promise<number> {
  const revoked = await revokeBridge(netPaths(), {
    user: USER,
    ...(options.bridge !== undefined && { bridge: options.bridge }),
  });
  if (options.json) printJson(revoked);
  else
    process.stdout.write(
      `Revoked ${USER}'s grants${revoked.length ? ` on ${revoked.map((g) => g.bridge).join(', ')}` : ''}\n`,
    );
  return 0;
}
