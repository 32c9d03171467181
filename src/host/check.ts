/**
 * The host doctor behind `igloo check`, in the spirit of lxc-checkconfig:
 * every check says what it found and, when it fails, how to fix it.
 */
import { readFile, stat } from 'node:fs/promises';
import { countIds, formatRange } from '../core/idmap/index.ts';
import { helperVersion } from './helper.ts';
import { readDelegation, subidPaths, readSubidReport } from './subid.ts';
import { currentUser } from './users.ts';
import { detectCgroups } from './cgroup.ts';
import { criuCheckResult } from './criu.ts';
import { probeUserNet, userNetProblem } from './net/user-mode.ts';
import { bridgeChecks } from './net/bridge-check.ts';
import { checkCgroupLimits } from './cgroups/check.ts';

export type CheckStatus = 'ok' | 'warn' | 'fail';
export interface CheckResult {
  readonly name: string;
  readonly status: CheckStatus;
  readonly detail: string;
  readonly fix?: string;
}

async function readNumber(path: string): Promise<number | undefined> {
  try {
    return Number((await readFile(path, 'utf8')).trim());
  } catch {
    return undefined;
  }
}

export async function findOnPath(name: string): Promise<string | undefined> {
  for (const dir of (
    process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
  ).split(':')) {
    if (!dir) continue;
    const path = `${dir}/${name}`;
    try {
      const st = await stat(path);
      if (st.isFile() && st.mode & 0o111) return path;
    } catch {
      // not here
    }
  }
  return undefined;
}

async function checkUserNamespaces(): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  const max = await readNumber('/proc/sys/user/max_user_namespaces');
  out.push(
    max === undefined
      ? {
          name: 'user namespaces',
          status: 'fail',
          detail: 'kernel has no user namespaces (/proc/sys/user/max_user_namespaces missing)',
          fix: 'Use a kernel built with CONFIG_USER_NS=y',
        }
      : max > 0
        ? { name: 'user namespaces', status: 'ok', detail: `enabled, max_user_namespaces=${max}` }
        : {
            name: 'user namespaces',
            status: 'fail',
            detail: 'max_user_namespaces is 0',
            fix: 'sysctl -w user.max_user_namespaces=15000',
          },
  );
  const debianKnob = await readNumber('/proc/sys/kernel/unprivileged_userns_clone');
  if (debianKnob !== undefined) {
    out.push(
      debianKnob === 1
        ? {
            name: 'unprivileged userns',
            status: 'ok',
            detail: 'kernel.unprivileged_userns_clone=1',
          }
        : {
            name: 'unprivileged userns',
            status: 'fail',
            detail: 'kernel.unprivileged_userns_clone=0',
            fix: 'sysctl -w kernel.unprivileged_userns_clone=1',
          },
    );
  }
  const apparmor = await readNumber('/proc/sys/kernel/apparmor_restrict_unprivileged_userns');
  if (apparmor !== undefined && apparmor !== 0) {
    out.push({
      name: 'apparmor userns restriction',
      status: 'fail',
      detail: 'kernel.apparmor_restrict_unprivileged_userns=1',
      fix: 'sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or give igloo-helper an AppArmor profile with "userns,"',
    });
  }
  for (const ns of ['pid', 'mnt', 'net', 'ipc', 'uts', 'cgroup']) {
    const n = await readNumber(`/proc/sys/user/max_${ns}_namespaces`);
    if (n !== undefined && n < 100) {
      out.push({
        name: `${ns} namespaces`,
        status: n === 0 ? 'fail' : 'warn',
        detail: `max_${ns}_namespaces=${n}`,
        fix: `sysctl -w user.max_${ns}_namespaces=15000`,
      });
    }
  }
  return out;
}

async function checkIdmapTool(name: 'newuidmap' | 'newgidmap'): Promise<CheckResult> {
  const path = await findOnPath(name);
  if (!path)
    return { name, status: 'fail', detail: 'not installed', fix: 'apt-get install uidmap' };
  const st = await stat(path);
  if (st.uid === 0 && st.mode & 0o4000)
    return { name, status: 'ok', detail: `${path} is setuid root` };
  return {
    name,
    status: 'warn',
    detail: `${path} is not setuid root (it may use file capabilities)`,
    fix: `check with getcap ${path}; or chmod u+s ${path}`,
  };
}

