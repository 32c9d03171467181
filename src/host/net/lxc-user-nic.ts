/**
 * Users on a bridge, through LXC's vetted setuid helper (no setuid program of
 * igloo's): root's `igloo net grant` writes the quota into /etc/lxc/lxc-usernet
 * (under `<file>.lock`, atomically, other lines kept), and a user's igloo
 * runs `lxc-user-nic create LXCPATH NAME PID veth BRIDGE eth0`, which checks
 * the quota and that the caller may enter PID's network namespace, makes the
 * veth pair, puts one end in the container as eth0 and the other (named
 * `veth<UID>_xxxx`) on the bridge, and prints `eth0:IFINDEX:HOSTVETH:IFINDEX`.
 * A veth dies with its namespace, and lxc-user-nic counts only live ones, so
 * a container killed without a detach gives its quota back by itself.
 *
 * Root's DATA is 0700, so what a user needs (the bridge's subnet, gateway,
 * and the user's block of addresses) is published world-readable, one JSON
 * file per bridge in the directory `igloo-net` beside the usernet file.
 */
import { mkdir, readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { IglooError } from '../../core/errors.ts';
import { validateBridgeName, type BridgeDef, type BridgeGrant } from '../../core/net/bridge.ts';
import { removeUsernetGrant, setUsernetGrant } from '../../core/net/usernet-file.ts';
import { errnoOf, sysError } from '../errno.ts';
import { readTextOrEmpty, replaceFileAtomically, withFileLock } from '../files.ts';
import { runTool } from './bridge-tools.ts';

export interface UsernetPaths {
  /** /etc/lxc/lxc-usernet, the file lxc-user-nic reads. */
  readonly file: string;
  /** /etc/lxc/igloo-net: one public BRIDGE.json per bridge. */
  readonly publicDir: string;
}

export const LXC_USER_NIC = '/usr/libexec/lxc/lxc-user-nic';

/** The files, or their copies under IGLOO_LXC_USERNET (tests of the editing; lxc-user-nic itself always reads /etc/lxc/lxc-usernet). */
export function usernetPaths(env: { IGLOO_LXC_USERNET?: string } = process.env): UsernetPaths {
  const file = env.IGLOO_LXC_USERNET ?? '/etc/lxc/lxc-usernet';
  return { file, publicDir: join(dirname(file), 'igloo-net') };
}

/** Sets the user's quota line; returns how to put the old text back. */
export async function usernetGrant(
  paths: UsernetPaths,
  req: { user: string; bridge: string; count: number },
): Promise<{ restore: () => Promise<void> }> {
  await mkdir(dirname(paths.file), { recursive: true, mode: 0o755 });
  return withFileLock(paths.file, async () => {
    const before = await readTextOrEmpty(paths.file);
    await replaceFileAtomically(paths.file, setUsernetGrant(before, req), { mode: 0o644 });
    return {
      restore: () =>
        withFileLock(paths.file, () => replaceFileAtomically(paths.file, before, { mode: 0o644 })),
    };
  });
}

/** Removes the user's veth lines (of one bridge, or all); returns how many. */
export async function usernetRevoke(
  paths: UsernetPaths,
  req: { user: string; bridge?: string },
): Promise<number> {
  return withFileLock(paths.file, async () => {
    const before = await readTextOrEmpty(paths.file);
    const { text, removed } = removeUsernetGrant(before, req);
    if (removed.length) await replaceFileAtomically(paths.file, text, { mode: 0o644 });
    return removed.length;
  });
}

/** What a user reads about a bridge. */
export interface PublishedBridge {
  readonly bridge: BridgeDef;
  readonly grants: readonly BridgeGrant[];
}

export async function publishBridge(
  paths: UsernetPaths,
  def: BridgeDef,
  grants: readonly BridgeGrant[],
): Promise<void> {
  await mkdir(paths.publicDir, { recursive: true, mode: 0o755 });
  const text = `${JSON.stringify({ bridge: def, grants } satisfies PublishedBridge, null, 2)}\n`;
  await replaceFileAtomically(join(paths.publicDir, `${def.name}.json`), text, { mode: 0o644 });
}

export async function unpublishBridge(paths: UsernetPaths, name: string): Promise<void> {
  await rm(join(paths.publicDir, `${validateBridgeName(name)}.json`), { force: true });
}

/** A bridge as root published it, for a user's attach. */
export async function readPublished(
  paths: UsernetPaths,
  name: string,
  op = 'attach',
): Promise<PublishedBridge> {
  const path = join(paths.publicDir, `${validateBridgeName(name, op)}.json`);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') {
      throw new IglooError('ENOENT', `Bridge "${name}" does not exist`, {
        op,
        subject: name,
        path,
        hint: 'An administrator creates one with: igloo net create NAME --subnet 10.x.y.0/24, and grants it with igloo net grant',
      });
    }
    throw sysError(err, op, path);
  }
  return JSON.parse(text) as PublishedBridge;
}

/**
 * lxc-user-nic create, as the calling user: returns the host end's name.
 * Over the quota (or with no grant) it refuses, and leaves nothing behind.
 */
export async function userNicCreate(req: {
  user: string;
  container: string;
  pid: number;
  bridge: string;
  lxcpath: string;
}): Promise<{ hostVeth: string }> {
  const r = await runTool([
    LXC_USER_NIC,
    'create',
    req.lxcpath,
    req.container,
    String(req.pid),
    'veth',
    req.bridge,
    'eth0',
  ]);
  if (r.status === 0) {
    const fields = r.stdout.trim().split(':');
    if (fields.length === 4 && fields[0] === 'eth0') return { hostVeth: fields[2]! };
  }
  const said = (r.stderr || r.stdout).trim();
  if (/Quota reached/i.test(said)) {
    throw new IglooError(
      'ENOSPACE',
      `Cannot attach "${req.container}" to bridge "${req.bridge}": ${req.user} has as many interfaces on it as /etc/lxc/lxc-usernet allows`,
      {
        op: 'attach',
        subject: req.container,
        path: '/etc/lxc/lxc-usernet',
        hint: `Stop another of your containers on "${req.bridge}", or ask the administrator for more: sudo igloo net grant ${req.user} --bridge ${req.bridge} --count N`,
      },
    );
  }
  throw new IglooError(
    'ESYS',
    `Cannot attach "${req.container}" to bridge "${req.bridge}": lxc-user-nic said: ${said.split('\n').slice(-2).join('; ')}`,
    {
      op: 'attach',
      subject: req.container,
      hint: `Check that the administrator granted you the bridge (igloo net grant ${req.user} --bridge ${req.bridge} --count N) and that lxc is installed`,
    },
  );
}
