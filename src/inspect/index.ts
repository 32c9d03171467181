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
import {
  buildSnapshot,
  type BrokenContainer,
  type KnownContainer,
  type PsRow,
  type Snapshot,
} from '../core/snapshot/model.ts';
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
  const snapshot = withHostChildren(
    buildSnapshot({ view, processes, namespaces, containers }),
    containers,
  );
  return broken.length ? { ...snapshot, broken } : snapshot;
}

/**
 * A host process below a container's monitor (the parent of its init) is
 * the container's: the user-mode network's supervisor and slirp4netns
 * (src/native/sidecar.c) run in the host's namespaces as the owner, but
 * live and die with the container. Their rows name it (kind "igloo");
 * the monitor itself stays a host process, as before.
 */
export function withHostChildren(
  snapshot: Snapshot,
  containers: readonly KnownContainer[],
): Snapshot {
  const byPid = new Map(snapshot.processes.map((r) => [r.pid, r]));
  const monitors = new Map<number, KnownContainer>();
  for (const c of containers) {
    const monitor = byPid.get(c.initPid)?.ppid;
    if (monitor !== undefined && byPid.get(monitor)?.container.kind === 'host')
      monitors.set(monitor, c);
  }
  if (monitors.size === 0) return snapshot;
  const ownerOf = (row: PsRow): KnownContainer | undefined => {
    // Up the host parents, a few levels (supervisor, sidecar): never a loop.
    let pid = row.ppid;
    for (let depth = 0; depth < 4 && pid > 1; depth++) {
      const c = monitors.get(pid);
      if (c) return c;
      const parent = byPid.get(pid);
      if (parent?.container.kind !== 'host') return undefined;
      pid = parent.ppid;
    }
    return undefined;
  };
  return {
    ...snapshot,
    processes: snapshot.processes.map((row) => {
      const c = row.container.kind === 'host' ? ownerOf(row) : undefined;
      return c
        ? {
            ...row,
            container: {
              kind: 'igloo',
              name: c.name,
              owner: c.owner.name,
              ownerUid: c.owner.uid,
            },
          }
        : row;
    }),
  };
}
