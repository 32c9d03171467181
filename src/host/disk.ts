/**
 * Whether a file system is full: an operation that failed while writing
 * there (a helper task, CRIU) failed for that, and its error should say
 * ENOSPC and name the path even when the tool's own message was cut short
 * (CRIU's log cannot be written either) or went to the terminal.
 */
import { statfsSync } from 'node:fs';
import { dirname } from 'node:path';

/** The file system of PATH (or of its nearest existing parent) has less than 1 MiB free. */
export function fileSystemFull(path: string): boolean {
  for (let p = path; ; p = dirname(p)) {
    try {
      const s = statfsSync(p);
      return s.bavail * s.bsize < 1 << 20;
    } catch {
      if (p === dirname(p)) return false;
    }
  }
}
