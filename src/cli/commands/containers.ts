/** The container verbs: create, start, stop, kill, exec, console, ls, info, destroy, run. */
import { uniqueSuffix } from '../../host/files.ts';
import { formatIdmapSpec } from '../../core/idmap/index.ts';
import { IglooError } from '../../core/errors.ts';
import { Igloo } from '../../lifecycle/containers.ts';
import { describeRootfs } from '../../lifecycle/idmapped.ts';
import { BUILTIN_IMAGE } from '../../host/images.ts';
import { commandFor } from '../../core/image/oci.ts';
import { parseCommandArgs, printJson, table, paint } from '../output.ts';

const help: Record<string, string> = {
  create: `igloo create NAME [--image busybox|NAME|PATH] [--idmap auto|"u 0 2000000 65536 g 0 2000000 65536"]
    [--slice-size N] [--slice-stride N] [--slice-start ID] [--init CMD] [--hostname H] [--nesting] [--json]
  Creates a container with its own slice of your subordinate ids (isolated from
  every other container), and a root file system owned by those ids.
  Root's containers made from an imported image share it: their rootfs is an
  overlay of the image, idmapped through the container's ids (no copy, no
  chown walk); where the file system refuses idmapped mounts, or with
  IGLOO_IDMAPPED=0, the image is copied (and create says so).
  --nesting: the container runs containers of its own (a slice of 8 x 65536
  ids, igloo inside, users made inside get subordinate ids; use an image with
  newuidmap, e.g. igloo image build debian --include uidmap,busybox-static).
`,
  start: `igloo start NAME [--console pty|null] [--json]
  Starts the container's init in the background. --console null gives init
  /dev/null instead of a console (igloo console then has nothing to attach to).
`,
  stop: 'igloo stop NAME [--timeout S]\n  Sends init its halt signal, and SIGKILL after S seconds (default 10).\n',
  kill: "igloo kill NAME [SIGNAL]\n  Sends SIGNAL (default SIGTERM) to the container's init.\n",
  exec: `igloo exec NAME [-t|-T] [--user U] [--env K=V]... [--cwd D] -- CMD [ARG...]
  Runs CMD in all of the container's namespaces and returns its exit status.
  CMD gets a pty made in the container when stdin and stdout are terminals
  (-t: always, -T: never); it never gets your terminal as its controlling tty.
`,
  console: "igloo console NAME\n  Attaches to init's console. Detach with Ctrl-a q.\n",
  ls: 'igloo ls [--json]\n  Lists your containers: name, state, init pid, id map.\n',
  info: "igloo info NAME [--json]\n  Shows a container's config and state.\n",
  destroy:
    'igloo destroy NAME [--force]\n  Removes a stopped container and its files (--force stops it first).\n',
  run: `igloo run [--image busybox|NAME|PATH] [--name N] [--rm] [--idmap M] [-t|-T] [-- CMD [ARG...]]
  Creates a container (unless --name names an existing one), runs CMD in it in
  the foreground, and returns its exit status. CMD gets a pty made in the
  container when stdin and stdout are terminals (-t: always, -T: never).
`,
};

function usageError(verb: string, message: string): IglooError {
  return new IglooError('EINVAL', `${verb}: ${message}`, {
    op: verb,
    hint: `Usage: ${help[verb]!.split('\n')[0]}`,
  });
}

/**
 * -t/--tty and -T/--no-tty of exec and run: a pty when asked for, or,
 * without either, when stdin and stdout are terminals (an interactive
 * command). The native front (src/native/front.c) chooses the same way.
 */
function ttyChoice(verb: string, values: { tty?: boolean; 'no-tty'?: boolean }): boolean {
  if (values.tty && values['no-tty']) throw usageError(verb, '-t and -T contradict each other');
  if (values.tty) return true;
  if (values['no-tty']) return false;
  return process.stdin.isTTY === true && process.stdout.isTTY === true;
}

function wholeNumber(verb: string, flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value))
    throw usageError(verb, `--${flag} must be a whole number, not "${value}"`);
  return Number(value);
}

