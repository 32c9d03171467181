/**
 * The host tools bridge mode drives: `ip -batch -` (one exec for a whole
 * list of link and address changes: each exec of ip costs 5-7 ms here),
 * `nft -f -` (one atomic transaction), nsenter (to run ip inside a
 * container's network namespace) and LXC's setuid lxc-user-nic. Each call
 * is an execFile with an argument vector (no shell); a failure becomes an
 * IglooError naming the tool, the operation and the tool's own message.
 */
import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { IglooError } from '../../core/errors.ts';
import { sysError } from '../errno.ts';
import { runHelperTool } from '../helper.ts';

export interface ToolResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly status: number | null;
}

const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Runs a tool with `input` on stdin; never throws for a non-zero status. */
export function runTool(argv: readonly string[], input = ''): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { PATH, LANG: 'C' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (err) =>
      reject(
        new IglooError('EHOST', `Cannot run ${argv[0]}: ${err.message}`, {
          op: argv[0],
          cause: err,
          hint: 'Install it: sudo ./scripts/install.sh (iproute2, nftables, util-linux, lxc)',
        }),
      ),
    );
    child.on('close', (status) => resolve({ stdout, stderr, status }));
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

/** Runs a tool and throws an ESYS IglooError (op, subject, the tool's message) when it fails. */
export async function mustRun(
  argv: readonly string[],
  input: string,
  what: { op: string; subject: string; hint?: string },
): Promise<ToolResult> {
  const r = await runTool(argv, input);
  if (r.status !== 0) {
    const said = (r.stderr || r.stdout).trim().split('\n').slice(-3).join('; ');
    throw new IglooError('ESYS', `Cannot ${what.op} ${what.subject}: ${argv[0]} said: ${said}`, {
      op: what.op,
      subject: what.subject,
      ...(what.hint !== undefined && { hint: what.hint }),
    });
  }
  return r;
}

/** `ip -batch -` on the host, or inside the network namespace of `netns.pid` (as root, or as the owner through its user namespace). */
export function ipBatch(
  lines: readonly string[],
  what: { op: string; subject: string; hint?: string },
  netns?: { pid: number; userns: boolean },
): Promise<ToolResult> {
  const ip = ['ip', '-batch', '-'];
  const argv = netns
    ? [
        'nsenter',
        `--target=${netns.pid}`,
        // As the owner: root of the container's user namespace (nsenter's
        // default setuid(0)), so ip keeps CAP_NET_ADMIN there across exec.
        ...(netns.userns ? ['--user'] : []),
        '--net',
        '--',
        ...ip,
      ]
    : ip;
  return mustRun(argv, `${lines.join('\n')}\n`, what);
}

/**
 * `igloo-helper netlink MODE ARGS...` (src/native/netlink.c): bridge mode's
 * veth, addresses, route and anti-spoofing elements over netlink, in one
 * process of about a millisecond instead of an exec of ip or nft each
 * (5-10 ms). Throws an ESYS IglooError with the helper's own line (the step
 * and the errno) when it fails.
 */
export async function netlinkHelper(
  args: readonly string[],
  what: { op: string; subject: string; hint?: string },
): Promise<void> {
  const r = await runHelperTool(['netlink', ...args], `${what.op} ${what.subject}`);
  if (r.code !== 0) {
    const said = r.stderr.trim().replace(/^igloo-helper netlink: /, '') || `exit ${r.code}`;
    throw new IglooError('ESYS', `Cannot ${what.op} ${what.subject}: ${said}`, {
      op: what.op,
      subject: what.subject,
      ...(what.hint !== undefined && { hint: what.hint }),
    });
  }
}

/**
 * The names of the host's network interfaces: /sys/class/net of the host's
 * sysfs (no exec of ip, which costs 5-7 ms).
 */
export async function hostLinks(): Promise<Set<string>> {
  try {
    return new Set(await readdir('/sys/class/net'));
  } catch (err) {
    throw sysError(err, 'list interfaces', '/sys/class/net');
  }
}

/** Every IPv4 network on a host interface, as "interface address/prefix". */
export async function hostNetworks(): Promise<{ ifname: string; cidr: string }[]> {
  const r = await mustRun(['ip', '-j', '-4', 'addr', 'show'], '', {
    op: 'list',
    subject: 'addresses',
  });
  const links = JSON.parse(r.stdout) as {
    ifname: string;
    addr_info?: { local: string; prefixlen: number }[];
  }[];
  return links.flatMap((l) =>
    (l.addr_info ?? []).map((a) => ({ ifname: l.ifname, cidr: `${a.local}/${a.prefixlen}` })),
  );
}
