/** igloo info NAME [--json]: a container's config and state. */
import { formatIdmapSpec } from '../../core/idmap/index.ts';
import { formatSize, type Usage } from '../../core/limits/index.ts';
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
  const [usage] = await igloo.stats([name], 0);
  const limits = await igloo.limitsSummary(name);
  if (options.json) {
    printJson({
      name,
      state,
      config,
      paths,
      rootfs: (await igloo.rootfsInfo(name)) ?? null,
      limits,
      cgroup: usage?.cgroup ?? null,
      usage: usage?.usage ?? null,
    });
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
    ['limits', limits],
    ...usageRows(usage?.usage),
  ];
  for (const [k, v] of rows) process.stdout.write(`${k.padEnd(11)} ${v}\n`);
  return 0;
}

/** The usage lines of igloo info (a container with a cgroup). */
function usageRows(u: Usage | undefined): Array<[string, string]> {
  if (!u) return [];
  const rows: Array<[string, string]> = [];
  if (u.memory)
    rows.push([
      'memory',
      `${formatSize(u.memory.current)} of ${u.memory.limit === undefined ? 'no limit' : formatSize(u.memory.limit)}, OOM kills ${u.memory.oomKills}`,
    ]);
  if (u.pids) rows.push(['pids', `${u.pids.current} of ${u.pids.limit ?? 'max'}`]);
  if (u.cpu)
    rows.push([
      'cpu',
      `${(u.cpu.usageNs / 1e9).toFixed(2)} s used, throttled ${u.cpu.throttled ?? 0} times`,
    ]);
  if (u.frozen !== undefined) rows.push(['frozen', u.frozen ? 'yes' : 'no']);
  return rows;
}
