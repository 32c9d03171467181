/**
 * A checkpoint's manifest (igloo-checkpoint.json) and its signature: what
 * checkpoint writes, what restore and import-container trust. Shared by
 * lifecycle/checkpoint.ts and lifecycle/transfer.ts; docs/criu.md, "Trust".
 */
import { rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CONSOLE_KEY, type CheckpointFacts } from '../core/criu/signature.ts';
import { IglooError } from '../core/errors.ts';
import { validateMap, type IdMaps } from '../core/idmap/index.ts';
import { checkpointFiles, checkpointSignedHere, sha256Hex, signCheckpoint } from '../host/criu.ts';
import { readUntrustedText } from '../host/untrusted.ts';
import type { UserContainers } from './user-containers.ts';

export const MANIFEST = 'igloo-checkpoint.json';

export interface CheckpointManifest {
  readonly version: 1;
  readonly name: string;
  readonly createdAt: string;
  readonly criu: string;
  readonly idmap: IdMaps;
  readonly leftRunning: boolean;
  /** The console pty, dumped as external (see consoleOf). */
  readonly console?: { readonly key: string };
  /** The directory of the container it was made (or moved) for. */
  readonly container?: string;
  /** SHA-256 of that container's config file then. */
  readonly config?: string;
  /** HMAC-SHA256 under the host's key (core/criu/signature.ts). */
  readonly mac?: string;
}

/** What the signature covers, from a manifest, the files and the container. */
async function factsOf(
  m: CheckpointManifest,
  dir: string,
  container: string,
  configText: string,
): Promise<CheckpointFacts> {
  return {
    container,
    config: sha256Hex(configText),
    name: m.name,
    createdAt: m.createdAt,
    criu: m.criu,
    idmap: m.idmap,
    leftRunning: m.leftRunning,
    ...(m.console && { console: m.console.key }),
    files: await checkpointFiles(dir),
  };
}

/** Writes the manifest of DIR, signed for CONTAINER (whose config is CONFIGTEXT). */
export async function signAndWrite(
  dir: string,
  m: CheckpointManifest,
  container: string,
  configText: string,
): Promise<void> {
  const { mac: _old, ...rest } = m;
  const unsigned: CheckpointManifest = { ...rest, container, config: sha256Hex(configText) };
  const mac = signCheckpoint(await factsOf(unsigned, dir, container, configText));
  const path = join(dir, MANIFEST);
  await rm(path, { force: true });
  await writeFile(path, JSON.stringify({ ...unsigned, mac }, null, 2) + '\n', {
    mode: 0o600,
    flag: 'wx',
  });
}

/**
 * Why this host will not restore the checkpoint in DIR into the container
 * at CONTAINER (config text CONFIGTEXT), or undefined when its signature holds.
 */
export async function untrusted(
  m: CheckpointManifest,
  dir: string,
  container: string,
  configText: string,
): Promise<string | undefined> {
  if (typeof m.mac !== 'string' || typeof m.container !== 'string' || typeof m.config !== 'string')
    return 'it is not signed by this host (made by hand, by an older igloo, or elsewhere)';
  // First the proof over what the manifest claims, then whether the claims fit here.
  let facts: CheckpointFacts;
  try {
    facts = { ...(await factsOf(m, dir, m.container, '')), config: m.config };
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
  if (!checkpointSignedHere(facts, m.mac))
    return 'its signature does not match: an image or its manifest was changed, added or removed since this host made it, or another host signed it';
  if (m.container !== container)
    return `it was made for another container (${m.container}), not ${container}`;
  if (m.config !== sha256Hex(configText)) return 'the container config changed since it was made';
  return undefined;
}

export async function readManifest(dir: string, name: string): Promise<CheckpointManifest> {
  let text: string;
  try {
    text = readUntrustedText(join(dir, MANIFEST), { op: 'read the checkpoint manifest' });
  } catch (err) {
    if (err instanceof IglooError && err.code === 'EUNSAFE') throw err;
    throw new IglooError('ENOENT', `Cannot restore "${name}": no checkpoint in ${dir}`, {
      op: 'restore',
      path: dir,
      subject: name,
      hint: `Make one with: igloo checkpoint ${name}`,
    });
  }
  const bad = (why: string) =>
    new IglooError('EUNSAFE', `Refusing the checkpoint in ${dir}: its manifest ${why}`, {
      op: 'restore',
      path: join(dir, MANIFEST),
      subject: name,
      hint: `Make a new checkpoint: igloo checkpoint ${name}`,
    });
  let m: CheckpointManifest;
  try {
    m = JSON.parse(text) as CheckpointManifest;
  } catch {
    throw bad('is not JSON');
  }
  if (typeof m !== 'object' || m === null || m.version !== 1) throw bad('is not version 1');
  for (const k of ['name', 'createdAt', 'criu'] as const)
    if (typeof m[k] !== 'string') throw bad(`lacks "${k}"`);
  if (typeof m.leftRunning !== 'boolean') throw bad('lacks "leftRunning"');
  try {
    validateMap(m.idmap.uid, 'uid');
    validateMap(m.idmap.gid, 'gid');
  } catch {
    throw bad('has no valid id map');
  }
  if (m.console !== undefined && !CONSOLE_KEY.test(String(m.console?.key)))
    throw bad('names a console that is not a pty (tty[RDEV:DEV])');
  return m;
}

export function sameMap(a: IdMaps, b: IdMaps): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export function requireRoot(op: string, name: string): void {
  if ((process.geteuid?.() ?? 0) !== 0) {
    throw new IglooError('EPERM', `Cannot ${op} "${name}": CRIU needs root`, {
      op,
      subject: name,
      hint: 'Checkpoint and restore need root (CRIU uses ptrace, /proc/PID/map_files and namespaces of every kind); run it as root, for containers that root owns',
    });
  }
}

export function defaultCheckpointDir(igloo: UserContainers, name: string): string {
  return join(igloo.paths(name).dir, 'checkpoint');
}

export async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
