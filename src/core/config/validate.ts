/**
 * Validation as a list of named checks (runc's validator idea): each check
 * looks at one aspect of a ContainerConfig and says what is wrong and how to
 * fix it. The first failing check becomes the error.
 */
import { IglooError } from '../errors.ts';
import { tryToOutside, validateMap } from '../idmap/index.ts';
import type { ContainerConfig } from './model.ts';
import { NAME_PATTERN } from './name.ts';
import { netProblem } from '../net/spec.ts';

export const SIGNALS: readonly string[] = [
  'SIGHUP',
  'SIGINT',
  'SIGQUIT',
  'SIGKILL',
  'SIGUSR1',
  'SIGUSR2',
  'SIGTERM',
  'SIGPWR',
  'SIGCONT',
  'SIGSTOP',
  'SIGWINCH',
  'SIGRTMIN+3',
  'SIGRTMIN+4',
];

const HOSTNAME =
  /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const RLIMITS = [
  'RLIMIT_AS',
  'RLIMIT_CORE',
  'RLIMIT_CPU',
  'RLIMIT_DATA',
  'RLIMIT_FSIZE',
  'RLIMIT_LOCKS',
  'RLIMIT_MEMLOCK',
  'RLIMIT_MSGQUEUE',
  'RLIMIT_NICE',
  'RLIMIT_NOFILE',
  'RLIMIT_NPROC',
  'RLIMIT_RSS',
  'RLIMIT_RTPRIO',
  'RLIMIT_RTTIME',
  'RLIMIT_SIGPENDING',
  'RLIMIT_STACK',
];

type Check = {
  name: string;
  run(c: ContainerConfig): { problem: string; hint: string } | undefined;
};

const isAbsoluteClean = (p: string) =>
  p.startsWith('/') && !p.split('/').includes('..') && !p.includes('\0');