async function checkDelegation(): Promise<CheckResult[]> {
  const me = await currentUser();
  const paths = subidPaths();
  const out: CheckResult[] = [];
  for (const path of [paths.uid, paths.gid]) {
    const report = await readSubidReport(path);
    if (report.problems.length > 0) {
      const p = report.problems[0]!;
      out.push({
        name: `${path} syntax`,
        status: 'fail',
        detail: `line ${p.line}: ${p.reason}`,
        fix: `fix or remove that line of ${path}`,
      });
    }
    if (report.overlaps.length > 0) {
      const o = report.overlaps[0]!;
      out.push({
        name: `${path} overlaps`,
        status: 'fail',
        detail: `${o.a.owner} (line ${o.a.line}) overlaps ${o.b.owner} (line ${o.b.line})`,
        fix: 'give each user a disjoint block: igloo subid revoke/grant',
      });
    }
  }
  const d = await readDelegation(me, paths);
  for (const kind of ['uid', 'gid'] as const) {
    const ranges = d[kind];
    const n = countIds(ranges);
    out.push(
      n >= 65536
        ? {
            name: `sub${kind}s of ${me.name}`,
            status: 'ok',
            detail: `${n} ids: ${ranges.map(formatRange).join(', ')} (${Math.floor(n / 65536)} containers of 65536)`,
          }
        : {
            name: `sub${kind}s of ${me.name}`,
            status: 'fail',
            detail:
              n === 0
                ? `none delegated in ${paths[kind]}`
                : `only ${n} ids delegated; a container needs 65536`,
            fix: `as root: igloo subid grant ${me.name} --count 1000000`,
          },
    );
  }
  return out;
}

async function checkCgroups(): Promise<CheckResult[]> {
  const cg = await detectCgroups();
  const detail = cg.unified
    ? `${cg.layout}: cgroup v2 at ${cg.unified}${cg.v1Controllers.length ? `, v1 controllers ${cg.v1Controllers.join(',')}` : ''}`
    : `${cg.layout}: v1 controllers ${cg.v1Controllers.join(',')}`;
  const out: CheckResult[] = [];
  if (cg.layout === 'none')
    return [
      {
        name: 'cgroups',
        status: 'warn',
        detail: 'no cgroup file system mounted',
        fix: 'mount cgroup2 on /sys/fs/cgroup',
      },
    ];
  // Resource limits: the hierarchy igloo uses and the caller's delegation (host/cgroups).
  out.push(...checkCgroupLimits(detail, await currentUser()));
  return out;
}

async function checkCriu(): Promise<CheckResult> {
  return criuCheckResult();
}

async function checkHelper(): Promise<CheckResult> {
  try {
    const { path, version } = await helperVersion();
    return { name: 'igloo-helper', status: 'ok', detail: `${path} (${version})` };
  } catch (err) {
    return {
      name: 'igloo-helper',
      status: 'fail',
      detail: err instanceof Error ? err.message : String(err),
      fix: 'npm run build',
    };
  }
}

async function checkBusybox(): Promise<CheckResult> {
  const path =
    (await stat('/bin/busybox').then(
      () => '/bin/busybox',
      () => undefined,
    )) ?? (await findOnPath('busybox'));
  if (!path)
    return {
      name: 'busybox',
      status: 'warn',
      detail: 'not installed: the default image cannot be built',
      fix: 'apt-get install busybox-static',
    };
  const head = await readFile(path).then((b) => b.subarray(0, 4096).toString('latin1'));
  const dynamic = head.includes('/lib64/ld-linux') || head.includes('ld-linux');
  return dynamic
    ? {
        name: 'busybox',
        status: 'warn',
        detail: `${path} is dynamically linked`,
        fix: 'apt-get install busybox-static',
      }
    : { name: 'busybox', status: 'ok', detail: `${path} (static)` };
}

/** user-mode networking (docs/network.md): slirp4netns and /dev/net/tun, for the caller. */
async function checkUserNet(): Promise<CheckResult> {
  const probe = await probeUserNet();
  const problem = userNetProblem(probe);
  return problem
    ? {
        name: 'user-mode network',
        status: 'warn',
        detail: `${problem.why}: --net user cannot run (new containers get private)`,
        fix: problem.fix,
      }
    : {
        name: 'user-mode network',
        status: 'ok',
        detail: `${probe.slirp4netns}${process.geteuid?.() === 0 ? '' : ' (the default for your new containers)'}; ${probe.tun.detail}`,
      };
}

export async function runChecks(): Promise<CheckResult[]> {
  const groups = await Promise.all([
    checkUserNamespaces(),
    Promise.all([checkIdmapTool('newuidmap'), checkIdmapTool('newgidmap')]),
    checkDelegation(),
    checkCgroups(),
    Promise.all([checkHelper(), checkBusybox(), checkCriu()]),
    Promise.all([checkUserNet()]),
    currentUser().then(bridgeChecks),
  ]);
  return groups.flat();
}
