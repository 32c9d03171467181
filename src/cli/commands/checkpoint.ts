/** igloo checkpoint | restore: CRIU (root only). */
import { checkpoint as dump, restore as undump } from '../../lifecycle/checkpoint.ts';
import { Igloo } from '../../lifecycle/igloo.ts';
import type { checkpoint as checkpointSpec, restore as restoreSpec } from '../command-table.ts';
import { printResult } from '../output.ts';
import type { Invocation } from '../spec.ts';

export async function checkpoint({
  options,
  args: { NAME: name },
}: Invocation<typeof checkpointSpec>): Promise<number> {
  const r = await dump(new Igloo(), name, {
    ...(options.dir !== undefined && { dir: options.dir }),
    leaveRunning: options['leave-running'] === true,
  });
  printResult(
    options.json,
    r,
    `Checkpointed ${name} into ${r.dir} (${r.seconds.toFixed(2)} s, ${(r.bytes / 1e6).toFixed(1)} MB)${options['leave-running'] ? '; it is still running' : '; it is stopped'}`,
  );
  return 0;
}

export async function restore({
  options,
  args: { NAME: name },
}: Invocation<typeof restoreSpec>): Promise<number> {
  const r = await undump(new Igloo(), name, {
    ...(options.dir !== undefined && { dir: options.dir }),
  });
  printResult(
    options.json,
    r,
    `Restored ${name} (init is pid ${r.pid} on the host, ${r.seconds.toFixed(2)} s)`,
  );
  return 0;
}
