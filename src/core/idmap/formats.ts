/**
 * Text and JSON forms of id maps:
 *  - the kernel's /proc/PID/uid_map and gid_map ("0 2000000 65536" per line),
 *  - igloo's and LXC's idmap syntax ("lxc.idmap = u 0 2000000 65536", or bare
 *    "u 0 2000000 65536 g 0 2000000 65536"),
 *  - OCI runtime-spec linux.uidMappings / linux.gidMappings.
 *
 * Parsers name the path (when given) and the 1-based line of every error.
 */
import { IglooError } from '../errors.ts';
import type { IdKind } from './range.ts';
import { MAX_ID, rangeProblem } from './range.ts';
import type { IdMapEntry, IdMaps } from './map.ts';
import { checkMap, formatEntry } from './map.ts';
import { decimalProblem, isCount, isId, parseDecimal, show, splitLines } from './util.ts';

interface ParsedNumbers {
  entry?: IdMapEntry;
  problem?: string;
}

/** Parse the three numbers of an entry; names the first bad field. */
function parseEntryFields(inside: string, outside: string, count: string): ParsedNumbers {
  const i = parseDecimal(inside, MAX_ID);
  if (i === undefined) return { problem: decimalProblem(inside, MAX_ID, 'inside id') };
  const o = parseDecimal(outside, MAX_ID);
  if (o === undefined) return { problem: decimalProblem(outside, MAX_ID, 'outside id') };
  const c = parseDecimal(count, MAX_ID + 1);
  if (c === undefined) return { problem: decimalProblem(count, MAX_ID + 1, 'count') };
  if (c === 0) return { problem: 'count must be at least 1' };
  if (rangeProblem(i, c) !== undefined)
    return { problem: `inside range ends at ${i + c - 1}, beyond ${MAX_ID}` };
  if (rangeProblem(o, c) !== undefined)
    return { problem: `outside range ends at ${o + c - 1}, beyond ${MAX_ID}` };
  return { entry: { inside: i, outside: o, count: c } };
}

function parseError(
  name: string,
  path: string | undefined,
  line: number,
  text: string,
  reason: string,
  op: string,
  hint?: string,
): IglooError {
  return new IglooError('EPARSE', `Cannot parse ${name} line ${line} "${text}": ${reason}`, {
    op,
    path,
    line,
    subject: text,
    hint,
  });
}

// ---------------------------------------------------------------------------
// /proc/PID/uid_map

/**
 * Parse the kernel's uid_map/gid_map text: one "inside outside count" entry per
 * line, columns separated by any whitespace. Blank lines are skipped; empty
 * text (a namespace whose map is not written yet) gives []. Overlapping
 * entries are refused with EOVERLAP.
 */
export function parseProcIdMap(text: string, opts: { path?: string } = {}): IdMapEntry[] {
  const name = opts.path ?? 'id map';
  const op = opts.path !== undefined ? `read ${opts.path}` : 'parse id map';
  const entries: IdMapEntry[] = [];
  const lines: number[] = [];
  const texts: string[] = [];
  splitLines(text).forEach((raw, index) => {
    const lineNo = index + 1;
    const trimmed = raw.trim();
    if (trimmed === '') return;
    const fields = trimmed.split(/\s+/);
    if (fields.length !== 3) {
      throw parseError(
        name,
        opts.path,
        lineNo,
        raw,
        `expected 3 fields (inside outside count), found ${fields.length}`,
        op,
      );
    }
    const [a, b, c] = fields as [string, string, string];
    const parsed = parseEntryFields(a, b, c);
    if (parsed.entry === undefined) {
      throw parseError(name, opts.path, lineNo, raw, parsed.problem ?? 'invalid entry', op);
    }
    entries.push(parsed.entry);
    lines.push(lineNo);
    texts.push(trimmed);
  });
  return checkMap(entries, 'id', {
    kernelLimits: false,
    op,
    path: opts.path,
    describe: (i) => `line ${lines[i]} "${texts[i]}"`,
    lineOf: (i) => lines[i],
  });
}

/** The text written to uid_map/gid_map: "0 2000000 65536\n" per entry. */
export function formatProcIdMap(entries: readonly IdMapEntry[]): string {
  const checked = checkMap(entries, 'id', {
    kernelLimits: false,
    overlaps: false,
    op: 'format id map',
  });
  return checked.map((e) => `${formatEntry(e)}\n`).join('');
}

