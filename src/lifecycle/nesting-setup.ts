/**
 * The files that make a container a host for containers of its own
 * (igloo.nesting): subordinate ids from its map, and igloo on its PATH.
 */
import { IglooError } from '../core/errors.ts';
import { mkdirBeneath, readFileBeneath, unlinkBeneath, writeFileBeneath } from '../host/beneath.ts';
import { NESTED_IGLOO_DIR } from './paths.ts';

/**
 * Makes a container a host for containers of its own: users made inside get
 * subordinate ids from the container's map (above its own 0..65535) exactly
 * as users on the host do, through useradd and /etc/login.defs, and
 * `igloo` is on PATH.
 *
 * The rootfs is the image's: etc/login.defs or etc/subuid may be links
 * (to /root/.ssh/authorized_keys, say) or FIFOs. Every access goes through
 * host/beneath.ts, which resolves links with the rootfs as "/" and writes
 * regular files only. `owner`: the ids new files and directories get when
 * root does this on the host (root's containers, see runUsernsTask).
 */
export function setupNesting(
  rootfs: string,
  size: number,
  owner?: { uid: number; gid: number },
): void {
  const o = { op: 'set up nesting in', ...(owner && { owner }) };
  for (const file of ['etc/subuid', 'etc/subgid']) {
    writeFileBeneath(rootfs, file, '', { ...o, append: true, mode: 0o644 });
  }
  let defs = '';
  try {
    defs = readFileBeneath(rootfs, 'etc/login.defs', o).toString('utf8');
  } catch (err) {
    if (!(err instanceof IglooError && err.code === 'ENOENT')) throw err;
  }
  const settings: Record<string, number> = {
    SUB_UID_MIN: 65536,
    SUB_UID_MAX: size - 1,
    SUB_UID_COUNT: 65536,
    SUB_GID_MIN: 65536,
    SUB_GID_MAX: size - 1,
    SUB_GID_COUNT: 65536,
  };
  const kept = defs
    .split('\n')
    .filter((l) => !Object.keys(settings).some((k) => new RegExp(`^\\s*${k}\\b`).test(l)));
  const added = Object.entries(settings).map(([k, v]) => `${k}\t${v}`);
  writeFileBeneath(
    rootfs,
    'etc/login.defs',
    [
      ...kept.filter((l, i) => l !== '' || i < kept.length - 1),
      "# igloo: subordinate ids come from this container's map",
      ...added,
      '',
    ].join('\n'),
    { ...o, mode: 0o644 },
  );
  mkdirBeneath(rootfs, 'usr/local/bin', { ...o, mode: 0o755 });
  unlinkBeneath(rootfs, 'usr/local/bin/igloo', o);
  // igloo's native front (bin/igloo: prepared exec and run plans, else
  // node igloo.mjs), with the bound node first in PATH: a script, so that
  // the image's own PATH need not include /usr/local/bin.
  writeFileBeneath(
    rootfs,
    'usr/local/bin/igloo',
    `#!/bin/sh\nPATH=/usr/local/bin:$PATH exec ${NESTED_IGLOO_DIR}/bin/igloo "$@"\n`,
    { ...o, mode: 0o755 },
  );
}
