/** igloo autostart: starts the containers marked igloo.autostart, a line each. */
import { Igloo } from '../../lifecycle/igloo.ts';
import type { autostart as autostartSpec } from '../command-table.ts';
import { printJson } from '../output.ts';
import type { Invocation } from '../spec.ts';

export async function autostart({ options }: Invocation<typeof autostartSpec>): Promise<number> {
  const results = await new Igloo().autostart((r) => {
    if (options.json) return;
    const line =
      r.result === 'failed'
        ? `${r.name}: failed: ${r.error}`
        : `${r.name}: ${r.result === 'started' ? 'started' : 'running already'} (init is pid ${r.pid})`;
    (r.result === 'failed' ? process.stderr : process.stdout).write(`${line}\n`);
  });
  if (options.json) printJson({ results });
  else if (results.length === 0) process.stdout.write('No container is marked igloo.autostart\n');
  return results.some((r) => r.result === 'failed') ? 1 : 0;
}