/** Splits "args -- command" so the command's own flags are not parsed. */
function splitCommand(args: string[]): [string[], string[]] {
  const i = args.indexOf('--');
  return i < 0 ? [args, []] : [args.slice(0, i), args.slice(i + 1)];
}

export async function run(verb: string, args: string[]): Promise<number> {
  const igloo = new Igloo();
  const [own, command] = splitCommand(args);
  const one = (positionals: string[]): string => {
    if (positionals.length !== 1)
      throw usageError(
        verb,
        positionals.length ? `unexpected argument "${positionals[1]}"` : 'missing NAME',
      );
    return positionals[0]!;
  };
  switch (verb) {
    case 'create': {
      const { values, positionals } = parseCommandArgs(
        verb,
        own,
        {
          image: { type: 'string' },
          idmap: { type: 'string' },
          'slice-size': { type: 'string' },
          'slice-stride': { type: 'string' },
          'slice-start': { type: 'string' },
          init: { type: 'string' },
          hostname: { type: 'string' },
          nesting: { type: 'boolean' },
          json: { type: 'boolean' },
        },
        help[verb]!,
      );
      if (values.help) return printHelp(verb);
      const name = one(positionals);
      const sliceSize = wholeNumber(verb, 'slice-size', values['slice-size']);
      const sliceStride = wholeNumber(verb, 'slice-stride', values['slice-stride']);
      const sliceStart = wholeNumber(verb, 'slice-start', values['slice-start']);
      const config = await igloo.create(name, {
        ...(values.image !== undefined && { image: values.image }),
        ...(values.idmap !== undefined && { idmap: values.idmap }),
        ...(sliceSize !== undefined && { sliceSize }),
        ...(sliceStride !== undefined && { sliceStride }),
        ...(sliceStart !== undefined && { sliceStart }),
        ...(values.init !== undefined && { init: values.init.split(/\s+/).filter(Boolean) }),
        ...(values.hostname !== undefined && { hostname: values.hostname }),
        ...(values.nesting === true && { nesting: true }),
        onNotice: (text) => process.stderr.write(`igloo: note: ${text}\n`),
      });
      if (values.json) printJson(config);
      else process.stdout.write(`Created ${name} (ids ${formatIdmapSpec(config.idmap)})\n`);
      return 0;
    }
    case 'start': {
      const { values, positionals } = parseCommandArgs(
        verb,
        own,
        { json: { type: 'boolean' }, console: { type: 'string' } },
        help[verb]!,
      );
      if (values.help) return printHelp(verb);
      if (values.console !== undefined && values.console !== 'pty' && values.console !== 'null')
        throw usageError(verb, `--console must be pty or null, not "${values.console}"`);
      const state = await igloo.start(one(positionals), {
        ...(values.console !== undefined && { console: values.console }),
      });
      if (values.json) printJson(state);
      else process.stdout.write(`Started ${positionals[0]} (init is pid ${state.pid})\n`);
      return 0;
    }
    case 'stop': {
      const { values, positionals } = parseCommandArgs(
        verb,
        own,
        { timeout: { type: 'string' } },
        help[verb]!,
      );
      if (values.help) return printHelp(verb);
      const state = await igloo.stop(
        one(positionals),
        wholeNumber(verb, 'timeout', values.timeout) ?? 10,
      );
      process.stdout.write(
        `Stopped ${positionals[0]}${state.lastExit ? ` (init ${state.lastExit})` : ''}\n`,
      );
      return 0;
    }
    case 'kill': {
      const { values, positionals } = parseCommandArgs(verb, own, {}, help[verb]!);
      if (values.help) return printHelp(verb);
      if (positionals.length < 1 || positionals.length > 2)
        throw usageError(verb, 'expected NAME [SIGNAL]');
      const sig = positionals[1] ?? 'SIGTERM';
      await igloo.kill(
        positionals[0]!,
        /^\d+$/.test(sig) || sig.startsWith('SIG') ? sig : `SIG${sig.toUpperCase()}`,
      );
      return 0;
    }
    case 'exec': {
      const { values, positionals } = parseCommandArgs(
        verb,
        own,
        {
          tty: { type: 'boolean', short: 't' },
          'no-tty': { type: 'boolean', short: 'T' },
          user: { type: 'string', short: 'u' },
          env: { type: 'string', short: 'e', multiple: true },
          cwd: { type: 'string', short: 'w' },
        },
        help[verb]!,
      );
      if (values.help) return printHelp(verb);
      const name = one(positionals);
      if (command.length === 0) throw usageError(verb, 'no command given after --');
      for (const e of values.env ?? [])
        if (!e.includes('=')) throw usageError(verb, `--env "${e}" is not K=V`);
      const result = await igloo.exec(name, command, {
        tty: ttyChoice(verb, values),
        ...(values.user !== undefined && { user: values.user }),
        ...(values.env !== undefined && { env: values.env }),
        ...(values.cwd !== undefined && { cwd: values.cwd }),
      });
      return result.exitCode;
    }
    case 'console': {
      const { values, positionals } = parseCommandArgs(verb, own, {}, help[verb]!);
      if (values.help) return printHelp(verb);
      const name = one(positionals);
      const state = await igloo.state(name);
      if (state.status !== 'running')
        throw new IglooError('ESTATE', `Cannot attach to "${name}": it is ${state.status}`, {
          op: 'console',
          subject: name,
          hint: `Start it: igloo start ${name}`,
        });
      return attachConsole(igloo.paths(name).consoleSocket, name);
    }
    case 'ls': {
      const { values, positionals } = parseCommandArgs(
        verb,
        own,
        { json: { type: 'boolean' } },
        help[verb]!,
      );
      if (values.help) return printHelp(verb);
      if (positionals.length) throw usageError(verb, `unexpected argument "${positionals[0]}"`);
      const owner = await igloo.owner();
      const all = await igloo.list();
      if (values.json) {
        printJson(
          all.map((c) => ({
            name: c.name,
            state: c.state.status,
            pid: c.state.pid ?? null,
            owner: owner.name,
            idmap: c.config?.idmap ?? null,
            lastExit: c.state.lastExit ?? null,
            ...(c.error && { error: c.error }),
          })),
        );
      } else {
        const colour = (s: string) => (s === 'running' ? paint('green', s) : s);
        process.stdout.write(
          table(
            ['NAME', 'STATE', 'PID', 'OWNER', 'IDMAP'],
            all.map((c) => [
              c.name,
              colour(c.state.status),
              c.state.pid ? String(c.state.pid) : '-',
              owner.name,
              c.config ? formatIdmapSpec(c.config.idmap) : (c.error ?? '?'),
            ]),
          ),
        );
      }
      return 0;
    }
    case 'info': {
      const { values, positionals } = parseCommandArgs(
        verb,
        own,
        { json: { type: 'boolean' } },
        help[verb]!,
      );
      if (values.help) return printHelp(verb);
      const name = one(positionals);
      const config = await igloo.config(name);
      const state = await igloo.state(name);
      const paths = igloo.paths(name);
      if (values.json)
        printJson({ name, state, config, paths, rootfs: (await igloo.rootfsInfo(name)) ?? null });
      else {
        const rows: Array<[string, string]> = [
          ['name', name],
          ['state', state.status],
          ['init pid', state.pid ? String(state.pid) : '-'],
          ['started', state.startedAt ?? '-'],
          ['last exit', state.lastExit ?? '-'],
          ['idmap', formatIdmapSpec(config.idmap)],
          ['rootfs', describeRootfs(await igloo.rootfsInfo(name), config.rootfs)],
          ['init', config.init.join(' ')],
          ['hostname', config.hostname],
          ['namespaces', config.namespaces.join(',')],
          ['config', paths.config],
        ];
        for (const [k, v] of rows) process.stdout.write(`${k.padEnd(11)} ${v}\n`);
      }
      return 0;
    }
    case 'destroy': {
      const { values, positionals } = parseCommandArgs(
        verb,
        own,
        { force: { type: 'boolean', short: 'f' } },
        help[verb]!,
      );
      if (values.help) return printHelp(verb);
      const name = one(positionals);
      await igloo.destroy(name, { force: values.force === true });
      process.stdout.write(`Destroyed ${name}\n`);
      return 0;
    }
    case 'run': {
      const { values, positionals } = parseCommandArgs(
        verb,
        own,
        {
          image: { type: 'string' },
          name: { type: 'string' },
          rm: { type: 'boolean' },
          idmap: { type: 'string' },
          tty: { type: 'boolean', short: 't' },
          'no-tty': { type: 'boolean', short: 'T' },
        },
        help[verb]!,
      );
      if (values.help) return printHelp(verb);
      if (positionals.length)
        throw usageError(
          verb,
          `unexpected argument "${positionals[0]}" (put the command after --)`,
        );
      // An imported image brings its own command (Entrypoint + Cmd); a
      // command given after -- replaces Cmd and keeps the Entrypoint.
      const stored =
        values.image !== undefined &&
        values.image !== BUILTIN_IMAGE &&
        !values.image.startsWith('/')
          ? await igloo.images().get(values.image)
          : undefined;
      const tty = ttyChoice(verb, values);
      const argv = stored ? commandFor(stored.config, command) : command;
      if (argv.length === 0)
        throw usageError(verb, 'no command given after -- (and the image has none)');
      if (values.name === undefined && (values.image ?? BUILTIN_IMAGE) === BUILTIN_IMAGE) {
        // A one-shot busybox run: its files are made in memory, nothing is built on disk.
        const opts = { tty, ...(values.idmap !== undefined && { idmap: values.idmap }) };
        return (await igloo.runEphemeral(argv, opts)).exitCode;
      }
      const name = values.name ?? `run-${uniqueSuffix()}`;
      const exists = (await igloo.names()).includes(name);
      if (!exists) {
        await igloo.create(name, {
          ...(values.image !== undefined && { image: values.image }),
          ...(values.idmap !== undefined && { idmap: values.idmap }),
        });
      }
      const removeAfter = values.rm === true || values.name === undefined;
      try {
        return (await igloo.runForeground(name, argv, { tty })).exitCode;
      } finally {
        if (removeAfter) await igloo.destroy(name, { force: true });
      }
    }
  }
  throw usageError(verb, 'unknown verb');
}

