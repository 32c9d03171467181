/**
 * `igloo oci VERB ...` and `igloo-runc VERB ...` (the same command line:
 * dist/bin/igloo-runc is the helper binary under that name, which hands its
 * command line to this CLI with `oci` in front; native/main.c). runc's
 * verbs and flags (oci-args.ts), on src/lifecycle/oci. Errors: exit 1 and
 * one line on stderr, and a line in --log (json with --log-format json).
 */
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { IglooError, isIglooError } from '../../core/errors.ts';
import { defaultOciSpec, ociFeatures } from '../../core/oci/features.ts';
import { parseSignal } from '../../core/oci/state.ts';
import { defaultOciRoot } from '../../lifecycle/oci/store.ts';
import {
  ociCreate,
  ociDelete,
  ociExec,
  ociKill,
  ociList,
  ociPs,
  ociStart,
  ociStateOf,
  ociPause,
  ociUnsupported,
  ociUpdate,
  type Logger,
  type RuntimeContext,
} from '../../lifecycle/oci/runtime.ts';
import type { oci as ociSpec } from '../command-table.ts';
import type { Invocation } from '../spec.ts';
import {
  flagHelp,
  parseRuncArgs,
  usageError,
  type FlagTable,
  type ParsedArgs,
} from './oci-args.ts';

const GLOBAL: FlagTable = {
  root: {
    type: 'string',
    help: 'state directory (root: /run/igloo-runc, users: $XDG_RUNTIME_DIR/igloo-runc)',
  },
  log: { type: 'string', help: 'append errors and warnings to this file' },
  'log-format': { type: 'string', help: 'text or json (lines {"level","msg","time"})' },
  debug: { type: 'boolean', help: 'debug lines on stderr and in the log' },
  'systemd-cgroup': { type: 'boolean', help: 'refused: igloo-runc has no systemd cgroup driver' },
  rootless: { type: 'string', help: 'accepted (true|false|auto): igloo-runc needs no mode for it' },
  criu: { type: 'string', help: 'accepted and ignored' },
  help: { type: 'boolean', short: 'h', help: 'this help' },
  version: { type: 'boolean', short: 'v', help: 'the version' },
};

interface Verb {
  readonly usage: string;
  readonly summary: string;
  readonly flags: FlagTable;
  /** How many positionals at least and at most (Infinity: the rest is a command). */
  readonly args: readonly [number, number];
  /** Takes the words as they are, flags included (a refused verb). */
  readonly lenient?: boolean;
  run(ctx: RuntimeContext, a: ParsedArgs): Promise<number> | number;
}

const str = (a: ParsedArgs, k: string) => a.flags[k] as string | undefined;
const bool = (a: ParsedArgs, k: string) => a.flags[k] === true;
const list = (a: ParsedArgs, k: string) => (a.flags[k] as string[] | undefined) ?? [];

function printJson(v: unknown): void {
  process.stdout.write(`${JSON.stringify(v, null, 2)}\n`);
}

/**
 * A verb igloo-runc refuses (with the reason): any flags are taken (podman
 * and containerd pass runc's, e.g. `update --resources=- ID`), the id is the
 * last word, and an unknown id still says it does not exist.
 */
const refused = (verb: string, why: string, hint: string): Verb => ({
  usage: `${verb} [FLAGS] ID`,
  summary: `refused: ${why}`,
  flags: {},
  args: [0, Infinity],
  lenient: true,
  run: (ctx, a) => {
    const last = a.positionals.at(-1);
    return ociUnsupported(ctx, verb, last && !last.startsWith('-') ? last : undefined, why, hint);
  },
});

