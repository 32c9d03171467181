/**
 * The model behind `igloo ps` and `igloo tree`: raw samples of /proc (what the
 * scanner could read) in, rows and a tree of user namespaces out. Pure: no
 * I/O, so every rule below is unit-tested (model.test.ts).
 *
 * All ids are in the *view*: the user and pid namespaces of the process that
 * read /proc. On the host that is the initial namespaces; inside a container
 * it is the container's own.
 *
 * The parent of each user namespace is derived from the maps and the pid
 * namespace depths (the rules are in parents.ts).
 *
 * The creator of a user namespace (the kernel's owner uid): NS_GET_OWNER_UID
 * is not reachable from Node either (nor is NS_GET_PARENT), so: for the initial namespace 0 ("initial"); for
 * one of igloo's containers its owner ("container-owner"); otherwise the
 * uid of the parent process of the oldest process in the namespace, when
 * that parent lives in the parent namespace, since that is the process that
 * cloned it in the usual case ("parent-process"); otherwise unknown.
 */
import type { PasswdEntry } from '../passwd.ts';
import type { IdMapEntry } from '../idmap/map.ts';
import { tryToInside } from '../idmap/map.ts';
import type { SubidEntry } from '../idmap/subid.ts';
import { deriveParents, outsideRanges, type NsFacts, type ParentBasis } from './parents.ts';

export { deriveParents, type ParentBasis } from './parents.ts';

export const SCHEMA_VERSION = 1;

/** One process as the scanner could read it. */
export interface ProcSample {
  readonly pid: number;
  readonly ppid: number;
  readonly comm: string;
  readonly state: string;
  readonly command: string;
  /** Effective uid and gid, in the view's ids. */
  readonly uid: number;
  readonly gid: number;
  readonly nspid: readonly number[];
  readonly startTime: number | null;
  readonly userns: number | null;
  readonly pidns: number | null;
  /** What could not be read (e.g. "ns/user" when the kernel refused): the row is marked. */
  readonly restricted: readonly string[];
}

/** One user namespace's maps (inside id -> view id) and its own /etc/passwd, when readable. */
export interface UsernsSample {
  readonly userns: number;
  readonly uidMap: readonly IdMapEntry[] | null;
  readonly gidMap: readonly IdMapEntry[] | null;
  readonly passwd: readonly PasswdEntry[] | null;
}

/** One of igloo's containers that is running, as discovery found it. */
export interface KnownContainer {
  readonly name: string;
  readonly owner: { readonly name: string; readonly uid: number };
  readonly initPid: number;
  readonly userns: number | null;
  readonly pidns: number | null;
}

/**
 * A container discovery skipped because its files could not be trusted (a
 * FIFO or link where state.json should be, a state.json naming a process
 * that is not the container's): `igloo ps` and `igloo tree` say so.
 */
export interface BrokenContainer {
  readonly owner: string;
  readonly uid: number;
  /** The container's name; null when the whole containers directory was refused. */
  readonly name: string | null;
  readonly path: string;
  readonly reason: string;
}

/** Who is looking. */
export interface ViewSample {
  readonly userns: number | null;
  readonly pidns: number | null;
  /** The view's own uid_map and gid_map, which the kernel shows in its parent's ids. */
  readonly uidMap: readonly IdMapEntry[] | null;
  readonly gidMap: readonly IdMapEntry[] | null;
  readonly passwd: readonly PasswdEntry[];
  readonly subuid: readonly SubidEntry[];
  readonly subgid: readonly SubidEntry[];
}

export interface SnapshotInput {
  readonly view: ViewSample;
  readonly processes: readonly ProcSample[];
  readonly namespaces: readonly UsernsSample[];
  readonly containers: readonly KnownContainer[];
}

export type ContainerKind = 'igloo' | 'foreign' | 'host';

export interface IdView {
  /** The id in the view's namespace (what `ps` shows). */
  readonly host: number;
  readonly hostName: string | null;
  /** The id inside the process's own user namespace; null when no map translates it. */
  readonly inside: number | null;
  readonly insideName: string | null;
  /** The id at each user-namespace level from the view down to the process's own. */
  readonly chain: ReadonlyArray<{ readonly userns: number; readonly id: number | null }>;
}

export interface PsRow {
  readonly pid: number;
  readonly ppid: number;
  readonly nspid: readonly number[];
  readonly pidInside: number;
  readonly uid: IdView;
  readonly gid: IdView;
  readonly userns: number | null;
  readonly pidns: number | null;
  /** User-namespace nesting depth below the view (0 = the view's own); null when unknown. */
  readonly depth: number | null;
  /** Pid-namespace nesting depth below the view: nspid.length - 1. */
  readonly pidDepth: number;
  readonly container: {
    readonly kind: ContainerKind;
    readonly name: string | null;
    readonly owner: string | null;
    readonly ownerUid: number | null;
  };
  readonly state: string;
  readonly comm: string;
  readonly command: string;
  readonly startTime: number | null;
  readonly restricted: readonly string[];
}

