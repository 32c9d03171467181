/** Small /proc readers used by the lifecycle. */
import { readFile } from 'node:fs/promises';
import { parseProcStat } from '../core/proc-stat.ts';

/** starttime (field 22 of /proc/PID/stat), to tell a pid from a reused one; undefined for a zombie. */
export async function processStartTime(pid: number): Promise<number | undefined> {
  let stat;
  try {
    stat = parseProcStat(await readFile(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
  if (stat === undefined || stat.state === 'Z' || stat.state === 'X') return undefined;
  return stat.startTime;
}

/** True while the process exists, is not a zombie, and is the same process (start time). */
export async function processAlive(pid: number, startTime?: number): Promise<boolean> {
  const now = await processStartTime(pid);
  return now !== undefined && (startTime === undefined || now === startTime);
}