const VERBS: Readonly<Record<string, Verb>> = {
  create: {
    usage: 'create [--bundle DIR] [--pid-file F] [--console-socket S] ID',
    summary: 'create a container from a bundle; its process waits for start',
    flags: {
      bundle: {
        type: 'string',
        short: 'b',
        help: 'the bundle directory (config.json, rootfs): default .',
      },
      'pid-file': {
        type: 'string',
        help: "write init's host pid here (atomically, never through a link)",
      },
      'console-socket': {
        type: 'string',
        help: 'with process.terminal: the unix socket that gets the pty master',
      },
      'no-pivot': { type: 'boolean', help: 'accepted; pivot_root is always used' },
      'no-new-keyring': { type: 'boolean', help: 'accepted; no keyring is made' },
      'preserve-fds': { type: 'string', help: 'only 0 is supported' },
    },
    args: [1, 1],
    run: async (ctx, a) => {
      if ((str(a, 'preserve-fds') ?? '0') !== '0')
        throw usageError('create', '--preserve-fds other than 0 is not supported');
      const state = await ociCreate(ctx, {
        id: a.positionals[0]!,
        bundle: str(a, 'bundle') ?? '.',
        ...(str(a, 'pid-file') !== undefined && { pidFile: str(a, 'pid-file')! }),
        ...(str(a, 'console-socket') !== undefined && { consoleSocket: str(a, 'console-socket')! }),
      });
      ctx.log('debug', `created ${state.id}, pid ${state.pid}`);
      return 0;
    },
  },
  start: {
    usage: 'start ID',
    summary: "release a created container's process",
    flags: {},
    args: [1, 1],
    run: async (ctx, a) => {
      await ociStart(ctx, a.positionals[0]!);
      return 0;
    },
  },
  state: {
    usage: 'state ID',
    summary: 'the state JSON of the runtime spec',
    flags: {},
    args: [1, 1],
    run: (ctx, a) => {
      printJson(ociStateOf(ctx, a.positionals[0]!));
      return 0;
    },
  },
  kill: {
    usage: 'kill [--all] ID [SIGNAL]',
    summary: 'send a signal (default TERM; a number or a name) to init, or to every process',
    flags: {
      all: { type: 'boolean', short: 'a', help: "every process of the container's pid namespace" },
    },
    args: [1, 2],
    run: (ctx, a) => {
      ociKill(ctx, a.positionals[0]!, parseSignal(a.positionals[1] ?? 'TERM'), bool(a, 'all'));
      return 0;
    },
  },
  delete: {
    usage: 'delete [--force] ID',
    summary: 'remove a stopped (or created) container; --force kills a running one first',
    flags: { force: { type: 'boolean', short: 'f', help: 'SIGKILL its processes first' } },
    args: [1, 1],
    run: async (ctx, a) => {
      await ociDelete(ctx, a.positionals[0]!, bool(a, 'force'));
      return 0;
    },
  },
  exec: {
    usage: 'exec [--process F | flags] [--detach] [--pid-file P] ID [COMMAND ARG...]',
    summary: 'run a process in the container',
    flags: {
      process: { type: 'string', short: 'p', help: 'process.json (the spec\'s "process" object)' },
      detach: { type: 'boolean', short: 'd', help: 'return once it runs (the engine reaps it)' },
      'pid-file': { type: 'string', help: "write the process's host pid here" },
      tty: { type: 'boolean', short: 't', help: 'a pty made in the container' },
      'console-socket': {
        type: 'string',
        help: 'with --tty: the unix socket that gets the pty master',
      },
      cwd: { type: 'string', help: 'working directory in the container' },
      env: { type: 'multiple', short: 'e', help: "KEY=VALUE, over the container's environment" },
      user: { type: 'string', short: 'u', help: 'UID[:GID]' },
      'additional-gids': { type: 'multiple', short: 'g', help: 'a supplementary gid' },
      'no-new-privs': { type: 'boolean', help: 'set no_new_privs' },
      cap: { type: 'multiple', short: 'c', help: "refused: exec gets the config's capabilities" },
      'process-label': { type: 'string', help: 'ignored (no SELinux here)' },
      apparmor: { type: 'string', help: 'ignored (no AppArmor here)' },
      'preserve-fds': { type: 'string', help: 'only 0 is supported' },
      'ignore-paused': { type: 'boolean', help: 'accepted' },
    },
    args: [1, Infinity],
    run: async (ctx, a) => {
      const [id, ...args] = a.positionals;
      if (list(a, 'cap').length > 0)
        throw usageError('exec', "--cap is not supported (exec gets the config's capabilities)");
      if ((str(a, 'preserve-fds') ?? '0') !== '0')
        throw usageError('exec', '--preserve-fds other than 0 is not supported');
      const gids = list(a, 'additional-gids').map((g) => {
        if (!/^\d+$/.test(g)) throw usageError('exec', `--additional-gids "${g}" is not a number`);
        return Number(g);
      });
      return ociExec(ctx, {
        id: id!,
        args,
        detach: bool(a, 'detach'),
        ...(str(a, 'process') !== undefined && { processFile: str(a, 'process')! }),
        ...(a.flags.tty !== undefined && { tty: bool(a, 'tty') }),
        ...(str(a, 'cwd') !== undefined && { cwd: str(a, 'cwd')! }),
        ...(list(a, 'env').length > 0 && { env: list(a, 'env') }),
        ...(str(a, 'user') !== undefined && { user: str(a, 'user')! }),
        ...(gids.length > 0 && { additionalGids: gids }),
        ...(str(a, 'pid-file') !== undefined && { pidFile: str(a, 'pid-file')! }),
        ...(str(a, 'console-socket') !== undefined && { consoleSocket: str(a, 'console-socket')! }),
      });
    },
  },
  ps: {
    usage: 'ps [--format table|json] ID',
    summary: "the host pids of the container's processes",
    flags: { format: { type: 'string', short: 'f', help: 'table (default) or json' } },
    args: [1, Infinity],
    run: (ctx, a) => {
      const pids = ociPs(ctx, a.positionals[0]!);
      const format = str(a, 'format') ?? 'table';
      if (format === 'json') process.stdout.write(`${JSON.stringify(pids)}\n`);
      else if (format === 'table')
        process.stdout.write(`PID\n${pids.map((p) => `${p}\n`).join('')}`);
      else throw usageError('ps', `--format "${format}" is not table or json`);
      return 0;
    },
  },
  list: {
    usage: 'list [--format table|json] [--quiet]',
    summary: 'the containers under --root',
    flags: {
      format: { type: 'string', short: 'f', help: 'table (default) or json' },
      quiet: { type: 'boolean', short: 'q', help: 'ids only' },
    },
    args: [0, 0],
    run: (ctx, a) => {
      const states = ociList(ctx);
      const format = str(a, 'format') ?? 'table';
      if (bool(a, 'quiet')) process.stdout.write(states.map((s) => `${s.id}\n`).join(''));
      else if (format === 'json') printJson(states);
      else if (format === 'table') {
        const rows = [
          ['ID', 'PID', 'STATUS', 'BUNDLE', 'CREATED', 'OWNER'],
          ...states.map((s) => [s.id, String(s.pid), s.status, s.bundle, s.created, s.owner]),
        ];
        const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
        process.stdout.write(
          rows
            .map((r) =>
              r
                .map((c, i) => c.padEnd(widths[i]!))
                .join('  ')
                .trimEnd(),
            )
            .join('\n') + '\n',
        );
      } else throw usageError('list', `--format "${format}" is not table or json`);
      return 0;
    },
  },
  features: {
    usage: 'features',
    summary: 'what this runtime supports (JSON, runtime-spec features.md)',
    flags: {},
    args: [0, 0],
    run: () => {
      printJson(
        ociFeatures({
          cgroupV1: existsSync('/sys/fs/cgroup/memory'),
          cgroupV2:
            existsSync('/sys/fs/cgroup/cgroup.controllers') ||
            existsSync('/sys/fs/cgroup/unified/cgroup.controllers'),
        }),
      );
      return 0;
    },
  },
  spec: {
    usage: 'spec [--bundle DIR] [--rootless]',
    summary: 'write a default config.json (sh on a tty in rootfs/)',
    flags: {
      bundle: { type: 'string', short: 'b', help: 'where to write config.json (default .)' },
      rootless: {
        type: 'boolean',
        help: 'a user namespace mapping root to you, for an unprivileged user',
      },
    },
    args: [0, 0],
    run: (_ctx, a) => {
      const path = join(resolve(str(a, 'bundle') ?? '.'), 'config.json');
      const spec = defaultOciSpec(
        bool(a, 'rootless')
          ? { rootless: { uid: process.geteuid?.() ?? 0, gid: process.getegid?.() ?? 0 } }
          : {},
      );
      try {
        writeFileSync(path, `${JSON.stringify(spec, null, 2)}\n`, { flag: 'wx', mode: 0o644 });
      } catch {
        throw new IglooError('EEXIST', `Cannot write ${path}: it exists`, {
          op: 'spec',
          path,
          hint: 'Remove it first',
        });
      }
      return 0;
    },
  },
  pause: {
    usage: 'pause ID',
    summary: "freeze every process (the container's cgroup freezer; root's containers)",
    flags: {},
    args: [1, 1],
    run: async (ctx, a) => {
      await ociPause(ctx, a.positionals[0]!, true);
      return 0;
    },
  },
  resume: {
    usage: 'resume ID',
    summary: 'thaw a paused container',
    flags: {},
    args: [1, 1],
    run: async (ctx, a) => {
      await ociPause(ctx, a.positionals[0]!, false);
      return 0;
    },
  },
  update: {
    usage: 'update [--resources FILE|-] [--memory N] [--pids-limit N] ... ID',
    summary: "change a running container's limits (linux.resources; root's containers)",
    flags: {
      resources: {
        type: 'string',
        short: 'r',
        help: 'a linux.resources JSON file, or - for stdin',
      },
      memory: { type: 'string', help: 'memory limit in bytes (k, m, g suffixes)' },
      'memory-swap': { type: 'string', help: 'memory plus swap, in bytes' },
      'memory-reservation': { type: 'string', help: 'ignored (a warning)' },
      'kernel-memory': { type: 'string', help: 'ignored (a warning)' },
      'kernel-memory-tcp': { type: 'string', help: 'ignored (a warning)' },
      'pids-limit': { type: 'string', help: 'most processes' },
      'cpu-shares': { type: 'string', help: 'CPU shares (v1 scale)' },
      'cpu-quota': { type: 'string', help: 'CPU quota (microseconds per period)' },
      'cpu-period': { type: 'string', help: 'CPU period (microseconds)' },
      'cpu-rt-period': { type: 'string', help: 'ignored (a warning)' },
      'cpu-rt-runtime': { type: 'string', help: 'ignored (a warning)' },
      'cpuset-cpus': { type: 'string', help: 'the CPUs it may use' },
      'cpuset-mems': { type: 'string', help: 'ignored (a warning)' },
      'blkio-weight': { type: 'string', help: 'block I/O weight, 10..1000' },
      'l3-cache-schema': { type: 'string', help: 'refused' },
      'mem-bw-schema': { type: 'string', help: 'refused' },
    },
    args: [1, 1],
    run: (ctx, a) => {
      ociUpdate(ctx, a.positionals[0]!, updateResources(a));
      return 0;
    },
  },
  checkpoint: refused(
    'checkpoint',
    'checkpoint is not supported by igloo-runc yet',
    "igloo checkpoint works for igloo's own containers",
  ),
  restore: refused(
    'restore',
    'restore is not supported by igloo-runc yet',
    "igloo restore works for igloo's own containers",
  ),
};

