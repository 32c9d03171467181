/**
 * `igloo config NAME get KEY | set KEY=VALUE | edit`: a container's config
 * read and changed through the one key table (core/config/file.ts). A new
 * text is parsed and validated as a whole (the same rules as the file and
 * a new container) before anything is written; then it replaces the
 * config atomically under the container's lock. Keys fixed at create time
 * (FIXED_KEYS) may not change: the rootfs's files belong to the slice in
 * igloo.idmap, igloo.rootfs and igloo.name follow the container's
 * directory (igloo rename), and a nesting container was prepared for it.
 * Changes apply at the next start. A container's checkpoint is signed
 * over its config: after a change, restore refuses it (make a new one).
 */
import { constants } from 'node:fs';
import { open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  CONFIG_KEYS,
  IGLOO_KEYS,
  formatConfig,
  parseConfig,
  parseConfigText,
} from '../core/config/file.ts';
import type { ContainerConfig } from '../core/config/model.ts';
import { IglooError } from '../core/errors.ts';
import { replaceFileAtomically, uniqueSuffix } from '../host/files.ts';
import { readConfig, withContainerLock } from './store.ts';
import type { UserContainers } from './user-containers.ts';

/** Keys that are what create made them for the container's whole life. */
export const FIXED_KEYS: readonly string[] = [
  'igloo.name',
  'igloo.rootfs',
  'igloo.idmap',
  'igloo.nesting',
];

function requireKey(key: string, op: string): void {
  if (!IGLOO_KEYS.includes(key)) {
    throw new IglooError('EINVAL', `Cannot ${op} "${key}": there is no such config key`, {
      op: `config ${op}`,
      subject: key,
      hint: `Known keys: ${IGLOO_KEYS.join(', ')}`,
    });
  }
}

/** The lines KEY contributes to CONFIG's file (none when it has its default). */
export function valuesOf(config: ContainerConfig, key: string): string[] {
  requireKey(key, 'get');
  return CONFIG_KEYS[key]!.get!(config);
}

/** The values of KEY in NAME's config. */
export async function configGet(
  user: UserContainers,
  name: string,
  key: string,
): Promise<string[]> {
  requireKey(key, 'get');
  return valuesOf(await readConfig(user.paths(name), name), key);
}

/**
 * CONFIG's text with every value of KEY replaced by VALUE (an empty VALUE
 * drops the key: its default applies). Pure: the caller validates it.
 */
export function withValue(config: ContainerConfig, key: string, value: string): string {
  const lines = formatConfig(config)
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith(`${key} =`));
  if (value !== '') lines.push(`${key} = ${value}`);
  return lines.join('\n') + '\n';
}

/**
 * Checks TEXT as NAME's new config: it parses and validates, and the fixed
 * keys keep OLD's values. Returns the new config.
 */
export function checkNewConfig(
  old: ContainerConfig,
  text: string,
  where: string,
  name: string,
): ContainerConfig {
  const next = parseConfig(text, { path: where });
  for (const key of FIXED_KEYS) {
    const before = CONFIG_KEYS[key]!.get!(old).join(', ');
    const after = CONFIG_KEYS[key]!.get!(next).join(', ');
    if (before !== after) {
      throw new IglooError(
        'EINVAL',
        `Cannot change ${key} of "${name}": it is fixed when the container is made`,
        {
          op: 'config',
          path: where,
          subject: key,
          hint:
            key === 'igloo.name'
              ? `Rename it: igloo rename ${name} NEW`
              : `Keep ${key} = ${before || '(unset)'}; make a new container for another one`,
        },
      );
    }
  }
  return next;
}

async function replaceConfig(
  user: UserContainers,
  name: string,
  change: (old: ContainerConfig) => Promise<string> | string,
): Promise<ContainerConfig> {
  const paths = user.paths(name);
  await readConfig(paths, name); // a clear error for a missing container, before locking
  return withContainerLock(paths, async () => {
    const old = await readConfig(paths, name);
    const text = await change(old);
    const next = checkNewConfig(old, text, paths.config, name);
    await replaceFileAtomically(paths.config, formatConfig(next), { mode: 0o644 });
    return next;
  });
}

/** `set KEY=VALUE`: every value of KEY becomes VALUE; checked before it is written. */
export function configSet(
  user: UserContainers,
  name: string,
  assignment: string,
): Promise<ContainerConfig> {
  const eq = assignment.indexOf('=');
  if (eq <= 0) {
    throw new IglooError('EINVAL', `Cannot set "${assignment}": expected KEY=VALUE`, {
      op: 'config set',
      subject: assignment,
      hint: 'For example: igloo config NAME set igloo.hostname=www',
    });
  }
  const key = assignment.slice(0, eq).trim();
  const value = assignment.slice(eq + 1).trim();
  requireKey(key, 'set');
  // The value alone first, so its error names the key rather than a line.
  if (value !== '') parseConfigText(`${key} = ${value}`, { path: `${key}=${value}` });
  return replaceConfig(user, name, (old) => withValue(old, key, value));
}

/**
 * `edit`: a copy of the config (DATA/containers/NAME/config.edit-*, in the
 * owner's private directory) goes to EDIT (the CLI runs $EDITOR on it);
 * what comes back is checked and written, or refused with the copy kept
 * for another try (the error names it).
 */
export async function configEdit(
  user: UserContainers,
  name: string,
  edit: (path: string) => Promise<void>,
): Promise<{ config: ContainerConfig; changed: boolean }> {
  const paths = user.paths(name);
  const current = await readConfig(paths, name);
  const copy = join(paths.dir, `config.edit-${uniqueSuffix()}`);
  const original = formatConfig(current);
  const fh = await open(
    copy,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    0o600,
  );
  try {
    await fh.writeFile(original);
  } finally {
    await fh.close();
  }
  await edit(copy);
  const text = await readFile(copy, 'utf8');
  if (text === original) {
    await rm(copy, { force: true });
    return { config: current, changed: false };
  }
  try {
    const config = await replaceConfig(user, name, () => text);
    await rm(copy, { force: true });
    return { config, changed: true };
  } catch (err) {
    if (err instanceof IglooError) {
      throw new IglooError(err.code, `${err.message} (nothing was changed)`, {
        op: 'config edit',
        path: copy,
        subject: name,
        hint: `${err.hint ? `${err.hint}. ` : ''}Your edit is kept in ${copy} (remove it when done); run igloo config ${name} edit again`,
      });
    }
    throw err;
  }
}
