/** igloo rename OLD NEW: a container that is not running gets another name. */
import { Igloo } from '../../lifecycle/igloo.ts';
import type { rename as renameSpec } from '../command-table.ts';
import { printResult } from '../output.ts';
import type { Invocation } from '../spec.ts';

export async function rename({
  options,
  args: { OLD: oldName, NEW: newName },
}: Invocation<typeof renameSpec>): Promise<number> {
  const config = await new Igloo().rename(oldName, newName);
  printResult(options.json, config, `Renamed ${oldName} to ${newName}`);
  return 0;
}