export type CreatorBasis = 'initial' | 'container-owner' | 'parent-process' | 'unknown';

export interface SliceLabel {
  readonly owner: string;
  readonly blockStart: number;
  readonly blockCount: number;
  readonly from: number;
  readonly to: number;
  /** "anna's block 2000000+0..65535" */
  readonly text: string;
}

export interface MapLine extends IdMapEntry {
  readonly slice: SliceLabel | null;
}

export interface TreeNode {
  readonly userns: number;
  readonly parent: number | null;
  readonly parentBasis: ParentBasis | null;
  readonly depth: number;
  readonly view: boolean;
  readonly creator: {
    readonly uid: number | null;
    readonly name: string | null;
    readonly basis: CreatorBasis;
  };
  /** inside -> view ids; for the view itself, its map in its parent's ids (null if unreadable). */
  readonly uidMap: readonly MapLine[] | null;
  readonly gidMap: readonly MapLine[] | null;
  readonly containers: ReadonlyArray<{
    readonly kind: ContainerKind;
    readonly name: string | null;
    readonly owner: string | null;
  }>;
  readonly pidNamespaces: ReadonlyArray<{
    readonly pidns: number | null;
    readonly pidDepth: number;
    readonly processes: readonly number[];
  }>;
  readonly processes: readonly number[];
  readonly children: readonly TreeNode[];
}

export interface Snapshot {
  readonly version: typeof SCHEMA_VERSION;
  readonly view: {
    readonly userns: number | null;
    readonly pidns: number | null;
    readonly initial: boolean;
  };
  readonly processes: readonly PsRow[];
  readonly tree: TreeNode;
  /** Containers whose files discovery refused to trust (absent when none). */
  readonly broken?: readonly BrokenContainer[];
}

/** The initial user namespace's map as the kernel prints it. */
export function isInitialMap(map: readonly IdMapEntry[] | null): boolean {
  return (
    map !== null &&
    map.length === 1 &&
    map[0]!.inside === 0 &&
    map[0]!.outside === 0 &&
    map[0]!.count === 4294967295
  );
}

/** "anna's block 2000000+0..65535" for a map line whose outside ids lie in one subid block. */
export function sliceLabel(
  entry: IdMapEntry,
  blocks: readonly SubidEntry[],
  passwd: readonly PasswdEntry[],
): SliceLabel | null {
  const block = blocks.find(
    (b) => b.start <= entry.outside && entry.outside + entry.count <= b.start + b.count,
  );
  if (!block) return null;
  const owner = /^\d+$/.test(block.owner)
    ? (passwd.find((p) => p.uid === Number(block.owner))?.name ?? block.owner)
    : block.owner;
  const from = entry.outside - block.start;
  const to = from + entry.count - 1;
  return {
    owner,
    blockStart: block.start,
    blockCount: block.count,
    from,
    to,
    text: `${owner}'s block ${block.start}+${from}..${to}`,
  };
}

const oldestOf = (ps: readonly ProcSample[]): ProcSample | undefined =>
  [...ps].sort((a, b) => (a.startTime ?? Infinity) - (b.startTime ?? Infinity) || a.pid - b.pid)[0];

/**
 * The name of a uid in a passwd list (the first entry of a uid wins, as a
 * search would), through an index made once per list.
 */
function namer(): (passwd: readonly PasswdEntry[] | null, uid: number | null) => string | null {
  const indexes = new Map<readonly PasswdEntry[], Map<number, string>>();
  return (passwd, uid) => {
    if (passwd === null || uid === null) return null;
    let index = indexes.get(passwd);
    if (index === undefined) {
      index = new Map();
      for (const p of passwd) if (!index.has(p.uid)) index.set(p.uid, p.name);
      indexes.set(passwd, index);
    }
    return index.get(uid) ?? null;
  };
}

