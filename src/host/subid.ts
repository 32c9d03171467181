/**
 * /etc/subuid and /etc/subgid on the host: reading, and the administrator's
 * grant and revoke. Both files are changed together, under both locks (always
 * taken in the order subuid, subgid), so a grant gives a user the same block
 * of uids and gids and two grants at the same moment never overlap.
 */
import { IglooError } from '../core/errors.ts';
import {
  appendSubidLine,
  chooseBlock,
  delegatedRanges,
  entriesFor,
  findOverlaps,
  parseSubid,
  parseSubidStrict,
  removeSubidOwner,
  type GrantOptions,
  type IdRange,
  type SubidEntry,
  type SubidOverlap,
  type SubidProblem,
} from '../core/idmap/index.ts';
import { subidPathsFor, type LayoutEnv, type SubidPaths } from '../core/layout.ts';
import { readTextOrEmpty, replaceFileAtomically, withFileLock } from './files.ts';
import { failpoint } from './failpoint.ts';
import { lookupHostUser } from './users.ts';

export type { SubidPaths } from '../core/layout.ts';

/** The files igloo reads, for this process (core/layout.ts subidPathsFor()). */
export function subidPaths(env: LayoutEnv = process.env): SubidPaths {
  return subidPathsFor(env);
}

export interface SubidFileReport {
  readonly path: string;
  readonly entries: SubidEntry[];
  readonly problems: SubidProblem[];
  readonly overlaps: SubidOverlap[];
}

export async function readSubidReport(path: string): Promise<SubidFileReport> {
  const { entries, problems } = parseSubid(await readTextOrEmpty(path), { path });
  return { path, entries, problems, overlaps: findOverlaps(entries) };
}

/** The ranges of uids and gids delegated to a user. */
export async function readDelegation(
  user: { name: string; uid: number },
  paths: SubidPaths = subidPaths(),
): Promise<{ uid: IdRange[]; gid: IdRange[] }> {
  const [u, g] = await Promise.all([readSubidReport(paths.uid), readSubidReport(paths.gid)]);
  return { uid: delegatedRanges(u.entries, user), gid: delegatedRanges(g.entries, user) };
}

function requireRoot(op: string, user: string): void {
  if ((process.geteuid?.() ?? 0) !== 0) {
    throw new IglooError(
      'EPERM',
      `Cannot ${op} ids for "${user}": only root may change /etc/subuid and /etc/subgid`,
      {
        op,
        subject: user,
        hint: `Ask the administrator to run: sudo igloo subid ${op} ${user}`,
      },
    );
  }
}

async function withBothLocked<T>(paths: SubidPaths, fn: () => Promise<T>): Promise<T> {
  return withFileLock(paths.uid, () => withFileLock(paths.gid, fn));
}

export interface Grant {
  readonly user: string;
  readonly uid: number;
  readonly range: IdRange;
}

/**
 * Gives a user one block of subordinate uids and the same block of gids.
 * Refuses (and writes nothing) when a file has a malformed line, the user
 * already has a block, or an explicit start overlaps another block.
 */
