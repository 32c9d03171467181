/** igloo stats [NAME...] [--json] [--watch]: live usage from the containers' cgroups. */
import { formatSize } from '../../core/limits/values.ts';
import { Igloo } from '../../lifecycle/igloo.ts';
import type { ContainerStats } from '../../lifecycle/limits.ts';
import type { stats as statsSpec } from '../command-table.ts';
import { printJson, table } from '../output.ts';
import type { Invocation } from '../spec.ts';

const size = (n: number | undefined) => (n === undefined ? '-' : formatSize(n));
const human = (n: number) =>
  n >= 2 ** 30
    ? `${(n / 2 ** 30).toFixed(1)}G`
    : n >= 2 ** 20
      ? `${(n / 2 ** 20).toFixed(1)}M`
      : n >= 1024
        ? `${(n / 1024).toFixed(1)}K`
        : `${n}B`;

function rows(list: readonly ContainerStats[]): string {
  return table(
    ['NAME', 'CPU %', 'MEM', 'LIMIT', 'OOM', 'PIDS', 'THROTTLED', 'IO R/W', 'STATE'],
    list.map((s) => {
      const u = s.usage;
      if (!u) return [s.name, '-', '-', '-', '-', '-', '-', '-', 'no cgroup'];
      return [
        s.name,
        s.cpuPercent === undefined ? '-' : s.cpuPercent.toFixed(1),
        u.memory ? human(u.memory.current) : '-',
        size(u.memory?.limit),
        u.memory ? String(u.memory.oomKills) : '-',
        u.pids ? `${u.pids.current}/${u.pids.limit ?? 'max'}` : '-',
        u.cpu?.throttled === undefined ? '-' : String(u.cpu.throttled),
        u.io ? `${human(u.io.readBytes)}/${human(u.io.writeBytes)}` : '-',
        u.frozen ? 'frozen' : 'running',
      ];
    }),
  );
}

export async function stats({
  options,
  args: { NAME: names },
}: Invocation<typeof statsSpec>): Promise<number> {
  const igloo = new Igloo();
  const pick = async () => {
    if (names.length) return names;
    const all = await igloo.list();
    return all.filter((c) => c.state.status === 'running').map((c) => c.name);
  };
  for (;;) {
    const list = await igloo.stats(await pick(), options.watch ? 1000 : 200);
    if (options.json) printJson(list);
    else {
      if (options.watch && process.stdout.isTTY) process.stdout.write('\x1b[H\x1b[2J');
      process.stdout.write(rows(list));
    }
    if (!options.watch) return 0;
  }
}