function printHelp(verb: string): number {
  process.stdout.write(help[verb]!);
  return 0;
}

/** Relays the terminal to the monitor's console socket until Ctrl-a q or the end. */
async function attachConsole(path: string, name: string): Promise<number> {
  // node:net costs every other command start-up time: loaded here only.
  const { connect } = await import('node:net');
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    const stdin = process.stdin;
    let prefix = false;
    // On detach or end, let go of the terminal and the socket entirely, so
    // nothing keeps this process alive.
    const restore = () => {
      if (stdin.isTTY) stdin.setRawMode(false);
      stdin.removeAllListeners('data');
      stdin.destroy();
    };
    socket.on('error', (err) => {
      restore();
      reject(
        new IglooError('ESYS', `Cannot attach to the console of "${name}": ${err.message}`, {
          op: 'console',
          path,
          hint: 'Is the container running? (igloo ls)',
        }),
      );
    });
    socket.on('connect', () => {
      if (stdin.isTTY) {
        stdin.setRawMode(true);
        process.stderr.write(`Connected to ${name}'s console. Detach with Ctrl-a q.\r\n`);
      }
      stdin.on('data', (chunk: Buffer) => {
        for (const byte of chunk) {
          if (prefix) {
            prefix = false;
            if (byte === 0x71 /* q */) {
              restore();
              socket.destroy();
              resolve(0);
              return;
            }
            if (byte !== 0x01) socket.write(Buffer.from([0x01]));
            socket.write(Buffer.from([byte]));
          } else if (byte === 0x01 /* Ctrl-a */) prefix = true;
          else socket.write(Buffer.from([byte]));
        }
      });
      stdin.on('end', () => socket.end());
      socket.pipe(process.stdout);
    });
    socket.on('close', () => {
      restore();
      resolve(0);
    });
  });
}
