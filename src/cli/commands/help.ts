/** igloo help [COMMAND [ACTION]]: as igloo --help, or igloo COMMAND [ACTION] --help. */
import { IglooError } from '../../core/errors.ts';
import { findCommand, type help as helpSpec } from '../command-table.ts';
import { commandHelp, overview } from '../help.ts';
import { parseCommandLine } from '../parse.ts';
import type { Invocation } from '../spec.ts';

export async function help({
  args: { COMMAND: words },
}: Invocation<typeof helpSpec>): Promise<number> {
  const [word, ...more] = words;
  if (word === undefined) {
    process.stdout.write(overview());
    return 0;
  }
  const entry = findCommand(word);
  if (!entry)
    throw new IglooError('EINVAL', `help: unknown command "${word}"`, {
      op: 'help',
      hint: "igloo --help lists igloo's commands",
    });
  // The help a command (or a family's action) gives for --help.
  const parsed = parseCommandLine(entry, [...more.slice(0, 1), '--help']);
  process.stdout.write(commandHelp(parsed.kind === 'help' ? parsed.entry : entry));
  return 0;
}
