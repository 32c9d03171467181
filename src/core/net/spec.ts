/**
 * A container's network, as data (issue 14; docs/network.md):
 *
 *   none                 a network namespace with no interface up, not even lo
 *   private              lo only (a container made before igloo.net existed)
 *   user[,host-loopback] user-mode networking (slirp4netns) run by the owner;
 *                        the host's loopback is refused unless asked for
 *   bridge[=NAME]        a veth on a host bridge (lifecycle/net-bridge.ts)
 *
 * and its port forwards, `-p [IP:]HOST:CONTAINER[/tcp|udp]` (HOST and
 * CONTAINER may be ranges of the same length, `8080-8081:80-81`). Parsers
 * throw IglooError EINVAL naming the bad input; formatters are their
 * inverse (parse(format(x)) equals x).
 */
import { IglooError } from '../errors.ts';

export type NetMode = 'none' | 'private' | 'user' | 'bridge';
export const NET_MODES: readonly NetMode[] = ['none', 'private', 'user', 'bridge'];

export type NetSpec =
  | { readonly mode: 'none' }
  | { readonly mode: 'private' }
  | { readonly mode: 'user'; readonly hostLoopback: boolean }
  | { readonly mode: 'bridge'; readonly bridge: string };

export type PortProtocol = 'tcp' | 'udp';

export interface PortForward {
  /** The host address the forward listens on (IPv4); 127.0.0.1 unless given. */
  readonly hostIp: string;
  readonly hostPort: number;
  readonly containerPort: number;
  /** Ports in the range (1 for a single port): hostPort..hostPort+count-1. */
  readonly count: number;
  readonly protocol: PortProtocol;
}

/** Who and where, for the network code: the owner's name, the container's name, its run directory. */
export interface NetPaths {
  readonly owner: string;
  readonly container: string;
  readonly rundir: string;
}

/** The bridge `bridge` names without `=NAME`. */
export const DEFAULT_BRIDGE = 'igloo0';
/** Where a port forward listens unless it names an address: only this host. */
export const DEFAULT_PUBLISH_IP = '127.0.0.1';
/** A range longer than this is refused (each port is a listening socket). */
export const MAX_PORT_RANGE = 1024;

/** Linux interface names: 1-15 bytes; igloo also refuses dots, so no "." or "..". */
const BRIDGE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,14}$/;

const MODE_HINT =
  'Use one of: none, private, user, user,host-loopback, bridge, bridge=NAME (docs/network.md)';

function badNet(value: string, why: string, hint = MODE_HINT): IglooError {
  return new IglooError('EINVAL', `Cannot use network "${value}": ${why}`, {
    op: 'parse network',
    subject: value,
    hint,
  });
}

/** Parses `--net MODE` / `igloo.net = MODE`. */
export function parseNetSpec(value: string): NetSpec {
  const text = value.trim();
  const [head = '', ...options] = text.split(',').map((s) => s.trim());
  const eq = head.indexOf('=');
  const mode = eq < 0 ? head : head.slice(0, eq);
  const arg = eq < 0 ? undefined : head.slice(eq + 1);
  if (!(NET_MODES as readonly string[]).includes(mode))
    throw badNet(value, mode === '' ? 'no mode given' : `unknown mode "${mode}"`);
  if (mode === 'bridge') {
    if (options.length) throw badNet(value, `bridge takes no option "${options[0]}"`);
    const bridge = arg ?? DEFAULT_BRIDGE;
    if (!BRIDGE_NAME.test(bridge))
      throw badNet(
        value,
        `"${bridge}" is not a bridge name`,
        'A bridge name is 1-15 letters, digits, "-" or "_", starting with a letter or digit',
      );
    return { mode: 'bridge', bridge };
  }
  if (arg !== undefined) throw badNet(value, `${mode} takes no "=${arg}"`);
  if (mode === 'user') {
    let hostLoopback = false;
    for (const o of options) {
      if (o === 'host-loopback') hostLoopback = true;
      else throw badNet(value, `unknown user-mode option "${o}"`);
    }
    return { mode: 'user', hostLoopback };
  }
  if (options.length) throw badNet(value, `${mode} takes no option "${options[0]}"`);
  return mode === 'none' ? { mode: 'none' } : { mode: 'private' };
}

export function formatNetSpec(spec: NetSpec): string {
  switch (spec.mode) {
    case 'none':
    case 'private':
      return spec.mode;
    case 'user':
      return spec.hostLoopback ? 'user,host-loopback' : 'user';
    case 'bridge':
      return spec.bridge === DEFAULT_BRIDGE ? 'bridge' : `bridge=${spec.bridge}`;
  }
}

