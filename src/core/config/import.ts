/**
 * The config of an imported container (`igloo import-container`), reduced to
 * what `igloo create` itself would write. An archive is untrusted input: its
 * author chose every line of its config, and root imports and starts it. So
 * only the keys create writes are kept, each with the values create could
 * have written; everything else is refused and reported (key, line and
 * why), never applied:
 *
 * - kept: igloo.hostname, init, env, cwd, user (must be mapped), halt_signal,
 *   nesting (create --nesting: its bind mounts are this host's, rebuilt by
 *   the caller), igloo.net = none, private or user (the modes create picks
 *   by itself), and the settings that only narrow: igloo.cap.drop,
 *   igloo.seccomp.deny, igloo.no_new_privs = true, igloo.limits.*.
 * - replaced by the importer: igloo.name, igloo.rootfs, igloo.idmap.
 * - refused: igloo.mount (a host path), igloo.seccomp other than default,
 *   igloo.cap.keep, igloo.rlimit, igloo.namespaces other than all of them,
 *   igloo.no_new_privs = false (unless nesting), igloo.net with the host's
 *   loopback or a bridge, igloo.net.port, igloo.autostart (the importer's
 *   host decides what reaches it and what starts), every lxc.* and unknown key,
 *   and any line that does not parse.
 *
 * Pure: text in, config and report out.
 */
import { IglooError } from '../errors.ts';
import type { IdMaps } from '../idmap/index.ts';
import { emptyDraft, CONFIG_KEYS, type ConfigDraft } from './file.ts';
import { ALL_NAMESPACES, DEFAULT_ENV, type BindMount, type ContainerConfig } from './model.ts';
import { validateConfig } from './validate.ts';

export interface RefusedKey {
  /** 1-based line of the archive's config. */
  readonly line: number;
  readonly key: string;
  readonly value: string;
  readonly why: string;
}

export interface ImportedConfig {
  readonly config: ContainerConfig;
  readonly refused: readonly RefusedKey[];
}

export interface ImportTarget {
  readonly name: string;
  readonly rootfs: string;
  readonly idmap: IdMaps;
  /** This host's bind mounts of a nesting container (create --nesting makes the same). */
  readonly nestingMounts: readonly BindMount[];
}

/** Keys whose value the importer sets itself. */
const REPLACED = new Set(['igloo.name', 'igloo.rootfs', 'igloo.idmap']);
/** Keys create writes (or that only narrow what the container may do), kept as they are. */
const KEPT = new Set([
  'igloo.hostname',
  'igloo.init',
  'igloo.env',
  'igloo.cwd',
  'igloo.user',
  'igloo.halt_signal',
  'igloo.nesting',
  'igloo.cap.drop',
  'igloo.seccomp.deny',
]);

const WHY: Record<string, string> = {
  'igloo.mount': 'a bind mount of a host path (create makes none)',
  'igloo.cap.keep': 'keeps capabilities igloo drops (create keeps none)',
  'igloo.rlimit': 'a resource limit (create sets none)',
  'igloo.net.port': "forwards a port of the importer's host (create forwards none unless asked)",
  'igloo.autostart': 'starts the container at boot (create marks none unless asked)',
};

function lineValue(raw: string): { key: string; value: string } | undefined {
  const line = raw.trim();
  if (line === '' || line.startsWith('#')) return undefined;
  const eq = line.indexOf('=');
  if (eq < 0) return { key: line, value: '' };
  return { key: line.slice(0, eq).trim(), value: line.slice(eq + 1).trim() };
}

