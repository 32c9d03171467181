/**
 * OciLaunch -> LaunchPlan: an OCI container's create (mode created: every
 * step runs, then the process waits on the exec fifo until `start`) and
 * exec, as plans of the same helper and the same step records as igloo's
 * own containers (PROTOCOL.md). Pure.
 */
import { capMaskHex } from '../caps.ts';
import type { NamespaceKind } from '../config/model.ts';
import { assemble, encodeProgram, parseOciProfile, terminalDenies } from '../seccomp/index.ts';
import { MS } from '../plan/mount-flags.ts';
import type { LaunchPlan, Step } from '../plan/plan.ts';
import type { OciLaunch, OciProcess } from './config.ts';

/** The BPF program of linux.seccomp (with igloo's terminal rules in front), or undefined for none. */
export function ociSeccompProgram(
  launch: Pick<OciLaunch, 'seccomp'>,
  bounding: readonly string[],
): string | undefined {
  if (launch.seccomp === undefined) return undefined;
  const profile = parseOciProfile(launch.seccomp, {
    path: 'linux.seccomp',
    caps: bounding,
    unknownNames: 'skip',
  });
  return encodeProgram(assemble({ ...profile, rules: [...terminalDenies(), ...profile.rules] }));
}

const PROPAGATION_FLAGS: Readonly<Record<string, number>> = {
  private: 1 << 18,
  slave: 1 << 19,
  shared: 1 << 20,
  unbindable: 1 << 17,
};

/** The steps that make the process: where, limits, umask, who, hardening, what. */
function processSteps(launch: Pick<OciLaunch, 'seccomp'>, p: OciProcess): Step[] {
  const program = ociSeccompProgram(launch, p.bounding);
  const seccomp: Step[] = program ? [{ op: 'seccomp', program }] : [];
  const ids: Step = { op: 'ids', uid: p.uid, gid: p.gid, groups: p.groups };
  const caps: Step = { op: 'caps', keep: capMaskHex(p.bounding) };
  // A filter needs no_new_privs or CAP_SYS_ADMIN: without no_new_privs it
  // goes before `ids` drops the capability (PROTOCOL.md, "Order of steps").
  const hardening = p.noNewPrivileges
    ? [caps, { op: 'nnp' } as const, ids, ...seccomp]
    : [caps, ...seccomp, ids];
  return [
    { op: 'chdir', path: p.cwd },
    ...p.rlimits.map((r) => ({
      op: 'rlimit' as const,
      resource: r.type,
      soft: r.soft,
      hard: r.hard,
    })),
    ...(p.umask !== undefined ? [{ op: 'umask' as const, mask: p.umask }] : []),
    ...hardening,
    { op: 'exec', file: p.args[0]!, argv: p.args, env: p.env },
  ];
}

export interface OciCreateOptions {
  /** The exec fifo, in the container's state directory (it must not exist yet). */
  readonly gate: string;
  /** process.terminal: the engine's socket that gets the pty master. */
  readonly consoleSocket?: string;
  /** cgroup.procs files the process joins (one per hierarchy). */
  readonly cgroups?: readonly string[];
}

export function planOciCreate(launch: OciLaunch, opts: OciCreateOptions): LaunchPlan {
  const p = launch.process;
  const own = (kind: NamespaceKind) =>
    launch.create.includes(kind) || launch.joins.some((j) => j.kind === kind);
  const files: Step[] = [{ op: 'rootfs', path: launch.rootfs }, ...launch.mounts];
  for (const d of launch.devices)
    files.push({ op: 'bind', source: d.path, target: d.path, flags: MS.NOSUID });
  for (const [key, value] of launch.sysctl)
    files.push({
      op: 'writefile',
      path: `/proc/sys/${key.replaceAll('.', '/')}`,
      mode: 0o644,
      data: value,
    });
  for (const path of launch.readonlyPaths) files.push({ op: 'readonly', path });
  for (const path of launch.maskedPaths) files.push({ op: 'mask', path });
  const after: Step[] = [];
  if (launch.rootfsPropagation) {
    const rec = launch.rootfsPropagation.startsWith('r');
    const flag = PROPAGATION_FLAGS[launch.rootfsPropagation.replace(/^r/, '')]!;
    after.push({
      op: 'mount',
      source: 'none',
      target: '/',
      fstype: '',
      flags: flag | (rec ? MS.REC : 0),
      data: '',
    });
  }
  if (launch.rootReadonly) after.push({ op: 'readonly', path: '/' });
  const steps: Step[] = [
    ...(own('mnt') ? [...files, { op: 'pivot' } as const, ...after] : []),
    ...(p.terminal && own('mnt') ? [{ op: 'devconsole' as const }] : []),
    ...(launch.hostname !== undefined && own('uts')
      ? [{ op: 'hostname' as const, name: launch.hostname }]
      : []),
    ...processSteps(launch, p),
  ];
  const userns = launch.create.includes('user');
  return {
    version: 1,
    kind: 'start',
    mode: 'created',
    namespaces: launch.create,
    console: p.terminal ? 'pty' : 'inherit',
    idmap: userns ? launch.idmap : { uid: [], gid: [] },
    steps,
    gate: opts.gate,
    ...(!userns && { nomaps: true }),
    ...(launch.joins.length > 0 && { joins: launch.joins }),
    ...(opts.consoleSocket !== undefined && p.terminal && { consoleSocket: opts.consoleSocket }),
    ...(opts.cgroups?.length && { cgroups: opts.cgroups }),
  };
}

export interface OciExecOptions {
  readonly pid: number;
  readonly start: number;
  /** Every namespace kind init has of its own (created or joined). */
  readonly namespaces: readonly NamespaceKind[];
  readonly detach: boolean;
  readonly consoleSocket?: string;
  readonly cgroups?: readonly string[];
}

export function planOciExec(
  launch: Pick<OciLaunch, 'seccomp'>,
  process: OciProcess,
  opts: OciExecOptions,
): LaunchPlan {
  return {
    version: 1,
    kind: 'exec',
    mode: opts.detach ? 'detached' : 'foreground',
    namespaces: opts.namespaces,
    joinPid: opts.pid,
    joinStart: opts.start,
    console: process.terminal ? 'pty' : 'inherit',
    idmap: { uid: [], gid: [] },
    steps: processSteps(launch, process),
    ...(opts.consoleSocket !== undefined &&
      process.terminal && { consoleSocket: opts.consoleSocket }),
    ...(opts.cgroups?.length && { cgroups: opts.cgroups }),
  };
}
