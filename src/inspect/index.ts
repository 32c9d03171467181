/**
 * igloo's inspector: one consistent scan of /proc turned into `igloo ps`
 * rows and the `igloo tree` of user namespaces (src/core/snapshot/model.ts
 * holds the rules; docs/inspect.md the output).
 *
 * Everything here is synchronous: the scan is a few thousand small reads of
 * files the kernel generates in memory, for which a promise per read costs
 * several times the read itself (see the `igloo ps` section of
 * docs/benchmarks.md).
 */
import { buildSnapshot, type BrokenContainer, type Snapshot } from '../core/snapshot/model.ts';
import { discoverContainers } from './running.ts';
import { readNamespaces, readView, scanProcesses } from './scan.ts';

export interface InspectOptions {
  /** Match every user's igloo containers, not only the caller's (root). */
  all?: boolean;
  /** The proc mount to read (default /proc). */
  proc?: string;
  /** Ignored: the scan is synchronous now (kept so that callers that set it still compile). */
  concurrency?: number;
}

/** Reads /proc once and returns the rows and the namespace tree (the library API's form). */
export async function inspect(opts: InspectOptions = {}): Promise<Snapshot> {
  return inspectSync(opts);
}

/** inspect() without the promise: the CLI's form. */
export function inspectSync(opts: InspectOptions = {}): Snapshot {
  const view = readView(opts);
  const processes = scanProcesses(opts);
  const broken: BrokenContainer[] = [];
  const containers = discoverContainers(
    opts,
    view.passwd,
    processes,
    {
      userns: view.userns,
      subuid: view.subuid,
      ...(opts.proc !== undefined && { proc: opts.proc }),
    },
    broken,
  );
  const namespaces = readNamespaces(processes, view.userns, opts);
  const snapshot = buildSnapshot({ view, processes, namespaces, containers });
  return broken.length ? { ...snapshot, broken } : snapshot;
}
