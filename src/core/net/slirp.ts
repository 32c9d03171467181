/**
 * user mode through slirp4netns (docs/network.md says why slirp4netns and
 * not pasta): its command line, the API messages that add port forwards,
 * and the addresses it gives the container. Pure: lifecycle/net-user.ts
 * runs it (as the helper's sidecar, src/native/sidecar.c).
 */
import { expandPortForwards, type PortForward } from './spec.ts';

/** slirp4netns's fixed network (its defaults): the container is 10.0.2.100. */
export const SLIRP = {
  cidr: '10.0.2.0/24',
  address: '10.0.2.100',
  /** The host's loopback when host-loopback is allowed. */
  gateway: '10.0.2.2',
  dns: '10.0.2.3',
  interface: 'eth0',
  /** The largest MTU slirp4netns allows but one: 1500 costs 3-4x the throughput. */
  mtu: 65520,
} as const;

/** The container's /etc/resolv.conf in user mode: slirp4netns's DNS forwarder. */
export const SLIRP_RESOLV_CONF = `# written by igloo at start (user-mode network, docs/network.md)\nnameserver ${SLIRP.dns}\n`;

/**
 * slirp4netns's argv as the sidecar runs it: fd 3 is its ready pipe, fd 4
 * init's network namespace and fd 5 init's user namespace (no pid is named,
 * so a recycled pid can never redirect a restart). A short-lived child of
 * slirp4netns joins both to make the tap device and hands it back; the
 * process that stays is wholly in the host's namespaces, out of reach of
 * the container's root. --enable-sandbox is for root only: for a user it
 * moves that process into the container's user namespace (whose root
 * would have CAP_SYS_PTRACE over it), and it has no capability to drop
 * anyway. --enable-seccomp always.
 */
export function slirpArgv(opts: {
  binary: string;
  hostLoopback: boolean;
  /** The API socket, for port forwards. */
  apiSocket?: string;
  /** --enable-sandbox: root only (unshare(CLONE_NEWNS) needs the capability). */
  sandbox: boolean;
}): string[] {
  return [
    opts.binary,
    '--configure',
    `--mtu=${SLIRP.mtu}`,
    ...(opts.hostLoopback ? [] : ['--disable-host-loopback']),
    ...(opts.sandbox ? ['--enable-sandbox'] : []),
    '--enable-seccomp',
    '--ready-fd=3',
    ...(opts.apiSocket !== undefined ? [`--api-socket=${opts.apiSocket}`] : []),
    '--netns-type=path',
    '--userns-path=/proc/self/fd/5',
    '/proc/self/fd/4',
    SLIRP.interface,
  ];
}

/** One add_hostfwd request per port (slirp4netns forwards single ports). */
export function hostfwdMessages(ports: readonly PortForward[]): string[] {
  return expandPortForwards(ports).map((p) =>
    JSON.stringify({
      execute: 'add_hostfwd',
      arguments: {
        proto: p.protocol,
        host_addr: p.hostIp,
        host_port: p.hostPort,
        guest_addr: SLIRP.address,
        guest_port: p.containerPort,
      },
    }),
  );
}
