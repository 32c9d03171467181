/**
 * user mode (docs/network.md): slirp4netns, run by the owner as the
 * helper's sidecar (src/native/sidecar.c). Before the helper runs, this
 * module checks the host (host/net/user-mode.ts) and the forwards, and
 * hands the plan its sidecar (argv, API calls for the forwards) and the
 * container's /etc/resolv.conf, written by the container's own process
 * beneath its root (a `writefile` step: a link in the rootfs can never make
 * a host process write outside it). After init is gone, detachUserNet
 * makes sure the supervisor and slirp4netns are gone too.
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { IglooError } from '../core/errors.ts';
import { hostfwdMessages, slirpArgv, SLIRP_RESOLV_CONF } from '../core/net/slirp.ts';
import type { NetPaths, NetSpec, PortForward } from '../core/net/spec.ts';
import type { NetLaunch } from '../core/plan/plan.ts';
import { probeUserNet, requireSlirp, userNetProblem } from '../host/net/user-mode.ts';
import { ensurePrivateDir } from './paths.ts';

/** sockaddr_un's sun_path holds 107 bytes and a NUL. */
const SUN_PATH_MAX = 107;

async function unprivilegedPortStart(): Promise<number> {
  try {
    return Number((await readFile('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8')).trim());
  } catch {
    return 1024;
  }
}

export async function prepareUserNet(
  net: Extract<NetSpec, { mode: 'user' }>,
  ports: readonly PortForward[],
  paths: NetPaths,
): Promise<NetLaunch> {
  const binary = await requireSlirp(paths.container);
  const uid = process.geteuid?.() ?? 0;
  if (uid !== 0 && ports.length) {
    const first = await unprivilegedPortStart();
    const low = ports.find((p) => p.hostPort < first);
    if (low)
      throw new IglooError(
        'EPERM',
        `Cannot forward host port ${low.hostPort} to "${paths.container}": ports below ${first} are root's on this host`,
        {
          op: 'attach user network',
          subject: String(low.hostPort),
          hint: `Use a host port of ${first} or above (e.g. -p ${first + 7056}:${low.containerPort})`,
        },
      );
  }
  await ensurePrivateDir(paths.rundir);
  const apiSocket = join(paths.rundir, 'slirp4netns.sock');
  if (ports.length && apiSocket.length > SUN_PATH_MAX)
    throw new IglooError(
      'EINVAL',
      `Cannot forward ports to "${paths.container}": the socket path ${apiSocket} is longer than ${SUN_PATH_MAX} bytes`,
      {
        op: 'attach user network',
        path: apiSocket,
        hint: 'Use a shorter container name, or set XDG_RUNTIME_DIR to a shorter directory',
      },
    );
  return {
    sidecar: {
      dir: paths.rundir,
      argv: slirpArgv({
        binary,
        hostLoopback: net.hostLoopback,
        sandbox: uid === 0,
        ...(ports.length && { apiSocket }),
      }),
      calls: hostfwdMessages(ports).map((message) => ({ socket: apiSocket, message })),
    },
    files: [{ path: '/etc/resolv.conf', mode: 0o644, data: SLIRP_RESOLV_CONF }],
  };
}

/** The supervisor's and slirp4netns's pids (RUNDIR/sidecar.pid), if the file is there. */
async function sidecarPids(rundir: string): Promise<number[]> {
  let text: string;
  try {
    text = await readFile(join(rundir, 'sidecar.pid'), 'utf8');
  } catch {
    return [];
  }
  return text
    .trim()
    .split(/\s+/)
    .map(Number)
    .filter((n) => Number.isInteger(n) && n > 1);
}

/** True while PID is one of ours: our uid, and the supervisor or slirp4netns. */
async function isOurSidecar(pid: number, uid: number): Promise<boolean> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const name = /^Name:\s*(.*)$/m.exec(status)?.[1];
    const ruid = Number(/^Uid:\s*(\d+)/m.exec(status)?.[1]);
    const state = /^State:\s*(\S)/m.exec(status)?.[1];
    return ruid === uid && state !== 'Z' && (name === 'igloo-sidecar' || name === 'slirp4netns');
  } catch {
    return false;
  }
}

/**
 * After init is gone: the supervisor stops slirp4netns as soon as it sees
 * init exit; this waits for that (up to two seconds), kills what is left,
 * and removes the pid file, so a stop or destroy returns with nothing of
 * the network left behind.
 */
export async function detachUserNet(paths: NetPaths): Promise<void> {
  const uid = process.geteuid?.() ?? 0;
  const pids = await sidecarPids(paths.rundir);
  const alive = async () =>
    (await Promise.all(pids.map((p) => isOurSidecar(p, uid)))).some(Boolean);
  for (let i = 0; i < 200 && (await alive()); i++) await new Promise((r) => setTimeout(r, 10));
  for (const pid of pids) {
    if (await isOurSidecar(pid, uid)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
  }
  await rm(join(paths.rundir, 'sidecar.pid'), { force: true });
}

/** user mode when the host lets the caller run it, else private (with the reason). */
export async function userNetDefault(): Promise<{ net: NetSpec; why: string }> {
  const problem = userNetProblem(await probeUserNet());
  return problem
    ? {
        net: { mode: 'private' },
        why: `user mode is not available (${problem.why}); ${problem.fix}`,
      }
    : { net: { mode: 'user', hostLoopback: false }, why: 'slirp4netns' };
}