export async function grant(
  userName: string,
  opts: GrantOptions = {},
  paths = subidPaths(),
): Promise<Grant> {
  requireRoot('grant', userName);
  const user = await lookupHostUser(userName);
  return withBothLocked(paths, async () => {
    const uidText = await readTextOrEmpty(paths.uid);
    const gidText = await readTextOrEmpty(paths.gid);
    const uidEntries = parseSubidStrict(uidText, { path: paths.uid });
    const gidEntries = parseSubidStrict(gidText, { path: paths.gid });
    const finished = await finishHalfGrant(
      paths,
      user,
      opts,
      uidText,
      gidText,
      uidEntries,
      gidEntries,
    );
    if (finished) return finished;
    for (const [path, entries] of [
      [paths.uid, uidEntries],
      [paths.gid, gidEntries],
    ] as const) {
      const mine = entriesFor(entries, user);
      if (mine.length > 0) {
        const first = mine[0]!;
        throw new IglooError(
          'EEXIST',
          `Cannot grant ids to "${user.name}": ${path} line ${first.line} already gives them ${first.start}-${first.start + first.count - 1}`,
          {
            op: 'grant',
            path,
            line: first.line,
            subject: user.name,
            hint: `Revoke the old block first: igloo subid revoke ${user.name}`,
          },
        );
      }
    }
    // One block free in both files, so uids and gids line up.
    const range = chooseBlock([...uidEntries, ...gidEntries], opts);
    await replaceFileAtomically(paths.uid, appendSubidLine(uidText, user.name, range));
    failpoint('subid-grant-uid-written');
    try {
      await replaceFileAtomically(paths.gid, appendSubidLine(gidText, user.name, range));
    } catch (err) {
      await replaceFileAtomically(paths.uid, uidText); // roll back: both or neither
      throw err;
    }
    return { user: user.name, uid: user.uid, range };
  });
}

/**
 * A grant that crashed between its two files left the user a block in
 * /etc/subuid only (failpoint subid-grant-uid-written): the next grant
 * finishes it with the same block in /etc/subgid, if that block is free
 * there and the options do not ask for another. (The mirror case, gids
 * only, is an administrator's edit: finished the same way.)
 */
async function finishHalfGrant(
  paths: SubidPaths,
  user: { name: string; uid: number },
  opts: GrantOptions,
  uidText: string,
  gidText: string,
  uidEntries: readonly SubidEntry[],
  gidEntries: readonly SubidEntry[],
): Promise<Grant | undefined> {
  const u = entriesFor(uidEntries, user);
  const g = entriesFor(gidEntries, user);
  if (u.length + g.length !== 1) return undefined;
  const [lone, other, path, text] =
    u.length === 1
      ? [u[0]!, gidEntries, paths.gid, gidText]
      : [g[0]!, uidEntries, paths.uid, uidText];
  const range = { start: lone.start, count: lone.count };
  if (opts.start !== undefined && opts.start !== range.start) return undefined;
  if (opts.count !== undefined && opts.count !== range.count) return undefined;
  if (other.some((e) => e.start < range.start + range.count && range.start < e.start + e.count))
    return undefined;
  await replaceFileAtomically(path, appendSubidLine(text, user.name, range));
  return { user: user.name, uid: user.uid, range };
}

export interface Revocation {
  readonly user: string;
  readonly removed: { uid: SubidEntry[]; gid: SubidEntry[] };
}

/** Removes every block of a user (by name and by numeric uid) from both files. */
export async function revoke(userName: string, paths = subidPaths()): Promise<Revocation> {
  requireRoot('revoke', userName);
  const user = await lookupHostUser(userName);
  const owners = [user.name, String(user.uid)];
  return withBothLocked(paths, async () => {
    const uidText = await readTextOrEmpty(paths.uid);
    const gidText = await readTextOrEmpty(paths.gid);
    const u = removeSubidOwner(uidText, owners);
    const g = removeSubidOwner(gidText, owners);
    if (u.removed.length === 0 && g.removed.length === 0) {
      throw new IglooError(
        'ENOENT',
        `Cannot revoke ids of "${user.name}": neither ${paths.uid} nor ${paths.gid} has a block for them`,
        {
          op: 'revoke',
          subject: user.name,
          hint: 'See the blocks with: igloo subid ls',
        },
      );
    }
    if (u.removed.length) await replaceFileAtomically(paths.uid, u.text);
    if (g.removed.length) {
      try {
        await replaceFileAtomically(paths.gid, g.text);
      } catch (err) {
        if (u.removed.length) await replaceFileAtomically(paths.uid, uidText);
        throw err;
      }
    }
    return { user: user.name, removed: { uid: u.removed, gid: g.removed } };
  });
}