/** A size as runc takes it: bytes, or with a k, m, g (or kb, mb, gb) suffix. */
function bytes(text: string, flag: string): number {
  const m = /^(\d+)\s*([kmg]?)b?$/i.exec(text.trim());
  if (!m) throw usageError('update', `--${flag} "${text}" is not a size`);
  return Number(m[1]) * 1024 ** ' kmg'.indexOf((m[2] || ' ').toLowerCase());
}

function whole(text: string, flag: string): number {
  if (!/^-?\d+$/.test(text))
    throw usageError('update', `--${flag} "${text}" is not a whole number`);
  return Number(text);
}

/** linux.resources from --resources (a file or stdin) and the single flags over it. */
function updateResources(a: ParsedArgs): Record<string, Record<string, unknown>> {
  const src = str(a, 'resources');
  let base: Record<string, Record<string, unknown>> = {};
  if (src !== undefined) {
    const text = src === '-' ? readFileSync(0, 'utf8') : readFileSync(resolve(src), 'utf8');
    try {
      base = JSON.parse(text) as Record<string, Record<string, unknown>>;
    } catch {
      throw usageError('update', `--resources ${src} is not JSON`);
    }
  }
  const set = (group: string, key: string, value: unknown) =>
    (base[group] = { ...(base[group] ?? {}), [key]: value });
  const flag = (name: string) => str(a, name);
  if (flag('l3-cache-schema') !== undefined || flag('mem-bw-schema') !== undefined)
    throw usageError('update', 'Intel RDT (--l3-cache-schema, --mem-bw-schema) is not supported');
  if (flag('memory') !== undefined) set('memory', 'limit', bytes(flag('memory')!, 'memory'));
  if (flag('memory-swap') !== undefined)
    set('memory', 'swap', bytes(flag('memory-swap')!, 'memory-swap'));
  if (flag('memory-reservation') !== undefined)
    set('memory', 'reservation', bytes(flag('memory-reservation')!, 'memory-reservation'));
  if (flag('kernel-memory') !== undefined)
    set('memory', 'kernel', bytes(flag('kernel-memory')!, 'kernel-memory'));
  if (flag('kernel-memory-tcp') !== undefined)
    set('memory', 'kernelTCP', bytes(flag('kernel-memory-tcp')!, 'kernel-memory-tcp'));
  if (flag('pids-limit') !== undefined)
    set('pids', 'limit', whole(flag('pids-limit')!, 'pids-limit'));
  if (flag('cpu-shares') !== undefined)
    set('cpu', 'shares', whole(flag('cpu-shares')!, 'cpu-shares'));
  if (flag('cpu-quota') !== undefined) set('cpu', 'quota', whole(flag('cpu-quota')!, 'cpu-quota'));
  if (flag('cpu-period') !== undefined)
    set('cpu', 'period', whole(flag('cpu-period')!, 'cpu-period'));
  if (flag('cpu-rt-period') !== undefined)
    set('cpu', 'realtimePeriod', whole(flag('cpu-rt-period')!, 'cpu-rt-period'));
  if (flag('cpu-rt-runtime') !== undefined)
    set('cpu', 'realtimeRuntime', whole(flag('cpu-rt-runtime')!, 'cpu-rt-runtime'));
  if (flag('cpuset-cpus') !== undefined) set('cpu', 'cpus', flag('cpuset-cpus'));
  if (flag('cpuset-mems') !== undefined) set('cpu', 'mems', flag('cpuset-mems'));
  if (flag('blkio-weight') !== undefined)
    set('blockIO', 'weight', whole(flag('blkio-weight')!, 'blkio-weight'));
  return base;
}

