/**
 * igloo's inspector: one consistent scan of /proc turned into `igloo ps`
 * rows and the `igloo tree` of user namespaces (src/core/inspect/model.ts
 * holds the rules; docs/inspect.md the output).
 */
import { buildSnapshot, type Snapshot } from '../core/inspect/model.ts';
import { discoverContainers } from './containers.ts';
import { readNamespaces, readView, scanProcesses } from './scan.ts';

export interface InspectOptions {
  /** Match every user's igloo containers, not only the caller's (root). */
  all?: boolean;
  /** The proc mount to read (default /proc). */
  proc?: string;
  /** Parallel reads at most (default 32). */
  concurrency?: number;
}

/** Reads /proc once and returns the rows and the namespace tree. */
export async function inspect(opts: InspectOptions = {}): Promise<Snapshot> {
  const [view, containers, processes] = await Promise.all([
    readView(opts),
    discoverContainers(opts),
    scanProcesses(opts),
  ]);
  const namespaces = await readNamespaces(processes, view.userns, opts);
  return buildSnapshot({ view, processes, namespaces, containers });
}
