/**
 * /etc/lxc/lxc-usernet (lxc-usernet(5)), the quota file of LXC's setuid
 * lxc-user-nic: one `USER TYPE BRIDGE COUNT` line per delegation ("anna veth
 * igloo0 2": anna may have 2 veth interfaces on igloo0 at once); a name
 * starting with "@" is a group; "#" starts a comment. Editing changes only
 * the lines of the user and bridge it is asked about and keeps every other
 * byte, as subid.ts does for /etc/subuid.
 */
import { IglooError } from '../errors.ts';

export interface UsernetEntry {
  readonly user: string;
  readonly type: string;
  readonly bridge: string;
  readonly count: number;
  /** 1-based line number. */
  readonly line: number;
}

export interface UsernetProblem {
  readonly line: number;
  readonly text: string;
  readonly reason: string;
}

function splitLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

function parseLine(body: string, line: number): UsernetEntry | UsernetProblem | undefined {
  const content = body.replace(/#.*$/, '').trim();
  if (content === '') return undefined;
  const fields = content.split(/\s+/);
  if (fields.length !== 4) return { line, text: body, reason: 'expected USER TYPE BRIDGE COUNT' };
  const [user, type, bridge, count] = fields as [string, string, string, string];
  if (!/^(0|[1-9][0-9]{0,5})$/.test(count))
    return { line, text: body, reason: `count "${count}" is not a whole number` };
  return { user, type, bridge, count: Number(count), line };
}

/** Tolerant parse: malformed lines become problems (lxc-user-nic skips them too). */
export function parseUsernet(text: string): {
  entries: UsernetEntry[];
  problems: UsernetProblem[];
} {
  const entries: UsernetEntry[] = [];
  const problems: UsernetProblem[] = [];
  splitLines(text).forEach((body, i) => {
    const r = parseLine(body, i + 1);
    if (r === undefined) return;
    if ('reason' in r) problems.push(r);
    else entries.push(r);
  });
  return { entries, problems };
}

function checkField(value: string, what: string): void {
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(value) || value.length > 32) {
    throw new IglooError('EINVAL', `Invalid ${what} "${value}" for /etc/lxc/lxc-usernet`, {
      op: 'net grant',
      subject: value,
      hint: `A ${what} is letters, digits, ".", "_" and "-"`,
    });
  }
}

/**
 * Sets USER's veth quota on BRIDGE to COUNT: the first matching line is
 * rewritten in place, later duplicates are removed (lxc-user-nic would add
 * them up), and a new line is appended when there was none.
 */
export function setUsernetGrant(
  text: string,
  req: { user: string; bridge: string; count: number },
): string {
  checkField(req.user, 'user name');
  checkField(req.bridge, 'bridge name');
  if (!Number.isInteger(req.count) || req.count < 1) {
    throw new IglooError(
      'EINVAL',
      `Invalid count ${req.count}: give a whole number of at least 1`,
      {
        op: 'net grant',
        subject: String(req.count),
      },
    );
  }
  const wanted = `${req.user} veth ${req.bridge} ${req.count}`;
  const { removed } = splitGrants(text, req);
  // The first matching line is rewritten in place; later duplicates go.
  const first = removed[0]?.line;
  const out = splitLines(text).flatMap((body, i) => {
    if (i + 1 === first) return [wanted];
    return removed.some((e) => e.line === i + 1) ? [] : [body];
  });
  if (first === undefined) out.push(wanted);
  return `${out.join('\n')}\n`;
}

/** The lines of TEXT that are not USER's veth lines (on BRIDGE when given), and those that are. */
function splitGrants(
  text: string,
  req: { user: string; bridge?: string },
): { kept: string[]; removed: UsernetEntry[] } {
  const removed: UsernetEntry[] = [];
  const kept: string[] = [];
  for (const [i, body] of splitLines(text).entries()) {
    const e = parseLine(body, i + 1);
    const mine =
      e !== undefined &&
      !('reason' in e) &&
      e.user === req.user &&
      e.type === 'veth' &&
      (req.bridge === undefined || e.bridge === req.bridge);
    if (mine) removed.push(e);
    else kept.push(body);
  }
  return { kept, removed };
}

/** Removes USER's veth lines (on BRIDGE only, when given); returns the entries removed. */
export function removeUsernetGrant(
  text: string,
  req: { user: string; bridge?: string },
): { text: string; removed: UsernetEntry[] } {
  const { kept, removed } = splitGrants(text, req);
  return { text: kept.length ? `${kept.join('\n')}\n` : '', removed };
}
