/** igloo set NAME [--memory ...]: change a container's limits, live if it runs. */
import { describeLimits } from '../../core/limits/values.ts';
import { Igloo } from '../../lifecycle/igloo.ts';
import type { set as setSpec } from '../command-table.ts';
import { printJson } from '../output.ts';
import type { Invocation } from '../spec.ts';
import { limitTexts } from './limit-flags.ts';

export async function set({
  options,
  args: { NAME: name },
}: Invocation<typeof setSpec>): Promise<number> {
  const r = await new Igloo().setLimits(name, limitTexts(options));
  if (options.json) printJson({ name, limits: r.limits, live: r.live });
  else
    process.stdout.write(
      `Limits of ${name}: ${describeLimits(r.limits)}${r.live ? ' (applied now)' : ' (from its next start)'}\n`,
    );
  return 0;
}