// ---------------------------------------------------------------------------
// igloo / LXC idmap syntax

export interface IdmapSpecOptions {
  path?: string;
}

const KINDS = new Set(['u', 'g', 'b']);
const IDMAP_KEYS = new Set(['lxc.idmap', 'lxc.id_map']);

interface SpecEntry {
  entry: IdMapEntry;
  line: number;
  text: string;
}

/**
 * Parse igloo's/LXC's idmap syntax into uid and gid maps.
 *
 * Accepts a whole LXC config: `lxc.idmap = u 0 2000000 65536` lines (also the
 * old key `lxc.id_map`), one entry per line; an empty value (`lxc.idmap =`)
 * clears the entries read so far, as in LXC; other `lxc.*` keys are ignored.
 * Also accepts bare entries, one or several per line:
 * `u 0 2000000 65536 g 0 2000000 65536`. Kind `b` adds the entry to both maps.
 * Lines starting with `#` and blank lines are skipped; `#` also starts a
 * comment after entries. Entries keep their order. Overlaps are refused
 * (EOVERLAP); everything else that does not parse is EPARSE with its line.
 */
export function parseIdmapSpec(text: string, opts: IdmapSpecOptions = {}): IdMaps {
  const name = opts.path ?? 'idmap spec';
  const op = opts.path !== undefined ? `read ${opts.path}` : 'parse idmap spec';
  let uid: SpecEntry[] = [];
  let gid: SpecEntry[] = [];
  const fail = (line: number, raw: string, reason: string, hint?: string): IglooError =>
    parseError(name, opts.path, line, raw, reason, op, hint);

  const addEntries = (tokens: string[], line: number, raw: string, single: boolean): void => {
    if (tokens.length % 4 !== 0 || (single && tokens.length !== 4)) {
      throw fail(
        line,
        raw,
        `wrong number of fields: expected 4 per entry (kind inside outside count), found ${tokens.length}`,
        'Write entries as "u 0 2000000 65536"',
      );
    }
    for (let k = 0; k < tokens.length; k += 4) {
      const [kind, a, b, c] = tokens.slice(k, k + 4) as [string, string, string, string];
      if (!KINDS.has(kind)) {
        throw fail(
          line,
          raw,
          `unknown kind ${JSON.stringify(kind)} (expected u, g or b)`,
          'Use u for uids, g for gids, b for both',
        );
      }
      const parsed = parseEntryFields(a, b, c);
      if (parsed.entry === undefined) {
        throw fail(line, raw, parsed.problem ?? 'invalid entry');
      }
      const item: SpecEntry = { entry: parsed.entry, line, text: `${kind} ${a} ${b} ${c}` };
      if (kind !== 'g') uid.push(item);
      if (kind !== 'u') gid.push(item);
    }
  };

  splitLines(text).forEach((raw, index) => {
    const line = index + 1;
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const eq = trimmed.indexOf('=');
    if (eq >= 0) {
      const key = trimmed.slice(0, eq).trim();
      if (IDMAP_KEYS.has(key)) {
        const value = stripComment(trimmed.slice(eq + 1)).trim();
        if (value === '') {
          uid = [];
          gid = [];
          return;
        }
        addEntries(value.split(/\s+/), line, raw, true);
        return;
      }
      if (key.startsWith('lxc.')) return;
      throw fail(
        line,
        raw,
        `unknown key ${JSON.stringify(key)}`,
        'Use "lxc.idmap = u 0 2000000 65536" or bare entries such as "u 0 2000000 65536"',
      );
    }
    const body = stripComment(trimmed).trim();
    if (body === '') return;
    addEntries(body.split(/\s+/), line, raw, false);
  });

  const check = (items: SpecEntry[], kind: IdKind): IdMapEntry[] =>
    checkMap(
      items.map((x) => x.entry),
      kind,
      {
        kernelLimits: false,
        op,
        path: opts.path,
        describe: (i) => `line ${items[i]?.line} "${items[i]?.text}"`,
        lineOf: (i) => items[i]?.line,
      },
    );
  return { uid: check(uid, 'uid'), gid: check(gid, 'gid') };
}

function stripComment(s: string): string {
  const hash = s.indexOf('#');
  return hash >= 0 ? s.slice(0, hash) : s;
}