const PUBLISH_HINT =
  'Write -p [IP:]HOST:CONTAINER[/tcp|udp], e.g. -p 8080:80, -p 127.0.0.1:8080:80/tcp, -p 5000-5001:5000-5001/udp';

function badPort(value: string, why: string): IglooError {
  return new IglooError('EINVAL', `Cannot publish "${value}": ${why}`, {
    op: 'parse port forward',
    subject: value,
    hint: PUBLISH_HINT,
  });
}

/** "80" or "8000-8010" -> [first, count]; ports are 1..65535. */
function portRange(value: string, text: string, side: string): [number, number] {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(text);
  if (!m) throw badPort(value, `${side} port "${text}" is not a port or a range`);
  const first = Number(m[1]);
  const last = m[2] === undefined ? first : Number(m[2]);
  for (const p of [first, last])
    if (p < 1 || p > 65535) throw badPort(value, `${side} port ${p} is not in 1-65535`);
  if (last < first) throw badPort(value, `${side} range ${text} ends before it starts`);
  if (last - first + 1 > MAX_PORT_RANGE)
    throw badPort(value, `${side} range ${text} has more than ${MAX_PORT_RANGE} ports`);
  return [first, last - first + 1];
}

/** A dotted-quad IPv4 address without leading zeros. */
export function isIPv4(text: string): boolean {
  const parts = text.split('.');
  return parts.length === 4 && parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255);
}

/** Parses `-p [IP:]HOST:CONTAINER[/tcp|udp]` / `igloo.net.port = ...`. */
export function parsePortForward(value: string): PortForward {
  const text = value.trim();
  const slash = text.indexOf('/');
  const body = slash < 0 ? text : text.slice(0, slash);
  const proto = slash < 0 ? 'tcp' : text.slice(slash + 1);
  if (proto !== 'tcp' && proto !== 'udp')
    throw badPort(value, `protocol "${proto}" is not tcp or udp`);
  if (body.startsWith('['))
    throw badPort(value, 'IPv6 host addresses are not supported (user mode forwards IPv4)');
  const parts = body.split(':');
  if (parts.length < 2 || parts.length > 3)
    throw badPort(value, 'expected HOST:CONTAINER or IP:HOST:CONTAINER');
  const [hostIp, hostText, containerText] =
    parts.length === 3 ? (parts as [string, string, string]) : [DEFAULT_PUBLISH_IP, ...parts];
  if (!isIPv4(hostIp!)) throw badPort(value, `"${hostIp}" is not an IPv4 address`);
  const [hostPort, count] = portRange(value, hostText!, 'host');
  const [containerPort, containerCount] = portRange(value, containerText!, 'container');
  if (count !== containerCount)
    throw badPort(value, `the host range has ${count} ports and the container's ${containerCount}`);
  return { hostIp: hostIp!, hostPort, containerPort, count, protocol: proto };
}

export function formatPortForward(p: PortForward): string {
  const range = (first: number) => (p.count === 1 ? `${first}` : `${first}-${first + p.count - 1}`);
  return `${p.hostIp}:${range(p.hostPort)}:${range(p.containerPort)}/${p.protocol}`;
}

/** The single-port forwards a (possibly ranged) list stands for, in order. */
export function expandPortForwards(ports: readonly PortForward[]): PortForward[] {
  return ports.flatMap((p) =>
    Array.from({ length: p.count }, (_, i) => ({
      ...p,
      hostPort: p.hostPort + i,
      containerPort: p.containerPort + i,
      count: 1,
    })),
  );
}

/**
 * What is wrong with NET and PORTS together, or undefined: forwards need a
 * mode with an interface to forward to, and no host port may be claimed
 * twice (on the same address and protocol, or on 0.0.0.0 and another).
 */
export function netProblem(
  net: NetSpec,
  ports: readonly PortForward[],
): { problem: string; hint: string } | undefined {
  if (ports.length && net.mode !== 'user' && net.mode !== 'bridge')
    return {
      problem: `port forwards need the user or bridge network, not "${net.mode}"`,
      hint: 'Add --net user (or bridge), or remove the -p options',
    };
  // host port/protocol -> the addresses it is forwarded on so far
  const seen = new Map<string, string[]>();
  for (const p of expandPortForwards(ports)) {
    const key = `${p.hostPort}/${p.protocol}`;
    const ips = seen.get(key) ?? [];
    const clash = ips.find((ip) => ip === p.hostIp || ip === '0.0.0.0' || p.hostIp === '0.0.0.0');
    if (clash !== undefined)
      return {
        problem: `host port ${key} is forwarded twice (on ${clash} and ${p.hostIp})`,
        hint: 'Give each forward a host port of its own',
      };
    seen.set(key, [...ips, p.hostIp]);
  }
  return undefined;
}
