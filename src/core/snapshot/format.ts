/**
 * Human forms of a Snapshot: the cells of the `igloo ps` table and the lines
 * of `igloo tree`, and the NAME filter of `igloo ps`. Pure; the CLI aligns
 * and colours them.
 */
import { IglooError } from '../errors.ts';
import type { MapLine, PsRow, TreeNode } from './model.ts';

export const PS_HEADERS = [
  'PID',
  'NSPID',
  'USER',
  'INSIDE',
  'USERNS',
  'PIDNS',
  'CONTAINER',
  'OWNER',
  'DEPTH',
  'COMMAND',
] as const;

const idText = (id: number | null, name: string | null): string =>
  name ?? (id === null ? '?' : String(id));

/** What the CONTAINER column says: "anna-c1", "(foreign)" or "(host)". */
export function containerText(row: PsRow): string {
  if (row.container.kind === 'igloo') return row.container.name ?? '?';
  return `(${row.container.kind})`;
}

/**
 * TEXT with every control character (C0, DEL, C1) shown as "?", as procps's
 * ps shows them. Command lines, process names and user names inside come
 * from containers and other users: printed as they are, their escape
 * sequences would drive the terminal of whoever runs igloo ps or tree
 * (root, with --all), and a terminal answers some queries by typing into
 * its input.
 */
export function visible(text: string): string {
  let out = '';
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    out += code < 0x20 || (code >= 0x7f && code <= 0x9f) ? '?' : ch;
  }
  return out;
}

/** One table row per process; "?" marks what could not be read (and each control character). */
export function psCells(row: PsRow): string[] {
  return psCellsAsRead(row).map(visible);
}

function psCellsAsRead(row: PsRow): string[] {
  return [
    String(row.pid),
    row.nspid.join('/'),
    idText(row.uid.host, row.uid.hostName),
    idText(row.uid.inside, row.uid.insideName),
    row.userns === null ? '?' : String(row.userns),
    row.pidns === null ? '?' : String(row.pidns),
    containerText(row),
    row.container.owner ?? '-',
    row.depth === null ? '?' : String(row.depth),
    row.restricted.length > 0
      ? `${row.command} (restricted: ${row.restricted.join(', ')})`
      : row.command,
  ];
}

/**
 * The rows of the named containers. A name is "NAME" or "OWNER/NAME"; one
 * that matches no running container is an error (ENOENT).
 */
export function filterRows(rows: readonly PsRow[], names: readonly string[]): PsRow[] {
  if (names.length === 0) return [...rows];
  const matches = (row: PsRow, spec: string): boolean => {
    if (row.container.kind !== 'igloo') return false;
    const slash = spec.indexOf('/');
    if (slash < 0) return row.container.name === spec;
    return (
      row.container.owner === spec.slice(0, slash) && row.container.name === spec.slice(slash + 1)
    );
  };
  for (const spec of names) {
    if (!rows.some((r) => matches(r, spec))) {
      throw new IglooError('ENOENT', `No running container named "${spec}" has processes`, {
        op: 'ps',
        subject: spec,
        hint: "See your containers with: igloo ls   (as root, igloo ps --all finds every user's)",
      });
    }
  }
  return rows.filter((r) => names.some((spec) => matches(r, spec)));
}

/** "0 2000000 65536 (anna's block 2000000+0..65535)" */
export function mapLineText(line: MapLine): string {
  const numbers = `${line.inside} ${line.outside} ${line.count}`;
  return line.slice ? `${numbers} (${line.slice.text})` : numbers;
}

export interface TreeLine {
  /** The tree's drawing before the text ("├─ ", "│  " ...). */
  readonly prefix: string;
  readonly text: string;
  /** head: the namespace line; detail: maps, pid namespaces, processes. */
  readonly kind: 'head' | 'detail';
}

function headText(node: TreeNode): string {
  const parts = [`user:[${node.userns}]`];
  const igloo = node.containers.filter((c) => c.kind === 'igloo' && c.name !== null);
  if (node.view) parts.push('(this view)');
  if (igloo.length > 0) parts.push(igloo.map((c) => `${c.owner ?? '?'}/${c.name}`).join(', '));
  else if (!node.view && node.containers.some((c) => c.kind === 'foreign')) parts.push('(foreign)');
  const creator = node.creator;
  parts.push(
    creator.uid === null
      ? 'creator unknown'
      : `creator ${creator.name ?? creator.uid}${creator.name ? ` (${creator.uid})` : ''}`,
  );
  if (!node.view && node.parentBasis !== 'map' && node.parentBasis !== 'view')
    parts.push(`[parent by ${node.parentBasis}]`);
  return parts.join('  ');
}

/** The lines of `igloo tree`, children indented below their parent. */
export function treeLines(
  root: TreeNode,
  commandOf: (pid: number) => string = () => '',
): TreeLine[] {
  const out: TreeLine[] = [];
  const walk = (node: TreeNode, lead: string, branch: string, last: boolean) => {
    out.push({ prefix: lead + branch, text: headText(node), kind: 'head' });
    const inner = lead + (branch === '' ? '' : last ? '   ' : '│  ');
    const bar = node.children.length > 0 ? '│  ' : '   ';
    const detail = (text: string) => out.push({ prefix: inner + bar, text, kind: 'detail' });
    for (const [label, map] of [
      ['uid', node.uidMap],
      ['gid', node.gidMap],
    ] as const) {
      if (map === null) detail(`${label} map unreadable`);
      else if (map.length === 0) detail(`${label} map not written yet`);
      else
        detail(
          `${label} map${node.view ? ' (in the parent namespace)' : ''}: ${map.map(mapLineText).join('; ')}`,
        );
    }
    for (const g of node.pidNamespaces) {
      const pids = g.processes.map((p) => {
        const cmd = commandOf(p);
        return cmd ? `${p} ${cmd}` : String(p);
      });
      const shown = pids.length > 8 ? [...pids.slice(0, 8), `… ${pids.length - 8} more`] : pids;
      detail(
        `pid:[${g.pidns ?? '?'}] level ${g.pidDepth}, ${g.processes.length} process${g.processes.length === 1 ? '' : 'es'}: ${shown.join(', ')}`,
      );
    }
    node.children.forEach((child, i) => {
      const isLast = i === node.children.length - 1;
      walk(child, inner, isLast ? '└─ ' : '├─ ', isLast);
    });
  };
  walk(root, '', '', true);
  // container and user names come from users' directories and files
  return out.map((line) => ({ ...line, text: visible(line.text) }));
}
