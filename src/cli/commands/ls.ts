/** igloo ls [--json]: your containers, their state, init pid and id map. */
import { formatIdmapSpec } from '../../core/idmap/index.ts';
import { Igloo } from '../../lifecycle/igloo.ts';
import type { ls as lsSpec } from '../command-table.ts';
import { paint, printJson, table } from '../output.ts';
import type { Invocation } from '../spec.ts';

export async function ls({ options }: Invocation<typeof lsSpec>): Promise<number> {
  const igloo = new Igloo();
  const owner = await igloo.owner();
  const all = await igloo.list();
  if (options.json) {
    const usage = await igloo.stats(
      all.map((c) => c.name),
      0,
    );
    printJson(
      all.map((c, i) => ({
        name: c.name,
        state: c.state.status,
        pid: c.state.pid ?? null,
        owner: owner.name,
        idmap: c.config?.idmap ?? null,
        lastExit: c.state.lastExit ?? null,
        ...(c.error && { error: c.error }),
        usage: usage[i]?.usage ?? null,
      })),
    );
    return 0;
  }
  const colour = (s: string) => (s === 'running' ? paint('green', s) : s);
  process.stdout.write(
    table(
      ['NAME', 'STATE', 'PID', 'OWNER', 'IDMAP'],
      all.map((c) => [
        c.name,
        colour(c.state.status),
        c.state.pid ? String(c.state.pid) : '-',
        owner.name,
        c.config ? formatIdmapSpec(c.config.idmap) : (c.error ?? '?'),
      ]),
    ),
  );
  return 0;
}
