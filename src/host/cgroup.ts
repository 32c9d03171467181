/** cgroup detection: v2 (unified), v1, or the hybrid this project's CI runs. */
import { readFile } from 'node:fs/promises';

export interface CgroupLayout {
  readonly layout: 'unified' | 'hybrid' | 'legacy' | 'none';
  /** Mount point of the cgroup2 hierarchy, if any. */
  readonly unified: string | undefined;
  readonly v1Controllers: string[];
}

export async function detectCgroups(mountsText?: string): Promise<CgroupLayout> {
  const text = mountsText ?? (await readFile('/proc/self/mounts', 'utf8'));
  let unified: string | undefined;
  const v1: string[] = [];
  for (const line of text.split('\n')) {
    const [, mountPoint, fstype, options] = line.split(' ');
    if (fstype === 'cgroup2' && mountPoint) unified ??= mountPoint;
    if (fstype === 'cgroup' && options) {
      for (const opt of options.split(',')) {
        if (
          ['rw', 'ro', 'relatime', 'nosuid', 'nodev', 'noexec', 'clone_children'].includes(opt) ||
          opt.startsWith('release_agent')
        )
          continue;
        v1.push(opt);
      }
    }
  }
  const layout =
    unified && v1.length === 0 ? 'unified' : unified ? 'hybrid' : v1.length ? 'legacy' : 'none';
  return { layout, unified, v1Controllers: v1 };
}