/** Builds the rows and the tree from one scan. */
export function buildSnapshot(input: SnapshotInput): Snapshot {
  const { view } = input;
  const nameOf = namer();
  // A view whose own namespace could not be read still needs a root for the tree.
  const viewNs = view.userns ?? 0;
  const procs = [...input.processes].sort((a, b) => a.pid - b.pid);
  const byPid = new Map(procs.map((p) => [p.pid, p]));
  const nsSample = new Map(input.namespaces.map((n) => [n.userns, n]));

  // Facts per user namespace seen.
  const members = new Map<number, ProcSample[]>();
  members.set(viewNs, []);
  for (const p of procs) {
    if (p.userns === null) continue;
    const list = members.get(p.userns) ?? [];
    list.push(p);
    members.set(p.userns, list);
  }
  const facts: NsFacts[] = [...members.entries()].map(([userns, ps]) => {
    const s = nsSample.get(userns);
    const depths = ps.map((p) => p.nspid.length - 1);
    const oldest = oldestOf(ps);
    return {
      parentProcessNs: oldest ? (byPid.get(oldest.ppid)?.userns ?? null) : null,
      userns,
      uid: userns === viewNs || !s?.uidMap ? null : outsideRanges(s.uidMap),
      gid: userns === viewNs || !s?.gidMap ? null : outsideRanges(s.gidMap),
      minPidDepth: depths.length ? Math.min(...depths) : 0,
      maxPidDepth: depths.length ? Math.max(...depths) : 0,
    };
  });
  const parents = deriveParents(viewNs, facts);
  // Paths and depths are asked for once per process but differ only per namespace.
  const depths = new Map<number, number>();
  const depthOf = (ns: number): number => {
    const known = depths.get(ns);
    if (known !== undefined) return known;
    let d = 0;
    for (let cur = ns; cur !== viewNs && d <= facts.length; d++) {
      cur = parents.get(cur)?.parent ?? viewNs;
    }
    depths.set(ns, d);
    return d;
  };
  const paths = new Map<number, readonly number[]>();
  /** From the view down to `ns`: [child of view, ..., ns]. Shared: do not change it. */
  const pathTo = (ns: number): readonly number[] => {
    const known = paths.get(ns);
    if (known !== undefined) return known;
    const path: number[] = [];
    for (let cur = ns; cur !== viewNs && path.length <= facts.length;) {
      path.unshift(cur);
      cur = parents.get(cur)?.parent ?? viewNs;
    }
    paths.set(ns, path);
    return path;
  };

  // Containers: igloo's by pid namespace, then by user namespace (nested ones below).
  const byPidns = new Map<number, KnownContainer>();
  const byUserns = new Map<number, KnownContainer>();
  for (const c of input.containers) {
    if (c.pidns !== null) byPidns.set(c.pidns, c);
    if (c.userns !== null && c.userns !== viewNs) byUserns.set(c.userns, c);
  }
  const iglooOf = (p: ProcSample): KnownContainer | undefined => {
    if (p.pidns !== null && byPidns.has(p.pidns)) return byPidns.get(p.pidns);
    if (p.userns === null || byUserns.size === 0) return undefined;
    const path = pathTo(p.userns);
    for (let i = path.length - 1; i >= 0; i--) {
      const c = byUserns.get(path[i]!);
      if (c) return c;
    }
    return undefined;
  };

  // Creators.
  const creators = new Map<number, TreeNode['creator']>();
  const creatorOf = (ns: number): TreeNode['creator'] => {
    const known = creators.get(ns);
    if (known) return known;
    let result: TreeNode['creator'];
    const igloo = byUserns.get(ns);
    if (ns === viewNs) {
      result = isInitialMap(view.uidMap)
        ? { uid: 0, name: nameOf(view.passwd, 0), basis: 'initial' }
        : { uid: null, name: null, basis: 'unknown' };
    } else if (igloo) {
      result = { uid: igloo.owner.uid, name: igloo.owner.name, basis: 'container-owner' };
    } else {
      const oldest = oldestOf(members.get(ns) ?? []);
      const parentProc = oldest ? byPid.get(oldest.ppid) : undefined;
      const parentNs = parents.get(ns)?.parent;
      result =
        parentProc && parentProc.userns !== null && parentProc.userns === parentNs
          ? {
              uid: parentProc.uid,
              name: nameOf(view.passwd, parentProc.uid),
              basis: 'parent-process',
            }
          : { uid: null, name: null, basis: 'unknown' };
    }
    creators.set(ns, result);
    return result;
  };

  const idView = (p: ProcSample, kind: 'uid' | 'gid'): IdView => {
    const host = p[kind];
    const chain = p.userns === null ? [] : pathTo(p.userns);
    const steps = chain.map((ns) => {
      const map = nsSample.get(ns)?.[kind === 'uid' ? 'uidMap' : 'gidMap'];
      return { userns: ns, id: map ? (tryToInside(map, host) ?? null) : null };
    });
    const inside =
      p.userns === null ? null : p.userns === viewNs ? host : (steps.at(-1)?.id ?? null);
    const names = kind === 'uid';
    const hostName = names ? nameOf(view.passwd, host) : null;
    const insidePasswd =
      p.userns === viewNs ? view.passwd : (nsSample.get(p.userns ?? -1)?.passwd ?? null);
    return {
      host,
      hostName,
      inside,
      insideName: names ? nameOf(insidePasswd, inside) : null,
      chain: steps,
    };
  };

  const rows: PsRow[] = procs.map((p) => {
    const igloo = iglooOf(p);
    // An unreadable namespace link still leaves NSpid: a deeper pid namespace is not the host.
    const kind: ContainerKind = igloo
      ? 'igloo'
      : p.userns !== null && p.pidns !== null
        ? p.userns === viewNs && p.pidns === view.pidns
          ? 'host'
          : 'foreign'
        : p.nspid.length === 1 && (p.userns === null || p.userns === viewNs)
          ? 'host'
          : 'foreign';
    let owner: string | null = null;
    let ownerUid: number | null = null;
    if (igloo) {
      owner = igloo.owner.name;
      ownerUid = igloo.owner.uid;
    } else if (kind === 'foreign' && p.userns !== null && p.userns !== viewNs) {
      const c = creatorOf(p.userns);
      owner = c.name ?? (c.uid === null ? null : String(c.uid));
      ownerUid = c.uid;
    }
    return {
      pid: p.pid,
      ppid: p.ppid,
      nspid: p.nspid,
      pidInside: p.nspid.at(-1) ?? p.pid,
      uid: idView(p, 'uid'),
      gid: idView(p, 'gid'),
      userns: p.userns,
      pidns: p.pidns,
      depth: p.userns === null ? null : depthOf(p.userns),
      pidDepth: p.nspid.length - 1,
      container: { kind, name: igloo?.name ?? null, owner, ownerUid },
      state: p.state,
      comm: p.comm,
      command: p.command,
      startTime: p.startTime,
      restricted: p.restricted,
    };
  });

  // The tree.
  const rowsByNs = new Map<number, PsRow[]>();
  for (const r of rows) {
    const ns = r.userns ?? viewNs;
    const list = rowsByNs.get(ns) ?? [];
    list.push(r);
    rowsByNs.set(ns, list);
  }
  const childrenOf = new Map<number, number[]>();
  for (const [ns, { parent }] of parents) {
    const list = childrenOf.get(parent) ?? [];
    list.push(ns);
    childrenOf.set(parent, list);
  }
  const mapLines = (
    map: readonly IdMapEntry[] | null | undefined,
    blocks: readonly SubidEntry[],
  ): MapLine[] | null =>
    map ? map.map((e) => ({ ...e, slice: sliceLabel(e, blocks, view.passwd) })) : null;
  const node = (ns: number, depth: number): TreeNode => {
    const isView = ns === viewNs;
    const nsRows = rowsByNs.get(ns) ?? [];
    const pidGroups = new Map<
      string,
      { pidns: number | null; pidDepth: number; processes: number[] }
    >();
    for (const r of nsRows) {
      const key = `${r.pidns ?? '?'}:${r.pidDepth}`;
      const g = pidGroups.get(key) ?? { pidns: r.pidns, pidDepth: r.pidDepth, processes: [] };
      g.processes.push(r.pid);
      pidGroups.set(key, g);
    }
    const containers = new Map<string, TreeNode['containers'][number]>();
    for (const r of nsRows) {
      const key = `${r.container.kind}:${r.container.owner ?? ''}/${r.container.name ?? ''}`;
      if (!containers.has(key)) {
        containers.set(key, {
          kind: r.container.kind,
          name: r.container.name,
          owner: r.container.owner,
        });
      }
    }
    const sample = nsSample.get(ns);
    const parent = parents.get(ns);
    return {
      userns: ns,
      parent: isView ? null : (parent?.parent ?? viewNs),
      parentBasis: isView ? null : (parent?.basis ?? 'view'),
      depth,
      view: isView,
      creator: creatorOf(ns),
      // The view's own map is in its parent's ids: slices are labelled only below the view.
      uidMap: isView ? mapLines(view.uidMap, []) : mapLines(sample?.uidMap, view.subuid),
      gidMap: isView ? mapLines(view.gidMap, []) : mapLines(sample?.gidMap, view.subgid),
      containers: [...containers.values()],
      pidNamespaces: [...pidGroups.values()].sort(
        (a, b) => a.pidDepth - b.pidDepth || (a.pidns ?? 0) - (b.pidns ?? 0),
      ),
      processes: nsRows.map((r) => r.pid),
      children: (childrenOf.get(ns) ?? [])
        .sort((a, b) => a - b)
        .map((child) => node(child, depth + 1)),
    };
  };

  return {
    version: SCHEMA_VERSION,
    view: { userns: view.userns, pidns: view.pidns, initial: isInitialMap(view.uidMap) },
    processes: rows,
    tree: node(viewNs, 0),
  };
}
