/**
 * igloo ps [NAME...] [--all] [--json]: a row per process visible in /proc,
 * with its namespaces and ids seen from outside and from inside. A user
 * other than root sees their own processes and containers (ownRows), and
 * every process with --all; root sees every process.
 *
 * JSON schema (version 1; fields are only ever added, never renamed):
 *
 *   {
 *     "version": 1,
 *     "view": { "userns": number|null, "pidns": number|null, "initial": boolean },
 *     "processes": [{
 *       "pid": number,            // in the viewer's pid namespace (the host's on the host)
 *       "ppid": number,           // 0 when the parent is outside the view
 *       "nspid": number[],        // NSpid: the viewer's pid first, the process's own pid last
 *       "pidInside": number,      // nspid's last element
 *       "pidDepth": number,       // nspid.length - 1
 *       "uid": { "host": number,  // effective uid in the viewer's ids (what ps shows)
 *                "hostName": string|null,    // from the viewer's /etc/passwd
 *                "inside": number|null,      // in the process's own user namespace
 *                "insideName": string|null,  // from that namespace's /etc/passwd (its root)
 *                "chain": [{ "userns": number, "id": number|null }] },  // view's child .. own
 *       "gid": { same fields; names are null },
 *       "userns": number|null,    // inode of /proc/PID/ns/user; null when it may not be read
 *       "pidns": number|null,     // inode of /proc/PID/ns/pid
 *       "depth": number|null,     // user-namespace depth below the viewer's (see igloo tree)
 *       "container": { "kind": "igloo"|"foreign"|"host",
 *                      "name": string|null,      // igloo's container name
 *                      "owner": string|null,     // igloo: its owner; foreign: the namespace's creator
 *                      "ownerUid": number|null },
 *       "state": string, "comm": string, "command": string,
 *       "startTime": number|null, // clock ticks after boot (/proc/PID/stat field 22)
 *       "restricted": string[]    // what could not be read: "cmdline", "ns/user", "ns/pid"
 *     }],
 *     "broken": [{               // only when discovery skipped containers (also on stderr)
 *       "owner": string, "uid": number, "name": string|null, "path": string, "reason": string }]
 *   }
 *
 * docs/inspect.md explains the derivations (parent namespaces, creators).
 */
import { filterRows, PS_HEADERS, psCells } from '../../core/snapshot/format.ts';
import type { PsRow } from '../../core/snapshot/model.ts';
import { inspectSync } from '../../inspect/index.ts';
import type { ps as psSpec } from '../command-table.ts';
import { paint, table } from '../output.ts';
import type { Invocation } from '../spec.ts';
import { tuneForOnePass, warnBroken } from './snapshot-command.ts';

/**
 * The JSON form, one process per line: the document an indenting
 * JSON.stringify would give, for a third of the cost and half the bytes
 * with a thousand processes (one compact stringify, then a line break
 * before each row), and a process's whole row on one line for grep. Rows
 * start with "pid": inside JSON strings quotes are escaped, so `},{"pid":`
 * only ever separates two rows.
 */
export function jsonText(doc: Record<string, unknown>): string {
  const fields: string[] = [];
  for (const [key, value] of Object.entries(doc)) {
    if (value === undefined) continue;
    let text = JSON.stringify(value);
    if (key === 'processes' && Array.isArray(value) && value.length > 0) {
      text = `[\n    ${text.slice(1, -1).replaceAll('},{"pid":', '},\n    {"pid":')}\n  ]`;
    }
    fields.push(`  ${JSON.stringify(key)}: ${text}`);
  }
  return `{\n${fields.join(',\n')}\n}\n`;
}

/**
 * A user's default view: their own processes (effective uid theirs) and
 * those of the containers and namespaces they own; root's view, and a
 * user's with --all, is every row.
 */
export function ownRows<R extends Pick<PsRow, 'uid' | 'container'>>(
  rows: readonly R[],
  uid: number,
): R[] {
  return rows.filter((r) => r.uid.host === uid || r.container.ownerUid === uid);
}

export async function ps({
  options: values,
  args: { NAME: names },
}: Invocation<typeof psSpec>): Promise<number> {
  tuneForOnePass();
  const uid = process.geteuid?.() ?? 0;
  // Root's --all also names every user's containers; a user's --all is the whole host.
  const snapshot = inspectSync({ all: values.all === true && uid === 0 });
  warnBroken(snapshot.broken);
  const visible =
    uid === 0 || values.all === true ? snapshot.processes : ownRows(snapshot.processes, uid);
  const rows = filterRows(visible, names);
  if (values.json) {
    process.stdout.write(jsonText({ ...snapshot, processes: rows, tree: undefined }));
    return 0;
  }
  const cells = rows.map((r) => {
    const c = psCells(r);
    if (r.container.kind !== 'igloo') c[6] = paint('dim', c[6] ?? '');
    return c;
  });
  process.stdout.write(table(PS_HEADERS, cells));
  return 0;
}
