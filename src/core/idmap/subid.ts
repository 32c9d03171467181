/**
 * /etc/subuid and /etc/subgid (subuid(5), subgid(5)): one `owner:start:count`
 * line per delegated block. The owner is a login name or a numeric uid. Empty
 * lines and lines starting with `#` are kept but carry nothing.
 *
 * Parsing is tolerant (malformed lines become problems, as shadow-utils skips
 * them) or strict. Editing changes only the lines it adds or removes and keeps
 * every other byte of the file.
 */
import { IglooError } from '../errors.ts';
import type { IdRange } from './range.ts';
import { MAX_ID, formatRange, makeRange, normalizeRanges, rangeProblem } from './range.ts';
import { decimalProblem, parseDecimal } from './util.ts';

export interface SubidEntry {
  readonly owner: string;
  readonly start: number;
  readonly count: number;
  /** 1-based line number in the text. */
  readonly line: number;
}

export interface SubidProblem {
  readonly line: number;
  readonly text: string;
  readonly reason: string;
}

/** A line with its terminator ("\n" or "" for a last line without one). */
interface RawLine {
  body: string;
  eol: string;
}

function rawLines(text: string): RawLine[] {
  const out: RawLine[] = [];
  let pos = 0;
  while (pos < text.length) {
    const nl = text.indexOf('\n', pos);
    if (nl < 0) {
      out.push({ body: text.slice(pos), eol: '' });
      break;
    }
    out.push({ body: text.slice(pos, nl), eol: '\n' });
    pos = nl + 1;
  }
  return out;
}

function isBlankOrComment(body: string): boolean {
  const t = body.trim();
  return t === '' || t.startsWith('#');
}

/** Why `owner` cannot be written as a subid owner, or undefined if it can. */
export function ownerProblem(owner: string): string | undefined {
  if (typeof owner !== 'string') return 'owner is not a string';
  if (owner === '') return 'owner is empty';
  if (owner.includes(':')) return 'owner contains ":"';
  if (/\s/.test(owner)) return 'owner contains whitespace';
  if (owner.startsWith('#')) return 'owner starts with "#"';
  return undefined;
}

type LineResult = { entry: SubidEntry } | { reason: string };

function parseLine(body: string, line: number): LineResult {
  const fields = body.split(':');
  if (fields.length !== 3) {
    return { reason: `expected 3 fields name:start:count, found ${fields.length}` };
  }
  const [owner, startText, countText] = fields as [string, string, string];
  const op = ownerProblem(owner);
  if (op !== undefined) return { reason: op };
  const start = parseDecimal(startText, MAX_ID);
  if (start === undefined) return { reason: decimalProblem(startText, MAX_ID, 'start') };
  const count = parseDecimal(countText, MAX_ID + 1);
  if (count === undefined) return { reason: decimalProblem(countText, MAX_ID + 1, 'count') };
  if (count === 0) return { reason: 'count is 0' };
  if (rangeProblem(start, count) !== undefined) {
    return { reason: `block ends at ${start + count - 1}, beyond the highest id ${MAX_ID}` };
  }
  return { entry: { owner, start, count, line } };
}

/**
 * Parse subuid/subgid text. Malformed lines (bad field count, empty owner,
 * non-numeric start or count, count 0, a block beyond MAX_ID) become problems
 * and are otherwise skipped.
 */
export function parseSubid(
  text: string,
  _opts: { path?: string } = {},
): { entries: SubidEntry[]; problems: SubidProblem[] } {
  const entries: SubidEntry[] = [];
  const problems: SubidProblem[] = [];
  rawLines(text).forEach(({ body }, index) => {
    const line = index + 1;
    if (isBlankOrComment(body)) return;
    const result = parseLine(body, line);
    if ('entry' in result) entries.push(result.entry);
    else problems.push({ line, text: body, reason: result.reason });
  });
  return { entries, problems };
}

