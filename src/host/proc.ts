/** Small /proc readers used by the lifecycle. */
import { readFile } from 'node:fs/promises';

/** starttime (field 22 of /proc/PID/stat), to tell a pid from a reused one. */
export async function processStartTime(pid: number): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name may contain spaces and parentheses: split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const state = fields[0];
    if (state === 'Z' || state === 'X') return undefined;
    return Number(fields[19]);
  } catch {
    return undefined;
  }
}

/** True while the process exists, is not a zombie, and is the same process (start time). */
export async function processAlive(pid: number, startTime?: number): Promise<boolean> {
  const now = await processStartTime(pid);
  return now !== undefined && (startTime === undefined || now === startTime);
}
