/** What igloo ps and igloo tree share: one pass over /proc, broken containers said on stderr. */
import { setFlagsFromString } from 'node:v8';
import { visible } from '../../core/snapshot/format.ts';
import type { Snapshot } from '../../core/snapshot/model.ts';

/**
 * V8 settings for a command that makes one pass over a thousand processes
 * and exits: the optimizing compiler would compile the scan's functions on
 * a second thread while they run, for code that finishes before it would
 * pay off (measured: 15-25 % of the command's CPU time), and the
 * young-generation collections need no helper threads for a few megabytes.
 * Both only change how V8 runs the same code.
 */
export function tuneForOnePass(): void {
  setFlagsFromString('--no-opt');
  setFlagsFromString('--no-parallel-scavenge');
}

/**
 * Containers whose files discovery refused (a FIFO or link for state.json,
 * a state.json naming a process that is not the container's): one line
 * each on stderr, so the listing still comes and says what it left out.
 */
export function warnBroken(broken: Snapshot['broken']): void {
  for (const b of broken ?? []) {
    const what = b.name === null ? `${b.owner}'s containers` : `${b.owner}'s container ${b.name}`;
    // names and paths the owner chose: control characters shown as "?"
    process.stderr.write(
      `${visible(`igloo: warning: skipped ${what} (broken): ${b.path}: ${b.reason}`)}\n`,
    );
  }
}
