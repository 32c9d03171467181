/**
 * Container processes run as the container's ids (14000000.. for the test
 * user), not as the user, so `pkill -u igloo-bench` misses a container's
 * init whose monitor was killed. This kills every process whose real uid is
 * in the test range.
 */
import { readdirSync, readFileSync } from 'node:fs';

export function killIdRange(start: number, count: number): number {
  let killed = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const uid = Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${entry}/status`, 'utf8'))?.[1]);
      if (uid >= start && uid < start + count) {
        process.kill(Number(entry), 'SIGKILL');
        killed++;
      }
    } catch {
      // gone meanwhile
    }
  }
  return killed;
}
