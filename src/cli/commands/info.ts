/** igloo info NAME [--json]: a container's config and state. */
import { formatIdmapSpec } from '../../core/idmap/index.ts';
import { Igloo } from '../../lifecycle/igloo.ts';
import { describeRootfs } from '../../lifecycle/idmapped.ts';
import type { info as infoSpec } from '../command-table.ts';
import { printJson } from '../output.ts';
import type { Invocation } from '../spec.ts';

export async function info({
  options,
  args: { NAME: name },
}: Invocation<typeof infoSpec>): Promise<number> {
  const igloo = new Igloo();
  const config = await igloo.config(name);
  const state = await igloo.state(name);
  const paths = igloo.paths(name);
  if (options.json) {
    printJson({ name, state, config, paths, rootfs: (await igloo.rootfsInfo(name)) ?? null });
    return 0;
  }
  const rows: Array<[string, string]> = [
    ['name', name],
    ['state', state.status],
    ['init pid', state.pid ? String(state.pid) : '-'],
    ['started', state.startedAt ?? '-'],
    ['last exit', state.lastExit ?? '-'],
    ['idmap', formatIdmapSpec(config.idmap)],
    ['rootfs', describeRootfs(await igloo.rootfsInfo(name), config.rootfs)],
    ['init', config.init.join(' ')],
    ['hostname', config.hostname],
    ['namespaces', config.namespaces.join(',')],
    ['config', paths.config],
  ];
  for (const [k, v] of rows) process.stdout.write(`${k.padEnd(11)} ${v}\n`);
  return 0;
}
