/**
 * What user-mode networking needs of the host, for the caller: slirp4netns
 * (Debian's `slirp4netns`), and /dev/net/tun open to them (the tool opens it
 * inside the container's namespaces with the caller's host ids: a 0600
 * device of root's refuses every user; Debian's udev rule makes it 0666).
 * `igloo check` reports it; create picks its default network from it.
 */
import { access, constants, stat } from 'node:fs/promises';
import { IglooError } from '../../core/errors.ts';

export const TUN_DEVICE = '/dev/net/tun';
/** Fixed places only: the caller's PATH decides nothing a root process runs. */
const TOOL_DIRS = ['/usr/bin', '/bin', '/usr/local/bin'];

export interface UserNetProbe {
  /** slirp4netns's absolute path, if installed. */
  readonly slirp4netns?: string;
  /** pasta's, for the record (docs/network.md: measured, not used). */
  readonly pasta?: string;
  readonly tun: { readonly usable: boolean; readonly detail: string };
}

async function executable(name: string): Promise<string | undefined> {
  for (const dir of TOOL_DIRS) {
    const path = `${dir}/${name}`;
    try {
      await access(path, constants.X_OK);
      return path;
    } catch {
      // not here
    }
  }
  return undefined;
}

async function tunState(): Promise<UserNetProbe['tun']> {
  let mode: string;
  try {
    const st = await stat(TUN_DEVICE);
    mode = `mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}, owner uid ${st.uid}`;
  } catch {
    return { usable: false, detail: `${TUN_DEVICE} does not exist` };
  }
  try {
    // access(2) checks the real ids and honours an ACL (setfacl -m u:USER:rw).
    await access(TUN_DEVICE, constants.R_OK | constants.W_OK);
    return { usable: true, detail: `${TUN_DEVICE} is usable (${mode})` };
  } catch {
    return { usable: false, detail: `${TUN_DEVICE} is not open to you (${mode})` };
  }
}

export async function probeUserNet(): Promise<UserNetProbe> {
  const [slirp4netns, pasta, tun] = await Promise.all([
    executable('slirp4netns'),
    executable('pasta'),
    tunState(),
  ]);
  return {
    ...(slirp4netns !== undefined && { slirp4netns }),
    ...(pasta !== undefined && { pasta }),
    tun,
  };
}

export const TUN_FIX =
  "As root: chmod 0666 /dev/net/tun (what Debian's udev rule does; opening it gives no privilege), or for one user: setfacl -m u:USER:rw /dev/net/tun";
export const SLIRP_FIX = 'As root: apt-get install slirp4netns';

/** Why user mode cannot run for the caller, with the fix; undefined when it can. */
export function userNetProblem(probe: UserNetProbe): { why: string; fix: string } | undefined {
  if (!probe.slirp4netns) return { why: 'slirp4netns is not installed', fix: SLIRP_FIX };
  if (!probe.tun.usable) return { why: probe.tun.detail, fix: TUN_FIX };
  return undefined;
}

/** slirp4netns's path, or an EHOST error saying what the host lacks. */
export async function requireSlirp(container: string): Promise<string> {
  const probe = await probeUserNet();
  const problem = userNetProblem(probe);
  if (problem)
    throw new IglooError(
      'EHOST',
      `Cannot start the user-mode network of "${container}": ${problem.why}`,
      {
        op: 'attach user network',
        subject: container,
        hint: `${problem.fix}; or use --net private`,
      },
    );
  return probe.slirp4netns!;
}
