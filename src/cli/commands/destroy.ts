/** igloo destroy NAME [--force] */
import { Igloo } from '../../lifecycle/igloo.ts';
import type { destroy as destroySpec } from '../command-table.ts';
import type { Invocation } from '../spec.ts';

export async function destroy({
  options,
  args: { NAME: name },
}: Invocation<typeof destroySpec>): Promise<number> {
  await new Igloo().destroy(name, { force: options.force === true });
  process.stdout.write(`Destroyed ${name}\n`);
  return 0;
}
