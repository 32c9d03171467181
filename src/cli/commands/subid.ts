/** igloo subid ls | grant | revoke: the blocks of /etc/subuid and /etc/subgid. */
import { formatRange } from '../../core/idmap/index.ts';
import { grant, readSubidReport, revoke, subidPaths } from '../../host/subid.ts';
import type { subidGrant, subidLs, subidRevoke } from '../command-table.ts';
import { paint, printJson, table } from '../output.ts';
import type { Invocation } from '../spec.ts';

export async function grantIds({
  options,
  args: { USER: user },
}: Invocation<typeof subidGrant>): Promise<number> {
  const g = await grant(user, {
    ...(options.count !== undefined && { count: options.count }),
    ...(options.start !== undefined && { start: options.start }),
  });
  if (options.json)
    printJson({ user: g.user, uid: g.uid, start: g.range.start, count: g.range.count });
  else
    process.stdout.write(
      `Granted ${g.user} uids and gids ${formatRange(g.range)} (${g.range.count} ids)\n`,
    );
  return 0;
}

export async function revokeIds({
  options,
  args: { USER: user },
}: Invocation<typeof subidRevoke>): Promise<number> {
  const r = await revoke(user);
  if (options.json) printJson(r);
  else {
    const all = [
      ...r.removed.uid.map((e) => `uids ${formatRange(e)}`),
      ...r.removed.gid.map((e) => `gids ${formatRange(e)}`),
    ];
    process.stdout.write(`Revoked from ${r.user}: ${all.join(', ')}\n`);
  }
  return 0;
}

/** Exits 1 when a file has a malformed line or two blocks overlap. */
export async function listIds({ options }: Invocation<typeof subidLs>): Promise<number> {
  const json = options.json === true;
  const paths = subidPaths();
  const reports = await Promise.all([readSubidReport(paths.uid), readSubidReport(paths.gid)]);
  if (json) {
    printJson(
      reports.map((r, i) => ({
        kind: i === 0 ? 'uid' : 'gid',
        path: r.path,
        entries: r.entries,
        problems: r.problems,
        overlaps: r.overlaps.map((o) => ({ a: o.a, b: o.b })),
      })),
    );
  } else {
    const rows: string[][] = [];
    for (const [i, r] of reports.entries()) {
      const kind = i === 0 ? 'uid' : 'gid';
      for (const e of r.entries) {
        const clash = r.overlaps.find((o) => o.a === e || o.b === e);
        const other = clash && (clash.a === e ? clash.b : clash.a);
        const note = other ? paint('red', `overlaps ${other.owner} (line ${other.line})`) : '';
        rows.push([
          kind,
          e.owner,
          String(e.start),
          String(e.count),
          formatRange(e),
          `${r.path}:${e.line}`,
          note,
        ]);
      }
      for (const p of r.problems)
        rows.push([
          kind,
          '?',
          '',
          '',
          '',
          `${r.path}:${p.line}`,
          paint('red', `malformed: ${p.reason}`),
        ]);
    }
    process.stdout.write(
      table(['KIND', 'OWNER', 'START', 'COUNT', 'RANGE', 'WHERE', 'NOTE'], rows),
    );
  }
  return reports.some((r) => r.problems.length > 0 || r.overlaps.length > 0) ? 1 : 0;
}
