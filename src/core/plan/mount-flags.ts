/** mount(2) flag bits (linux/mount.h), by name, for the plan and its tests. */
export const MS = {
  RDONLY: 1,
  NOSUID: 2,
  NODEV: 4,
  NOEXEC: 8,
  REMOUNT: 32,
  BIND: 4096,
  REC: 16384,
  PRIVATE: 1 << 18,
  RELATIME: 1 << 21,
  STRICTATIME: 1 << 24,
} as const;

export function mountFlags(...names: Array<keyof typeof MS>): number {
  return names.reduce((acc, n) => acc | MS[n], 0);
}
