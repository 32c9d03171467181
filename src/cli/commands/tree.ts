/**
 * igloo tree [--json]: the user namespaces this view can see, nested below
 * their parents, each with its creator, its id maps (as numbers and as the
 * owner's slice of /etc/subuid), its pid namespaces, processes and containers.
 *
 * JSON schema (version 1; fields are only ever added, never renamed):
 *
 *   {
 *     "version": 1,
 *     "view": { "userns": number|null, "pidns": number|null, "initial": boolean },
 *     "tree": Node
 *   }
 *   Node = {
 *     "userns": number,               // inode of the user namespace
 *     "parent": number|null,          // null for the view's own namespace (the root)
 *     "parentBasis": "map"|"map+pid-depth"|"view"|"unknown-map"|null,
 *                                     // how the parent was derived (docs/inspect.md)
 *     "depth": number,                // 0 for the view's namespace
 *     "view": boolean,
 *     "creator": { "uid": number|null, "name": string|null,
 *                  "basis": "initial"|"container-owner"|"parent-process"|"unknown" },
 *                                     // NS_GET_OWNER_UID is not reachable from Node: derived
 *     "uidMap": MapLine[]|null,       // inside -> viewer's ids; the view's own: in its parent's ids
 *     "gidMap": MapLine[]|null,       // null: unreadable; []: not written yet
 *     "containers": [{ "kind": "igloo"|"foreign"|"host", "name": string|null, "owner": string|null }],
 *     "pidNamespaces": [{ "pidns": number|null, "pidDepth": number, "processes": number[] }],
 *     "processes": number[],          // host pids (viewer's pid namespace)
 *     "children": Node[]
 *   }
 *   MapLine = { "inside": number, "outside": number, "count": number,
 *               "slice": null | { "owner": string, "blockStart": number, "blockCount": number,
 *                                 "from": number, "to": number,
 *                                 "text": "anna's block 2000000+0..65535" } }
 */
import { treeLines } from '../../core/snapshot/format.ts';
import { inspectSync } from '../../inspect/index.ts';
import type { tree as treeSpec } from '../command-table.ts';
import { paint, printJson } from '../output.ts';
import type { Invocation } from '../spec.ts';
import { tuneForOnePass, warnBroken } from './snapshot-command.ts';

export async function tree({ options: values }: Invocation<typeof treeSpec>): Promise<number> {
  tuneForOnePass();
  // Naming other users' containers needs their private directories: only root can.
  const snapshot = inspectSync({ all: values.all === true && (process.geteuid?.() ?? 0) === 0 });
  warnBroken(snapshot.broken);
  if (values.json) {
    printJson({
      version: snapshot.version,
      view: snapshot.view,
      tree: snapshot.tree,
      ...(snapshot.broken && { broken: snapshot.broken }),
    });
    return 0;
  }
  const commands = new Map(snapshot.processes.map((p) => [p.pid, p.comm]));
  for (const line of treeLines(snapshot.tree, (pid) => commands.get(pid) ?? '')) {
    const text = line.kind === 'head' ? paint('bold', line.text) : paint('dim', line.text);
    process.stdout.write(`${paint('dim', line.prefix)}${text}\n`);
  }
  return 0;
}