/** Parse subuid/subgid text, throwing EPARSE for the first malformed line. */
export function parseSubidStrict(text: string, opts: { path?: string } = {}): SubidEntry[] {
  const { entries, problems } = parseSubid(text, opts);
  const first = problems[0];
  if (first !== undefined) {
    const name = opts.path ?? 'subordinate id text';
    throw new IglooError(
      'EPARSE',
      `Cannot parse ${name} line ${first.line} "${first.text}": ${first.reason}`,
      {
        op: opts.path !== undefined ? `read ${opts.path}` : 'parse subordinate ids',
        path: opts.path,
        line: first.line,
        subject: first.text,
        hint: 'Each line must be name:start:count, e.g. "anna:2000000:1000000"',
      },
    );
  }
  return entries;
}

/** "anna:2000000:1000000" (no newline). EINVAL for a bad owner or range. */
export function formatSubidLine(owner: string, range: IdRange): string {
  const problem = ownerProblem(owner);
  if (problem !== undefined) {
    throw new IglooError(
      'EINVAL',
      `Cannot write a subordinate id line for owner ${JSON.stringify(owner)}: ${problem}`,
      {
        op: 'format subordinate id line',
        subject: String(owner),
        hint: 'Use a login name or a numeric uid',
      },
    );
  }
  const r = makeRange(range.start, range.count);
  return `${owner}:${r.start}:${r.count}`;
}

/** The entries of one user: owner equal to the login name or the numeric uid. */
export function entriesFor(
  entries: readonly SubidEntry[],
  user: { name: string; uid: number },
): SubidEntry[] {
  const uid = String(user.uid);
  return entries.filter((e) => e.owner === user.name || e.owner === uid);
}

/** The normalized union of the blocks delegated to one user. */
export function delegatedRanges(
  entries: readonly SubidEntry[],
  user: { name: string; uid: number },
): IdRange[] {
  return normalizeRanges(
    entriesFor(entries, user).map((e) => ({ start: e.start, count: e.count })),
  );
}

export interface SubidOverlap {
  readonly a: SubidEntry;
  readonly b: SubidEntry;
}

/**
 * Every pair of entries whose blocks share an id, of any owners (the same
 * owner included). In each pair `a` comes first in the file; pairs are sorted
 * by a's then b's position.
 */
export function findOverlaps(entries: readonly SubidEntry[]): SubidOverlap[] {
  const indexed = entries.map((e, i) => ({ e, i }));
  indexed.sort((x, y) => x.e.start - y.e.start || x.i - y.i);
  const pairs: [number, number][] = [];
  let active: { e: SubidEntry; i: number }[] = [];
  for (const cur of indexed) {
    active = active.filter((x) => x.e.start + x.e.count > cur.e.start);
    for (const x of active) pairs.push(x.i < cur.i ? [x.i, cur.i] : [cur.i, x.i]);
    active.push(cur);
  }
  pairs.sort((p, q) => p[0] - q[0] || p[1] - q[1]);
  return pairs.map(([i, j]) => ({ a: entries[i] as SubidEntry, b: entries[j] as SubidEntry }));
}

/** A one-line description of an entry for messages: `"elsa" 3000000-3999999 (line 2)`. */
export function describeSubidEntry(e: SubidEntry): string {
  return `${JSON.stringify(e.owner)} ${formatRange({ start: e.start, count: e.count })} (line ${e.line})`;
}

/**
 * Add `owner:start:count` as a new last line. A newline is added first if the
 * text is non-empty and does not end in one; nothing else changes.
 */
export function appendSubidLine(text: string, owner: string, range: IdRange): string {
  const line = formatSubidLine(owner, range);
  const sep = text !== '' && !text.endsWith('\n') ? '\n' : '';
  return `${text}${sep}${line}\n`;
}

/**
 * Drop the well-formed lines whose owner is one of `owners` (pass the login
 * name and/or the uid as a string). Comments, malformed lines and every other
 * byte stay as they were.
 */
export function removeSubidOwner(
  text: string,
  owners: readonly string[],
): { text: string; removed: SubidEntry[] } {
  const drop = new Set(owners);
  const removed: SubidEntry[] = [];
  let out = '';
  rawLines(text).forEach(({ body, eol }, index) => {
    if (!isBlankOrComment(body)) {
      const result = parseLine(body, index + 1);
      if ('entry' in result && drop.has(result.entry.owner)) {
        removed.push(result.entry);
        return;
      }
    }
    out += body + eol;
  });
  return { text: out, removed };
}