/** Why a line is refused, or undefined when it is kept or replaced. */
function refusal(key: string, value: string, nesting: boolean): string | undefined {
  if (REPLACED.has(key) || KEPT.has(key)) return undefined;
  if (key === 'igloo.seccomp')
    return value === 'default' ? undefined : `seccomp profile "${value}" (create uses default)`;
  if (key === 'igloo.namespaces') {
    const list = value
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    return ALL_NAMESPACES.every((ns) => list.includes(ns)) && list.length === ALL_NAMESPACES.length
      ? undefined
      : `not every namespace (create uses ${ALL_NAMESPACES.join(',')})`;
  }
  if (key === 'igloo.no_new_privs')
    return ['true', '1', 'yes'].includes(value) || nesting
      ? undefined
      : 'no_new_privs off (create turns it off only for --nesting)';
  if (key === 'igloo.net') {
    // The importer's host decides what reaches it: the modes create picks
    // by itself are kept; its loopback and its bridges only when asked there.
    const mode = value.split(',')[0]?.trim();
    return ['none', 'private', 'user'].includes(value.trim())
      ? undefined
      : mode === 'bridge'
        ? "a bridge of the exporter's host (create attaches one only when asked: igloo config NAME set igloo.net=bridge=NAME)"
        : `network "${value}" reaches the host (create allows it only when asked)`;
  }
  if (key.startsWith('igloo.limits.')) return undefined; // a limit only narrows
  if (WHY[key]) return WHY[key];
  if (key in CONFIG_KEYS) return 'an LXC key (create writes igloo keys only)';
  return 'not a key igloo create writes';
}

/**
 * Reduces the config text of an archive to an imported container's config:
 * name, rootfs and id map from TARGET, the rest as above. Throws EINVAL when
 * what is kept is not a valid config (for example init's user is outside
 * the new map).
 */
export function reduceImportedConfig(
  text: string,
  target: ImportTarget,
  where = 'the archive config',
): ImportedConfig {
  const lines = text.split('\n');
  const parsed = lines.map(lineValue);
  const nesting = parsed.some(
    (p) => p?.key === 'igloo.nesting' && ['true', '1', 'yes'].includes(p.value),
  );
  const draft: ConfigDraft = emptyDraft();
  const refused: RefusedKey[] = [];
  for (const [i, p] of parsed.entries()) {
    if (!p || REPLACED.has(p.key)) continue;
    const why = refusal(p.key, p.value, nesting);
    if (why !== undefined) {
      refused.push({ line: i + 1, key: p.key, value: p.value, why });
      continue;
    }
    try {
      CONFIG_KEYS[p.key]!.set(draft, p.value);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      refused.push({ line: i + 1, key: p.key, value: p.value, why: `does not parse: ${reason}` });
    }
  }
  const name = target.name;
  const config: ContainerConfig = {
    name,
    rootfs: target.rootfs,
    idmap: target.idmap,
    hostname: draft.hostname ?? name,
    init: draft.init ?? ['/sbin/init'],
    env: draft.env.length ? draft.env : DEFAULT_ENV,
    cwd: draft.cwd ?? '/',
    user: { uid: draft.uid ?? 0, gid: draft.gid ?? draft.uid ?? 0, groups: [] },
    namespaces: ALL_NAMESPACES,
    haltSignal: draft.haltSignal ?? 'SIGUSR2',
    mounts: draft.nesting ? [...target.nestingMounts] : [],
    rlimits: [],
    seccomp: { profile: 'default', deny: draft.seccompDeny },
    caps: { keep: [], drop: draft.capDrop },
    noNewPrivs: draft.nesting ? (draft.noNewPrivs ?? false) : true,
    ...(draft.nesting && { nesting: true }),
    ...(draft.net && { net: draft.net }),
    ...(draft.limits && { limits: draft.limits }),
  };
  try {
    return { config: validateConfig(config), refused };
  } catch (err) {
    if (!(err instanceof IglooError)) throw err;
    throw new IglooError('EINVAL', `Cannot import ${where}: ${err.message}`, {
      op: 'import-container',
      subject: name,
      ...(err.hint !== undefined && { hint: err.hint }),
    });
  }
}

/** One line per refused key, for the CLI. */
export function formatRefused(r: RefusedKey): string {
  return `line ${r.line}: ${r.key} = ${r.value}: ${r.why}`;
}