function checkedMaps(maps: IdMaps, op: string): { uid: IdMapEntry[]; gid: IdMapEntry[] } {
  return {
    uid: checkMap(maps.uid, 'uid', { kernelLimits: false, overlaps: false, op }),
    gid: checkMap(maps.gid, 'gid', { kernelLimits: false, overlaps: false, op }),
  };
}

/** LXC config lines: "lxc.idmap = u 0 2000000 65536\n", uid entries first. */
export function formatLxcIdmap(maps: IdMaps): string {
  const { uid, gid } = checkedMaps(maps, 'format lxc.idmap');
  return [
    ...uid.map((e) => `lxc.idmap = u ${formatEntry(e)}\n`),
    ...gid.map((e) => `lxc.idmap = g ${formatEntry(e)}\n`),
  ].join('');
}

/** igloo's compact form on one line: "u 0 2000000 65536 g 0 2000000 65536". */
export function formatIdmapSpec(maps: IdMaps): string {
  const { uid, gid } = checkedMaps(maps, 'format idmap spec');
  return [...uid.map((e) => `u ${formatEntry(e)}`), ...gid.map((e) => `g ${formatEntry(e)}`)].join(
    ' ',
  );
}

// ---------------------------------------------------------------------------
// OCI runtime spec

export interface OciIdMapping {
  containerID: number;
  hostID: number;
  size: number;
}

/**
 * Read an OCI `linux.uidMappings`/`linux.gidMappings` value from untrusted
 * JSON. `field` names it in messages (default "mappings"); errors are EINVAL
 * naming the exact field, e.g. "linux.uidMappings[1].hostID", and EOVERLAP
 * for overlapping entries. An absent value (undefined or null) is [].
 */
export function fromOciMappings(
  list: unknown,
  opts: { path?: string; field?: string } = {},
): IdMapEntry[] {
  const field = opts.field ?? 'mappings';
  const where = opts.path !== undefined ? ` in ${opts.path}` : '';
  const op = opts.path !== undefined ? `read ${opts.path}` : 'read OCI id mappings';
  const bad = (subject: string, problem: string): IglooError =>
    new IglooError('EINVAL', `Invalid ${subject}${where}: ${problem}`, {
      op,
      path: opts.path,
      subject,
      hint: `Write each mapping as {"containerID": 0, "hostID": 2000000, "size": 65536}`,
    });
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) throw bad(field, `expected a list of mappings, got ${show(list)}`);
  const entries: IdMapEntry[] = [];
  list.forEach((item: unknown, i) => {
    const at = `${field}[${i}]`;
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      throw bad(at, `expected an object {containerID, hostID, size}, got ${show(item)}`);
    }
    const { containerID, hostID, size } = item as Record<string, unknown>;
    for (const [key, value] of [
      ['containerID', containerID],
      ['hostID', hostID],
    ] as const) {
      if (!isId(value))
        throw bad(`${at}.${key}`, `expected an integer from 0 to ${MAX_ID}, got ${show(value)}`);
    }
    if (!isCount(size))
      throw bad(`${at}.size`, `expected an integer from 1 to ${MAX_ID + 1}, got ${show(size)}`);
    const c = containerID as number;
    const h = hostID as number;
    if (rangeProblem(c, size) !== undefined)
      throw bad(`${at}.size`, `containerID + size - 1 = ${c + size - 1} is beyond ${MAX_ID}`);
    if (rangeProblem(h, size) !== undefined)
      throw bad(`${at}.size`, `hostID + size - 1 = ${h + size - 1} is beyond ${MAX_ID}`);
    entries.push({ inside: c, outside: h, count: size });
  });
  const kind: IdKind | 'id' = /gid/i.test(field) ? 'gid' : /uid/i.test(field) ? 'uid' : 'id';
  return checkMap(entries, kind, {
    kernelLimits: false,
    op,
    path: opts.path,
    describe: (i) => {
      const e = entries[i] as IdMapEntry;
      return `${field}[${i}] (containerID ${e.inside}, hostID ${e.outside}, size ${e.count})`;
    },
  });
}

/** The OCI form of a map. */
export function toOciMappings(entries: readonly IdMapEntry[]): OciIdMapping[] {
  return checkMap(entries, 'id', {
    kernelLimits: false,
    overlaps: false,
    op: 'format OCI id mappings',
  }).map((e) => ({ containerID: e.inside, hostID: e.outside, size: e.count }));
}
