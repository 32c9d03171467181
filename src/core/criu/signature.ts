/**
 * What a checkpoint's signature covers. CRIU images are a program's memory,
 * registers, credentials, namespaces and mounts: `criu restore` as root
 * makes whatever they describe, in the initial user namespace if they say
 * so. So root restores only images this host made: `igloo checkpoint` signs
 * them with an HMAC-SHA256 under a key only root can read (src/host/criu.ts),
 * and `igloo restore` (and import-container, before it moves a checkpoint)
 * recomputes it. The signed text binds:
 *
 * - every file of the checkpoint directory (name, size, SHA-256), except the
 *   manifest itself and the files restore writes there (UNSIGNED): a file
 *   added, removed or changed breaks it;
 * - the container it was made for: its directory (so a checkpoint copied
 *   from another data directory or container is refused) and the SHA-256 of
 *   its config file;
 * - the manifest's facts: name, id map, console key, criu version, time.
 *
 * Pure: facts in, canonical text out (JSON with a fixed key order).
 */
import type { IdMaps } from '../idmap/index.ts';

/** Files of a checkpoint directory that are not signed: written by restore, never read by it. */
export const UNSIGNED = new Set([
  'igloo-checkpoint.json',
  'dump.log',
  'restore.log',
  'stats-restore',
]);

export interface SignedFile {
  readonly name: string;
  readonly size: number;
  /** hex */
  readonly sha256: string;
}

export interface CheckpointFacts {
  /** The container's directory when the checkpoint was made (or last moved). */
  readonly container: string;
  /** SHA-256 (hex) of the container's config file. */
  readonly config: string;
  readonly name: string;
  readonly createdAt: string;
  readonly criu: string;
  readonly idmap: IdMaps;
  readonly leftRunning: boolean;
  readonly console?: string;
  readonly files: readonly SignedFile[];
}

/** The text the HMAC is computed over. */
export function signedText(f: CheckpointFacts): string {
  const files = [...f.files]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((x) => [x.name, x.size, x.sha256]);
  const map = (m: IdMaps['uid']) => m.map((e) => [e.inside, e.outside, e.count]);
  return JSON.stringify([
    'igloo-checkpoint-v1',
    f.container,
    f.config,
    f.name,
    f.createdAt,
    f.criu,
    map(f.idmap.uid),
    map(f.idmap.gid),
    f.leftRunning,
    f.console ?? null,
    files,
  ]);
}

/** criu's name of an external terminal, as consoleOf() makes it: tty[RDEV:DEV] in hex. */
export const CONSOLE_KEY = /^tty\[[0-9a-f]{1,16}:[0-9a-f]{1,16}\]$/;

/** A checkpoint image's file name as criu writes them (no path, no dot files). */
export const IMAGE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
