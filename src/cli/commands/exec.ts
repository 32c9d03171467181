/** igloo exec NAME [-t|-T] [--user U] [--env K=V]... [--cwd D] -- CMD [ARG...] */
import { Igloo } from '../../lifecycle/igloo.ts';
import type { exec as execSpec } from '../command-table.ts';
import { usageError } from '../parse.ts';
import type { Invocation } from '../spec.ts';
import { ttyChoice } from './tty-choice.ts';

export async function exec({
  spec,
  options,
  args: { NAME: name },
  command,
}: Invocation<typeof execSpec>): Promise<number> {
  for (const e of options.env ?? [])
    if (!e.includes('=')) throw usageError(spec, `--env "${e}" is not K=V`);
  const tty = ttyChoice(spec, options);
  const result = await new Igloo().exec(name, command, {
    tty,
    ...(options.user !== undefined && { user: options.user }),
    ...(options.env !== undefined && { env: options.env }),
    ...(options.cwd !== undefined && { cwd: options.cwd }),
  });
  return result.exitCode;
}
