/**
 * /proc/PID/stat, the fields igloo uses: the state letter (field 3) and the
 * start time (field 22, clock ticks since boot), which tells a process from
 * a later one that got the same pid. Pure: the callers read the file (the
 * lifecycle's liveness check in host/proc.ts, the `igloo ps` scan in
 * inspect/scan.ts).
 */

export interface ProcStat {
  /** R, S, D, Z, T, I, ... */
  readonly state: string;
  /** starttime: clock ticks after boot at which the process started. */
  readonly startTime: number;
}

/** Fields 3 to 22, matched from the last ')' (fields 3 to 21 hold no spaces). */
const FIELDS = /^\) (\S+) (?:\S+ ){18}(\d+)(?:[ \n]|$)/;

/** The state and start time of a stat text, or undefined when it is not one. */
export function parseProcStat(text: string): ProcStat | undefined {
  // comm (field 2) may hold spaces and parentheses: the fields start after the last ')'.
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  const m = FIELDS.exec(text.slice(close));
  return m ? { state: m[1]!, startTime: Number(m[2]) } : undefined;
}
