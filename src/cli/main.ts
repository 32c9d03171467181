#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS node
/**
 * igloo's command line. This file stays small so `igloo` starts fast: each
 * command lives in commands/<verb>.ts and is imported only when it runs (the
 * bundle splits it into its own chunk). The #! line drops
 * NODE_EXTRA_CA_CERTS: igloo opens no TLS connection, and Node 20 loads
 * those certificates at every start (about 45 ms of CPU on a host that sets
 * it).
 */
import { printError } from './output.ts';

type CommandModule = { run(args: string[]): Promise<number> };

const containerVerb = async (verb: string): Promise<CommandModule> => {
  const m = await import('./commands/containers.ts');
  return { run: (args) => m.run(verb, args) };
};

const checkpointVerb = async (verb: string): Promise<CommandModule> => {
  const m = await import('./commands/checkpoint.ts');
  return { run: (args) => m.run(verb, args) };
};

const commands: Record<string, { summary: string; load: () => Promise<CommandModule> }> = {
  check: {
    summary: 'Check that this host can run unprivileged containers',
    load: () => import('./commands/check.ts'),
  },
  create: {
    summary: 'Create a container with its own slice of your ids',
    load: () => containerVerb('create'),
  },
  start: {
    summary: "Start a container's init in the background",
    load: () => containerVerb('start'),
  },
  stop: {
    summary: 'Halt a container (its halt signal, then SIGKILL)',
    load: () => containerVerb('stop'),
  },
  kill: { summary: "Send a signal to a container's init", load: () => containerVerb('kill') },
  exec: { summary: 'Run a command inside a running container', load: () => containerVerb('exec') },
  console: { summary: "Attach to a container's console", load: () => containerVerb('console') },
  run: {
    summary: 'Run one command in a new container, in the foreground',
    load: () => containerVerb('run'),
  },
  ls: { summary: 'List your containers', load: () => containerVerb('ls') },
  info: { summary: "Show a container's config and state", load: () => containerVerb('info') },
  destroy: { summary: 'Remove a container and its files', load: () => containerVerb('destroy') },
  image: {
    summary: 'List, import and remove images (OCI and docker archives, busybox)',
    load: () => import('./commands/image.ts'),
  },
  ps: {
    summary: 'Show processes with their namespaces and ids, outside and inside',
    load: () => import('./commands/ps.ts'),
  },
  tree: {
    summary: 'Show the tree of user namespaces, their maps and processes',
    load: () => import('./commands/tree.ts'),
  },
  audit: { summary: 'Look for isolation problems', load: () => import('./commands/audit.ts') },
  checkpoint: {
    summary: 'Dump a running container with CRIU (root)',
    load: () => checkpointVerb('checkpoint'),
  },
  restore: {
    summary: 'Restore a checkpointed container (root)',
    load: () => checkpointVerb('restore'),
  },
  export: {
    summary: 'Write a container (rootfs, config, checkpoint) into one archive',
    load: () => checkpointVerb('export'),
  },
  'import-container': {
    summary: 'Create a container from an archive made by igloo export',
    load: () => checkpointVerb('import-container'),
  },
  subid: {
    summary: 'Show, grant and revoke subordinate id blocks (/etc/subuid, /etc/subgid)',
    load: () => import('./commands/subid.ts'),
  },
};

export const VERSION = '0.1.0';

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((c) => c.length));
  const lines = Object.entries(commands).map(
    ([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`,
  );
  return `Usage: igloo <command> [options]\n\nUnprivileged Linux containers for every user of a shared host.\n\nCommands:\n${lines.join('\n')}\n\nRun 'igloo <command> --help' for a command's options.\n`;
}

async function main(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  if (verb === undefined || verb === '--help' || verb === '-h' || verb === 'help') {
    process.stdout.write(usage());
    return verb === undefined ? 2 : 0;
  }
  if (verb === '--version' || verb === '-V') {
    process.stdout.write(`igloo ${VERSION}\n`);
    return 0;
  }
  if (verb === '__userns') {
    // Internal: igloo re-runs itself inside a container's user namespace.
    const { performUsernsTask } = await import('../lifecycle/userns-task.ts');
    try {
      await performUsernsTask(JSON.parse(rest[0] ?? '{}'));
      return 0;
    } catch (err) {
      return printError(err, false);
    }
  }
  const command = commands[verb];
  if (!command) {
    process.stderr.write(`igloo: unknown command "${verb}"\n\n${usage()}`);
    return 2;
  }
  try {
    return await (await command.load()).run(rest);
  } catch (err) {
    return printError(err, rest.includes('--json'));
  }
}

process.exitCode = await main(process.argv.slice(2));
