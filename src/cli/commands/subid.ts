import { IglooError } from '../../core/errors.ts';
import { formatRange } from '../../core/idmap/index.ts';
import { grant, readSubidReport, revoke, subidPaths } from '../../host/subid.ts';
import { paint, parseCommandArgs, printJson, table } from '../output.ts';

const help = `igloo subid ls|grant|revoke ...
  igloo subid ls [--json]                          blocks per user; overlaps and malformed lines flagged
  igloo subid grant USER [--count N] [--start S]   give USER a block of subordinate uids and gids (root)
  igloo subid revoke USER                          remove USER's blocks (root)
`;

function parseNumber(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) {
    throw new IglooError('EINVAL', `subid: --${flag} must be a whole number, not "${value}"`, {
      op: 'subid',
      subject: value,
    });
  }
  return Number(value);
}

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    'subid',
    args,
    {
      json: { type: 'boolean' },
      count: { type: 'string' },
      start: { type: 'string' },
    },
    help,
  );
  const [action, user, ...extra] = positionals;
  if (values.help || action === undefined) {
    process.stdout.write(help);
    return values.help ? 0 : 2;
  }
  if (extra.length > 0)
    throw new IglooError('EINVAL', `subid: unexpected argument "${extra[0]}"`, {
      op: 'subid',
      hint: help.split('\n')[1]?.trim(),
    });
  switch (action) {
    case 'ls':
      return list(values.json === true);
    case 'grant': {
      if (!user)
        throw new IglooError('EINVAL', 'subid grant: missing USER', {
          op: 'grant',
          hint: 'igloo subid grant USER [--count N] [--start S]',
        });
      const count = parseNumber('count', values.count);
      const start = parseNumber('start', values.start);
      const g = await grant(user, {
        ...(count !== undefined && { count }),
        ...(start !== undefined && { start }),
      });
      if (values.json)
        printJson({ user: g.user, uid: g.uid, start: g.range.start, count: g.range.count });
      else
        process.stdout.write(
          `Granted ${g.user} uids and gids ${formatRange(g.range)} (${g.range.count} ids)\n`,
        );
      return 0;
    }
    case 'revoke': {
      if (!user)
        throw new IglooError('EINVAL', 'subid revoke: missing USER', {
          op: 'revoke',
          hint: 'igloo subid revoke USER',
        });
      const r = await revoke(user);
      if (values.json) printJson(r);
      else {
        const all = [
          ...r.removed.uid.map((e) => `uids ${formatRange(e)}`),
          ...r.removed.gid.map((e) => `gids ${formatRange(e)}`),
        ];
        process.stdout.write(`Revoked from ${r.user}: ${all.join(', ')}\n`);
      }
      return 0;
    }
    default:
      throw new IglooError('EINVAL', `subid: unknown action "${action}"`, {
        op: 'subid',
        hint: 'Use ls, grant or revoke',
      });
  }
}

async function list(json: boolean): Promise<number> {
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