function overview(): string {
  const lines = [
    'usage: igloo-runc [--root DIR] [--log FILE] [--log-format text|json] [--debug] VERB ...',
    '       (also: igloo oci VERB ...)',
    '',
    "igloo as an OCI runtime, with runc's command line, for podman, containerd and CRI-O.",
    'Run by root with a config.json that has no user namespace, the container is host root, as with runc.',
    '',
  ];
  for (const [name, v] of Object.entries(VERBS)) lines.push(`  ${name.padEnd(11)} ${v.summary}`);
  lines.push('', "igloo-runc VERB --help shows a verb's flags.");
  return `${lines.join('\n')}\n`;
}

function makeLogger(
  file: string | undefined,
  format: string,
  debug: boolean,
): Logger & { error(msg: string): void } {
  const write = (level: string, msg: string) => {
    if (file === undefined) return;
    const time = new Date().toISOString();
    const line =
      format === 'json'
        ? JSON.stringify({ level, msg, time })
        : `time="${time}" level=${level} msg=${JSON.stringify(msg)}`;
    try {
      appendFileSync(file, `${line}\n`);
    } catch {
      // the log is best effort
    }
  };
  const log = ((level: 'debug' | 'info' | 'warning', msg: string) => {
    if (level === 'debug' && !debug) return;
    // With --log, warnings go there only (runc's way): for create, stderr
    // is the container's own, which an engine shows as its output.
    if (file === undefined) process.stderr.write(`igloo-runc: ${level}: ${msg}\n`);
    write(level, msg);
  }) as Logger & { error(msg: string): void };
  log.error = (msg) => write('error', msg);
  return log;
}