export const CHECKS: readonly Check[] = [
  {
    name: 'name',
    run: (c) =>
      NAME_PATTERN.test(c.name)
        ? undefined
        : { problem: `name "${c.name}" is not valid`, hint: `Names match ${NAME_PATTERN.source}` },
  },
  {
    name: 'rootfs',
    run: (c) =>
      isAbsoluteClean(c.rootfs)
        ? undefined
        : {
            problem: `rootfs "${c.rootfs}" is not an absolute path`,
            hint: 'Set igloo.rootfs to the absolute path of the root file system',
          },
  },
  {
    name: 'user namespace',
    run: (c) =>
      c.namespaces.includes('user')
        ? undefined
        : {
            problem: 'the namespaces do not include "user"',
            hint: 'igloo runs every container in its own user namespace: add "user" to igloo.namespaces',
          },
  },
  {
    name: 'idmap',
    run: (c) => {
      for (const kind of ['uid', 'gid'] as const) {
        const map = c.idmap[kind];
        if (map.length === 0)
          return {
            problem: `no ${kind} map`,
            hint: `Add a line like "igloo.idmap = ${kind[0]} 0 2000000 65536"`,
          };
        validateMap(map, kind);
        if (tryToOutside(map, 0) === undefined)
          return {
            problem: `${kind} 0 (root in the container) is not mapped`,
            hint: "Map inside id 0 to the first id of the container's slice",
          };
        if (map.some((e) => e.outside === 0))
          return {
            problem: `the ${kind} map includes host ${kind} 0`,
            hint:
              'Host root is never mapped into a container: map ids from your /etc/sub' +
              kind +
              ' block',
          };
      }
      return undefined;
    },
  },
  {
    name: 'init user',
    run: (c) => {
      if (tryToOutside(c.idmap.uid, c.user.uid) === undefined)
        return {
          problem: `init's uid ${c.user.uid} is not mapped`,
          hint: "Use a uid inside the container's map",
        };
      if (tryToOutside(c.idmap.gid, c.user.gid) === undefined)
        return {
          problem: `init's gid ${c.user.gid} is not mapped`,
          hint: "Use a gid inside the container's map",
        };
      return undefined;
    },
  },
  {
    name: 'hostname',
    run: (c) =>
      c.hostname.length <= 64 && HOSTNAME.test(c.hostname)
        ? undefined
        : {
            problem: `hostname "${c.hostname}" is not a valid host name`,
            hint: 'Use letters, digits and "-" (at most 64 characters)',
          },
  },
  {
    name: 'init',
    run: (c) =>
      c.init.length > 0 && c.init[0] !== ''
        ? undefined
        : { problem: 'no init command', hint: 'Set igloo.init, e.g. "igloo.init = /sbin/init"' },
  },
  {
    name: 'cwd',
    run: (c) =>
      isAbsoluteClean(c.cwd)
        ? undefined
        : {
            problem: `working directory "${c.cwd}" is not an absolute path in the container`,
            hint: 'Use an absolute path without ".."',
          },
  },
  {
    name: 'env',
    run: (c) => {
      const bad = c.env.find((e) => !/^[^=\0]+=/.test(e) || e.includes('\0'));
      return bad === undefined
        ? undefined
        : {
            problem: `environment entry "${bad}" is not NAME=VALUE`,
            hint: 'Write environment entries as NAME=VALUE',
          };
    },
  },
  {
    name: 'halt signal',
    run: (c) =>
      SIGNALS.includes(c.haltSignal)
        ? undefined
        : {
            problem: `unknown halt signal "${c.haltSignal}"`,
            hint: `Use one of ${SIGNALS.join(', ')}`,
          },
  },
  {
    name: 'mounts',
    run: (c) => {
      for (const m of c.mounts) {
        if (!isAbsoluteClean(m.source))
          return {
            problem: `mount source "${m.source}" is not an absolute path`,
            hint: 'Bind sources are absolute host paths without ".."',
          };
        if (!isAbsoluteClean(m.target) || m.target === '/')
          return {
            problem: `mount target "${m.target}" is not an absolute path below /`,
            hint: 'Bind targets are absolute container paths without ".."',
          };
      }
      return undefined;
    },
  },
  {
    name: 'seccomp',
    run: (c) => {
      const p = c.seccomp?.profile ?? 'default';
      return p === 'default' || p === 'unconfined' || isAbsoluteClean(p)
        ? undefined
        : {
            problem: `seccomp profile "${p}" is not default, unconfined or an absolute path`,
            hint: 'Set igloo.seccomp to default, unconfined, or the absolute path of an OCI seccomp profile (JSON)',
          };
    },
  },
  {
    name: 'rlimits',
    run: (c) => {
      for (const r of c.rlimits) {
        if (!RLIMITS.includes(r.type))
          return {
            problem: `unknown rlimit "${r.type}"`,
            hint: `Use one of ${RLIMITS.join(', ')}`,
          };
        if (r.soft !== 'unlimited' && (r.hard === 'unlimited' ? false : r.soft > r.hard))
          return {
            problem: `${r.type} soft limit ${r.soft} is above its hard limit ${r.hard}`,
            hint: 'Make the soft limit at most the hard limit',
          };
      }
      return undefined;
    },
  },
  {
    name: 'network',
    run: (c) => {
      if (c.net && c.net.mode !== 'private' && !c.namespaces.includes('net'))
        return {
          problem: `network "${c.net.mode}" needs a network namespace of the container's own`,
          hint: 'Add "net" to igloo.namespaces, or remove igloo.net',
        };
      return netProblem(c.net ?? { mode: 'private' }, c.ports ?? []);
    },
  },
];

export function validateConfig(
  config: ContainerConfig,
  opts: { path?: string } = {},
): ContainerConfig {
  for (const check of CHECKS) {
    let failure: ReturnType<Check['run']>;
    try {
      failure = check.run(config);
    } catch (err) {
      // an id map's own error: name the file too, as every other check does (fuzzing found it)
      if (!(err instanceof IglooError) || opts.path === undefined || err.path !== undefined)
        throw err;
      throw new IglooError(err.code, `Invalid container config (${opts.path}): ${err.message}`, {
        op: err.op ?? `validate ${check.name}`,
        path: opts.path,
        ...(err.subject !== undefined && { subject: err.subject }),
        ...(err.hint !== undefined && { hint: err.hint }),
      });
    }
    if (failure) {
      const where = opts.path ? ` (${opts.path})` : '';
      throw new IglooError('EINVAL', `Invalid container config${where}: ${failure.problem}`, {
        op: `validate ${check.name}`,
        ...(opts.path !== undefined && { path: opts.path }),
        subject: config.name,
        hint: failure.hint,
      });
    }
  }
  return config;
}
