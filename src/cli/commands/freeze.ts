/** igloo freeze NAME / igloo thaw NAME: the cgroup freezer. */
import { Igloo } from '../../lifecycle/igloo.ts';
import type { freeze as freezeSpec, thaw as thawSpec } from '../command-table.ts';
import type { Invocation } from '../spec.ts';

export async function freeze({ args: { NAME: name } }: Invocation<typeof freezeSpec>) {
  await new Igloo().freeze(name);
  process.stdout.write(`${name} is frozen\n`);
  return 0;
}

export async function thaw({ args: { NAME: name } }: Invocation<typeof thawSpec>) {
  await new Igloo().thaw(name);
  process.stdout.write(`${name} is thawed\n`);
  return 0;
}
