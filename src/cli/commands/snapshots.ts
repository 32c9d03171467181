/** igloo snapshot create | ls | restore | rm (not snapshot-command.ts: that is the ps/tree scan). */
import { Igloo } from '../../lifecycle/igloo.ts';
import type { snapshotCreate, snapshotLs, snapshotRestore, snapshotRm } from '../command-table.ts';
import { printJson, table } from '../output.ts';
import type { Invocation } from '../spec.ts';

export async function createSnapshot({
  options,
  args: { NAME: name, SNAP: snap },
}: Invocation<typeof snapshotCreate>): Promise<number> {
  const made = await new Igloo().snapshot(name, snap);
  if (options.json) printJson(made);
  else process.stdout.write(`Snapshot ${made.name} of ${name} made\n`);
  return 0;
}

export async function listSnapshots({
  options,
  args: { NAME: name },
}: Invocation<typeof snapshotLs>): Promise<number> {
  const snaps = await new Igloo().snapshots(name);
  if (options.json) printJson(snaps);
  else
    process.stdout.write(
      table(
        ['SNAPSHOT', 'CREATED', 'HOLDS'],
        snaps.map((s) => [s.name, s.created, s.tree]),
      ),
    );
  return 0;
}

export async function restoreSnapshot({
  args: { NAME: name, SNAP: snap },
}: Invocation<typeof snapshotRestore>): Promise<number> {
  await new Igloo().restoreSnapshot(name, snap);
  process.stdout.write(`Restored ${name} from snapshot ${snap}\n`);
  return 0;
}

export async function removeSnapshot({
  args: { NAME: name, SNAP: snap },
}: Invocation<typeof snapshotRm>): Promise<number> {
  await new Igloo().removeSnapshot(name, snap);
  process.stdout.write(`Removed snapshot ${snap} of ${name}\n`);
  return 0;
}
