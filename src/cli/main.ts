#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS node
/**
 * igloo's command line. This file stays small so `igloo` starts fast: the
 * command tables (command-table.ts) say what each command accepts, the
 * parser reads the command line through them, and only then is the one
 * implementation that runs imported (implementations.ts; the bundle splits
 * each into its own chunk). The #! line drops NODE_EXTRA_CA_CERTS: igloo
 * opens no TLS connection, and Node 20 loads those certificates at every
 * start (about 45 ms of CPU on a host that sets it).
 */
import { findCommand } from './command-table.ts';
import { commandHelp, overview } from './help.ts';
import { loadImplementation } from './implementations.ts';
import { printError } from './output.ts';
import { parseCommandLine } from './parse.ts';

export const VERSION = '0.1.0';

async function main(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  if (verb === undefined || verb === '--help' || verb === '-h') {
    process.stdout.write(overview());
    return verb === undefined ? 2 : 0;
  }
  if (verb === '--version' || verb === '-V') {
    process.stdout.write(`igloo ${VERSION}\n`);
    return 0;
  }
  if (verb === '__userns') {
    // Internal: igloo re-runs itself inside a container's user namespace.
    const { performUsernsTask } = await import('../lifecycle/userns-task-body.ts');
    try {
      await performUsernsTask(JSON.parse(rest[0] ?? '{}'));
      return 0;
    } catch (err) {
      return printError(err, false);
    }
  }
  // runc's command line (global flags before the verb): its own parser.
  if (verb === 'oci') return (await import('./commands/oci.ts')).ociMain(rest);
  const entry = findCommand(verb);
  if (!entry) {
    process.stderr.write(`igloo: unknown command "${verb}"\n\n${overview()}`);
    return 2;
  }
  try {
    const parsed = parseCommandLine(entry, rest);
    if (parsed.kind === 'help') {
      process.stdout.write(commandHelp(parsed.entry));
      return parsed.status;
    }
    const run = await loadImplementation(parsed.invocation.spec);
    return await run(parsed.invocation);
  } catch (err) {
    return printError(err, rest.includes('--json'));
  }
}

process.exitCode = await main(process.argv.slice(2));