/** `igloo oci ARGS...`: the exit code. */
export async function ociMain(argv: readonly string[]): Promise<number> {
  let log = makeLogger(undefined, 'text', false);
  try {
    const global = parseRuncArgs('igloo-runc', GLOBAL, argv);
    const format = str(global, 'log-format') ?? 'text';
    if (format !== 'text' && format !== 'json')
      throw usageError('igloo-runc', `--log-format "${format}" is not text or json`);
    log = makeLogger(str(global, 'log'), format, bool(global, 'debug'));
    const [verbName, ...rest] = global.positionals;
    if (bool(global, 'version')) {
      process.stdout.write('igloo-runc version 0.1.0\nspec: 1.0.2\n');
      return 0;
    }
    if (verbName === undefined || bool(global, 'help')) {
      process.stdout.write(overview());
      return verbName === undefined && !bool(global, 'help') ? 2 : 0;
    }
    if (bool(global, 'systemd-cgroup'))
      throw new IglooError(
        'ENOTSUP',
        'igloo-runc: --systemd-cgroup is not supported (no systemd cgroup driver)',
        {
          op: 'igloo-runc',
          hint: 'Configure the engine with the cgroupfs cgroup manager',
        },
      );
    const verb = VERBS[verbName];
    if (!verb) throw usageError('igloo-runc', `unknown command "${verbName}"`);
    if (verb.lenient && !rest.includes('--help') && !rest.includes('-h')) {
      const ctx: RuntimeContext = { root: resolve(str(global, 'root') ?? defaultOciRoot()), log };
      return await verb.run(ctx, { flags: {}, positionals: rest });
    }
    const args = parseRuncArgs(
      verbName,
      { ...verb.flags, help: { type: 'boolean', short: 'h', help: 'this help' } },
      rest,
    );
    if (bool(args, 'help')) {
      process.stdout.write(`${flagHelp(verb.usage, verb.flags)}\n${verb.summary}\n`);
      return 0;
    }
    const [min, max] = verb.args;
    if (args.positionals.length < min)
      throw usageError(verbName, min === 1 ? 'the container ID is missing' : 'missing arguments');
    if (args.positionals.length > max)
      throw usageError(verbName, `unexpected argument "${args.positionals[max]}"`);
    const ctx: RuntimeContext = { root: resolve(str(global, 'root') ?? defaultOciRoot()), log };
    return await verb.run(ctx, args);
  } catch (err) {
    const msg = isIglooError(err)
      ? `${err.message}${err.hint ? ` (${err.hint})` : ''}`
      : String(err);
    process.stderr.write(`${msg.replace(/\n/g, ' ')}\n`);
    log.error(msg);
    return 1;
  }
}

/** The table's entry point (main.ts sends `igloo oci` to ociMain before any table parsing). */
export function ociCommand({ args }: Invocation<typeof ociSpec>): Promise<number> {
  return ociMain([args.VERB, ...(args.ARGS ?? [])]);
}
