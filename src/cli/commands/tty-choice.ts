/**
 * -t/--tty and -T/--no-tty of exec and run: a pty when asked for, or,
 * without either, when stdin and stdout are terminals (an interactive
 * command). The native front (src/native/front.c) chooses the same way.
 */
import type { CommandSpec } from '../spec.ts';
import { usageError } from '../parse.ts';

export function ttyChoice(
  spec: CommandSpec,
  options: { tty?: boolean; 'no-tty'?: boolean },
): boolean {
  if (options.tty && options['no-tty']) throw usageError(spec, '-t and -T contradict each other');
  if (options.tty) return true;
  if (options['no-tty']) return false;
  return process.stdin.isTTY === true && process.stdout.isTTY === true;
}
