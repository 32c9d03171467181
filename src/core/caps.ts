/**
 * Capabilities: names and numbers (linux/capability.h), and the bounding set
 * every container gets.
 *
 * Root in a container holds its capabilities only over its own user
 * namespace, so most of them are harmless to the host. The default bounding
 * set still drops the ones that either act on the whole machine (the kernel
 * checks them in the initial namespace, so they are useless here and only
 * widen the surface a kernel bug could use) or that no container needs,
 * as LXC's default configuration does (mac_admin mac_override sys_time
 * sys_module sys_rawio), plus a few more:
 *
 *   sys_module        load and unload kernel modules
 *   sys_rawio         iopl/ioperm, raw block and memory I/O
 *   mac_admin         change the LSM (AppArmor, SELinux, Smack) policy
 *   mac_override      bypass the LSM policy
 *   sys_time          set the system clock
 *   audit_control     change the kernel's audit rules
 *   audit_read        read the audit log over netlink
 *   wake_alarm        set alarms that wake the machine from suspend
 *   block_suspend     keep the machine from suspending
 *   syslog            read and clear the kernel log, see kernel pointers
 *   bpf, perfmon      load BPF programs, use perf: honoured only in the
 *                     initial namespace, and a large kernel surface
 *
 * Kept on purpose: sys_admin (mounts inside the container, nested
 * containers), sys_boot (reboot() in a pid namespace is how busybox init
 * halts the container), net_admin (the container's own network namespace),
 * mknod (the kernel refuses device nodes in a user namespace anyway),
 * setuid/setgid/setpcap (the container's own id switching), audit_write
 * (login programs fail without it).
 */

export const CAPABILITIES: readonly string[] = [
  'chown', // 0
  'dac_override',
  'dac_read_search',
  'fowner',
  'fsetid',
  'kill', // 5
  'setgid',
  'setuid',
  'setpcap',
  'linux_immutable',
  'net_bind_service', // 10
  'net_broadcast',
  'net_admin',
  'net_raw',
  'ipc_lock',
  'ipc_owner', // 15
  'sys_module',
  'sys_rawio',
  'sys_chroot',
  'sys_ptrace',
  'sys_pacct', // 20
  'sys_admin',
  'sys_boot',
  'sys_nice',
  'sys_resource',
  'sys_time', // 25
  'sys_tty_config',
  'mknod',
  'lease',
  'audit_write',
  'audit_control', // 30
  'setfcap',
  'mac_override',
  'mac_admin',
  'syslog',
  'wake_alarm', // 35
  'block_suspend',
  'audit_read',
  'perfmon',
  'bpf',
  'checkpoint_restore', // 40
];

/** The highest capability igloo knows (CAP_LAST_CAP of Linux 5.9 .. 6.18). */
export const CAP_LAST = CAPABILITIES.length - 1;

export const DEFAULT_CAP_DROP: readonly string[] = [
  'sys_module',
  'sys_rawio',
  'mac_admin',
  'mac_override',
  'sys_time',
  'audit_control',
  'audit_read',
  'wake_alarm',
  'block_suspend',
  'syslog',
  'bpf',
  'perfmon',
];

/** "CAP_SYS_ADMIN", "sys_admin", "SYS_ADMIN" -> "sys_admin"; undefined if unknown. */
export function capName(text: string): string | undefined {
  const name = text.trim().toLowerCase().replace(/^cap_/, '');
  return CAPABILITIES.includes(name) ? name : undefined;
}

export function capNumber(name: string): number {
  const n = CAPABILITIES.indexOf(name);
  if (n < 0) throw new Error(`unknown capability ${name}`);
  return n;
}

export interface CapSettings {
  /** Capabilities the default drops that this container keeps anyway. */
  readonly keep: readonly string[];
  /** Capabilities dropped in addition to the default. */
  readonly drop: readonly string[];
}

/** The bounding set a container's processes get, as sorted names. */
export function boundingSet(caps: CapSettings): string[] {
  const dropped = new Set(DEFAULT_CAP_DROP.filter((c) => !caps.keep.includes(c)));
  for (const c of caps.drop) dropped.add(c);
  return CAPABILITIES.filter((c) => !dropped.has(c));
}

/** Capabilities a container keeps beyond igloo's default bounding set. */
export function extraCaps(caps: CapSettings): string[] {
  return DEFAULT_CAP_DROP.filter((c) => caps.keep.includes(c) && !caps.drop.includes(c));
}

/**
 * The bounding set as the helper's `caps` record takes it: a hex mask of
 * the capabilities to keep (bit N = capability N). Capabilities beyond
 * CAP_LAST (a newer kernel's) are not in the mask, so the helper drops them.
 */
export function capMaskHex(names: readonly string[]): string {
  let mask = 0n;
  for (const n of names) mask |= 1n << BigInt(capNumber(n));
  return mask.toString(16);
}

/** The names in a hex mask such as /proc/PID/status CapBnd shows. */
export function capsFromHex(hex: string): string[] {
  const mask = BigInt(`0x${hex.trim() || '0'}`);
  return CAPABILITIES.filter((_, i) => (mask >> BigInt(i)) & 1n);
}
