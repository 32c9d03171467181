/** igloo limit set USER | ls | rm USER: root's per-user cgroup delegation and ceilings. */
import { describeLimits, parseLimits } from '../../core/limits/values.ts';
import { Igloo } from '../../lifecycle/igloo.ts';
import type {
  limitLs as lsSpec,
  limitRm as rmSpec,
  limitSet as setSpec,
} from '../command-table.ts';
import { printJson, table } from '../output.ts';
import type { Invocation } from '../spec.ts';

export async function limitSet({
  options,
  args: { USER: user },
}: Invocation<typeof setSpec>): Promise<number> {
  const ceiling = parseLimits(
    { memory: options.memory, pids: options.pids, cpus: options.cpus },
    'limit set',
  );
  const d = await new Igloo().limitUser(user, ceiling);
  if (options.json) printJson(d);
  else
    process.stdout.write(
      `Delegated cgroups igloo/user-${d.user} to ${d.user} (uid ${d.uid}); ceiling: ${describeLimits(d.ceiling)}\n`,
    );
  return 0;
}

export async function limitLs({ options }: Invocation<typeof lsSpec>): Promise<number> {
  const list = new Igloo().limitList();
  if (options.json) printJson(list);
  else
    process.stdout.write(
      table(
        ['USER', 'UID', 'CEILING', 'SINCE'],
        list.map((d) => [d.user, String(d.uid), describeLimits(d.ceiling), d.at]),
      ),
    );
  return 0;
}

export async function limitRm({
  args: { USER: user },
}: Invocation<typeof rmSpec>): Promise<number> {
  await new Igloo().limitRemove(user);
  process.stdout.write(`Removed the cgroups delegated to ${user}\n`);
  return 0;
}
