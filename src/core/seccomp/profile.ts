/**
 * Seccomp profiles: what a container's filter allows and denies, per
 * system call, before it is assembled into a BPF program (assemble.ts).
 *
 * igloo's default profile is a deny list, as LXC's is, where Docker's and
 * podman's are allow lists. The difference is the container: Docker's
 * processes are applications without capabilities, so everything gated by
 * a capability can go; an igloo container is a whole system whose root
 * holds every capability of the bounding set (src/core/caps.ts) over its
 * own user namespace. Whatever the kernel checks against the initial
 * namespace (settimeofday, reboot outside a pid namespace, syslog, module
 * loading, ...) is already refused by the kernel; what the kernel checks
 * against the container's own namespace (mount, sethostname, setns,
 * unshare, chroot, ...) is what makes a system container work, and an allow
 * list would have to allow it anyway. A deny list also keeps working when a
 * distribution inside uses a call newer than igloo's tables. So the filter
 * cuts off only what a container never needs and a kernel attacker wants:
 * kernel surfaces that ignore namespaces, and the calls whose answer would
 * cross the container's boundary.
 *
 * How a denied call returns: EPERM where a kernel would refuse an
 * unprivileged caller anyway (callers already handle it); ENOSYS where
 * callers have a path for kernels without the call (clone3 -> clone, the new
 * mount API -> mount(2), io_uring -> epoll and threads, the keyring -> no
 * keyring), so they fall back instead of failing; EAFNOSUPPORT for vsock,
 * as from a kernel without it. The x32 ABI answers ENOSYS to everything;
 * i386 gets the same rules as x86_64, comparing the low 32 bits of each
 * argument, as libseccomp does.
 *
 *  call                        Docker (allow list)         igloo default                 why igloo differs or agrees
 *  ioctl TIOCSTI, TIOCLINUX    allowed                     EPERM (low 32 bits of cmd)    the host's terminal may reach a container;
 *                                                                                        cmd is an unsigned int: a 64-bit compare is
 *                                                                                        bypassed with high bits set (CVE-2019-10063)
 *  kexec_load, kexec_file_load EPERM                       EPERM                         new kernel
 *  init/finit/delete_module    EPERM w/o CAP_SYS_MODULE    EPERM                         kernel code
 *  open_by_handle_at           EPERM w/o DAC_READ_SEARCH   EPERM                         opens files around the root (shocker)
 *  name_to_handle_at           allowed                     allowed                       only makes handles; systemd, mount ids
 *  add_key, request_key,keyctl EPERM                       ENOSYS                        keyring not namespaced; ENOSYS = no keyring
 *  iopl, ioperm                EPERM w/o CAP_SYS_RAWIO     EPERM                         raw ports
 *  swapon, swapoff, acct       EPERM                       EPERM                         host-wide state
 *  bpf                         EPERM w/o SYS_ADMIN/BPF     EPERM                         verifier surface; capability not namespaced
 *  perf_event_open             EPERM w/o SYS_ADMIN/PERFMON EPERM                         kernel surface and side channel
 *  userfaultfd                 EPERM                       EPERM                         turns kernel races into reliable exploits
 *  io_uring_setup/enter/reg.   EPERM (since moby #46762)   ENOSYS                        bypasses seccomp, many CVEs; libuv, tokio
 *                                                                                        and liburing users fall back on ENOSYS
 *  uselib                      EPERM                       ENOSYS                        a.out, gone from most kernels (ENOSYS here)
 *  socket(AF_VSOCK)            EPERM                       EAFNOSUPPORT                  vsock ignores network namespaces; i386
 *                                                                                        socketcall() cannot be filtered (pointer)
 *  clone/unshare CLONE_NEWUSER EPERM w/o CAP_SYS_ADMIN     EPERM outside --nesting       new user ns = capabilities for any user inside
 *  clone3                      ENOSYS w/o CAP_SYS_ADMIN    ENOSYS outside --nesting      flags in memory: cannot be filtered; glibc
 *                                                                                        (and igloo's helper) fall back to clone
 *  fsopen, fsconfig, fsmount,  EPERM w/o CAP_SYS_ADMIN     ENOSYS outside --nesting      more surface than mount(2) (CVE-2022-0185);
 *  fspick, open_tree(_attr),                                                             libmount and systemd fall back to mount(2);
 *  move_mount, mount_setattr                                                             the igloo helper inside a nesting one uses them
 *  personality                 0, 8, 0x20000, 0x20008,     Docker's + ADDR_NO_RANDOMIZE  setarch -R, gdb, rr; MMAP_PAGE_ZERO and
 *                              0xffffffff; others EPERM    (0x40000, 0x40008); EPERM     READ_IMPLIES_EXEC stay out
 *  umount2 MNT_FORCE           EPERM w/o CAP_SYS_ADMIN     EPERM                         forced umount of a shared file system (LXC)
 *  ptrace, process_vm_*, kcmp  allowed (kernel >= 4.8)     allowed                       4.8+ re-checks seccomp after a tracer's
 *                                                                                        change; strace and gdb work in a container
 *  mount, umount2, pivot_root, EPERM w/o CAP_SYS_ADMIN     allowed                       checked against the container's own user ns:
 *  chroot, setns, unshare,                                                               a system container mounts, sets its name,
 *  sethostname, setdomainname                                                            nests namespaces other than user
 *  reboot                      EPERM w/o CAP_SYS_BOOT      allowed                       in a pid namespace it ends that namespace's
 *                                                                                        init (how halt stops a container); other
 *                                                                                        commands there return EINVAL
 *  settimeofday, clock_settime EPERM w/o CAP_SYS_TIME      allowed                       the kernel checks CAP_SYS_TIME in the initial
 *  adjtimex, clock_adjtime                                                               namespace (a time namespace only offsets the
 *                                                                                        monotonic and boot clocks): EPERM from it
 *  syslog, quotactl(_fd),      EPERM w/o the capability    allowed                       the kernel checks the initial namespace (or
 *  vhangup, fanotify_init,                                                               the superblock's), so the answer is the
 *  mbind/set_mempolicy                                                                   kernel's; fanotify works for unprivileged
 *  modify_ldt                  allowed on x86              allowed                       wine, old threading libraries
 *  lookup_dcookie, nfsservctl, EPERM                       no rule: ENOSYS               removed from the kernel (this one answers
 *  vm86, vm86old, _sysctl,                                                               ENOSYS; vm86 does not exist on x86_64)
 *  create_module, query_module
 *  everything else             mostly allowed              allowed
 *
 * An OCI seccomp profile (config.json's linux.seccomp, or Docker's
 * profile JSON, read by oci-profile.ts) can replace the default; igloo puts the TIOCSTI and
 * TIOCLINUX rules in front of it (terminalDenies), and a config's
 * `igloo.seccomp.deny` in front of either. Rules are matched in order,
 * first match wins; a call no rule matches gets the profile's default action.
 */
import { knownSyscall, type Arch } from './tables.ts';

export type ActionKind = 'allow' | 'errno' | 'kill-process' | 'kill-thread' | 'trap' | 'log';

export interface SeccompAction {
  readonly kind: ActionKind;
  /** For 'errno': the error number the call returns. */
  readonly errno?: number;
}

export type CompareOp = 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge' | 'masked_eq';

export interface ArgCondition {
  /** Argument index, 0..5. */
  readonly index: number;
  readonly op: CompareOp;
  /** The value compared with (masked_eq: the mask). */
  readonly value: bigint;
  /** masked_eq: the value (arg & mask) must equal. */
  readonly valueTwo?: bigint;
}

export interface SeccompRule {
  readonly names: readonly string[];
  readonly action: SeccompAction;
  /** All must hold (AND). */
  readonly args: readonly ArgCondition[];
}

export interface SeccompProfile {
  readonly defaultAction: SeccompAction;
  /** The ABIs whose calls the rules apply to; calls of the others get ENOSYS. */
  readonly arches: readonly Arch[];
  readonly rules: readonly SeccompRule[];
}

/** errno names igloo accepts in configs and profiles (asm-generic/errno-base.h, errno.h). */
export const ERRNO: Readonly<Record<string, number>> = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  ENOEXEC: 8,
  EBADF: 9,
  ECHILD: 10,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENODEV: 19,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ENFILE: 23,
  EMFILE: 24,
  ENOTTY: 25,
  ENOSPC: 28,
  ESPIPE: 29,
  EROFS: 30,
  EMLINK: 31,
  EPIPE: 32,
  ERANGE: 34,
  ENOSYS: 38,
  ENOTSUP: 95,
  EOPNOTSUPP: 95,
  EAFNOSUPPORT: 97,
};

const EPERM: SeccompAction = { kind: 'errno', errno: ERRNO.EPERM! };
const CLONE_NEWUSER = 0x10000000n;
const MNT_FORCE = 1n;
const LOW32 = 0xffffffffn;
// asm-generic/ioctls.h (x86 uses the generic numbers)
export const TIOCSTI = 0x5412;
export const TIOCLINUX = 0x541c;
const AF_VSOCK = 40n;

/** The arguments igloo's default profile matches on. */
export const ARG = { CLONE_NEWUSER, MNT_FORCE, AF_VSOCK } as const;

/** `(arg & 0xffffffff) == value`: for an `unsigned int` argument, whose high word the kernel drops. */
function low32(index: number, value: bigint): ArgCondition {
  return { index, op: 'masked_eq', value: LOW32, valueTwo: value };
}
function flag(index: number, bit: bigint): ArgCondition {
  return { index, op: 'masked_eq', value: bit, valueTwo: bit };
}

/** One deny rule of igloo's default profile (also shown by `igloo audit` and the docs). */
export interface DefaultDeny {
  readonly names: readonly string[];
  /** What the denied call returns. */
  readonly errno: 'EPERM' | 'ENOSYS' | 'EAFNOSUPPORT';
  /** Only calls whose arguments match these are denied (all must hold). */
  readonly args?: readonly ArgCondition[];
  /** Denied only in containers without `igloo.nesting`. */
  readonly outsideNesting?: boolean;
  readonly why: string;
}

/**
 * The calls igloo's default profile denies, and why, in the order they are
 * matched. See the table at the top of this file for the calls left alone.
 */
export const DEFAULT_DENY: readonly DefaultDeny[] = [
  {
    names: ['ioctl'],
    errno: 'EPERM',
    args: [low32(1, BigInt(TIOCSTI))],
    why: 'TIOCSTI pushes input into a terminal: a container given a terminal of the host would type commands into its shell',
  },
  {
    names: ['ioctl'],
    errno: 'EPERM',
    args: [low32(1, BigInt(TIOCLINUX))],
    why: 'TIOCLINUX can paste the console selection as input, and reads and changes the virtual console',
  },
  {
    names: ['kexec_load', 'kexec_file_load'],
    errno: 'EPERM',
    why: 'load a new kernel',
  },
  {
    names: ['init_module', 'finit_module', 'delete_module'],
    errno: 'EPERM',
    why: 'load or unload kernel modules',
  },
  {
    names: ['open_by_handle_at'],
    errno: 'EPERM',
    why: 'open any file of a file system by its handle, around the container root',
  },
  {
    names: ['add_key', 'request_key', 'keyctl'],
    errno: 'ENOSYS',
    why: "the kernel key store is not namespaced, and every session keyring counts against the owner's quota",
  },
  { names: ['iopl', 'ioperm'], errno: 'EPERM', why: 'raw I/O port access' },
  { names: ['swapon', 'swapoff'], errno: 'EPERM', why: "change the host's swap" },
  { names: ['acct'], errno: 'EPERM', why: 'process accounting to a file' },
  {
    names: ['bpf'],
    errno: 'EPERM',
    why: 'BPF programs and maps: a large kernel surface (the verifier) that only the initial namespace may use',
  },
  {
    names: ['perf_event_open'],
    errno: 'EPERM',
    why: "performance counters: a kernel surface and a side channel into the host's other processes",
  },
  {
    names: ['userfaultfd'],
    errno: 'EPERM',
    why: 'lets a process stall the kernel in the middle of a copy from user memory, the usual way to win a kernel race',
  },
  {
    names: ['io_uring_setup', 'io_uring_enter', 'io_uring_register'],
    errno: 'ENOSYS',
    why: 'io_uring runs its operations past the seccomp filter and has been a steady source of kernel exploits',
  },
  {
    names: ['uselib'],
    errno: 'ENOSYS',
    why: 'a.out shared libraries: dead code with a history of bugs',
  },
  {
    names: ['socket'],
    errno: 'EAFNOSUPPORT',
    args: [low32(0, AF_VSOCK)],
    why: 'vsock is not bound to a network namespace: it reaches the hypervisor and vsock services of the host around the container network',
  },
  {
    names: ['clone', 'unshare'],
    errno: 'EPERM',
    args: [flag(0, CLONE_NEWUSER)],
    outsideNesting: true,
    why: 'a new user namespace gives any user inside full capabilities over new namespaces, and so the kernel surface behind them (nf_tables, mounts of more file systems): only nesting containers need one',
  },
  {
    names: ['clone3'],
    errno: 'ENOSYS',
    outsideNesting: true,
    why: 'its flags sit in memory a filter cannot read, so CLONE_NEWUSER cannot be told apart: ENOSYS sends the C library back to clone',
  },
  {
    names: [
      'fsopen',
      'fsconfig',
      'fsmount',
      'fspick',
      'open_tree',
      'open_tree_attr',
      'move_mount',
      'mount_setattr',
    ],
    errno: 'ENOSYS',
    outsideNesting: true,
    why: 'the new mount API adds kernel surface (fsconfig was CVE-2022-0185) over mount(2), which stays: ENOSYS makes mount tools fall back to it; nesting containers keep it for the igloo inside',
  },
];

/**
 * personality() values the default profile allows, compared in the low 32
 * bits (the kernel takes an unsigned int): Docker's list (PER_LINUX,
 * PER_LINUX32, with UNAME26, and the query 0xffffffff) plus
 * ADDR_NO_RANDOMIZE with either (setarch -R, gdb and rr turn ASLR off for
 * the program they start). Other flags (MMAP_PAGE_ZERO, READ_IMPLIES_EXEC,
 * ADDR_LIMIT_*, foreign personalities) get EPERM.
 */
export const PERSONALITY_ALLOWED: readonly number[] = [
  0x0, 0x8, 0x20000, 0x20008, 0x40000, 0x40008, 0xffffffff,
];

export interface DefaultProfileOptions {
  /** The container runs containers (`igloo.nesting`): user namespaces and the new mount API stay. */
  readonly nesting?: boolean;
}

/** The deny rules a container gets, nesting or not. */
export function defaultDenies(opts: DefaultProfileOptions = {}): DefaultDeny[] {
  return DEFAULT_DENY.filter((d) => !(d.outsideNesting && opts.nesting));
}

export function defaultProfile(opts: DefaultProfileOptions = {}): SeccompProfile {
  return {
    defaultAction: { kind: 'allow' },
    arches: ['x86_64', 'i386'],
    rules: [
      ...defaultDenies(opts).map((d) => ({
        names: d.names,
        action: { kind: 'errno' as const, errno: ERRNO[d.errno]! },
        args: d.args ?? [],
      })),
      ...PERSONALITY_ALLOWED.map((v) => ({
        names: ['personality'],
        action: { kind: 'allow' as const },
        args: [low32(0, BigInt(v))],
      })),
      { names: ['personality'], action: EPERM, args: [] },
      // umount2(path, MNT_FORCE): a forced umount can hit a file system the
      // container shares with the host (LXC's reject_force_umount)
      { names: ['umount2'], action: EPERM, args: [flag(1, MNT_FORCE)] },
    ],
  };
}

/**
 * The rules igloo puts in front of an OCI profile too: profiles written for
 * application containers (Docker's among them) allow every ioctl, and an
 * igloo container may hold a terminal of the host.
 */
export function terminalDenies(): SeccompRule[] {
  return DEFAULT_DENY.filter((d) => d.names.includes('ioctl')).map((d) => ({
    names: d.names,
    action: { kind: 'errno' as const, errno: ERRNO[d.errno]! },
    args: d.args ?? [],
  }));
}

/** One entry of `igloo.seccomp.deny`: a system call and the errno it returns. */
export interface SyscallDeny {
  readonly name: string;
  readonly errno: string;
}

/** Parses "keyctl, ptrace:ENOSYS" (default errno EPERM). Throws Error with the reason. */
export function parseDenyList(text: string): SyscallDeny[] {
  const out: SyscallDeny[] = [];
  for (const item of text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const [name = '', errno = 'EPERM', ...rest] = item.split(':').map((s) => s.trim());
    if (rest.length || !/^[a-z0-9_]+$/.test(name))
      throw new Error(`"${item}" is not SYSCALL or SYSCALL:ERRNO`);
    if (!knownSyscall(name)) throw new Error(`unknown system call "${name}"`);
    if (ERRNO[errno] === undefined)
      throw new Error(`unknown errno "${errno}" (known: ${Object.keys(ERRNO).join(', ')})`);
    out.push({ name, errno });
  }
  return out;
}

/** The profile with a container's extra denies in front of its rules. */
export function extendProfile(
  profile: SeccompProfile,
  deny: readonly SyscallDeny[],
): SeccompProfile {
  return {
    ...profile,
    rules: [
      ...deny.map((d) => ({
        names: [d.name],
        action: { kind: 'errno' as const, errno: ERRNO[d.errno]! },
        args: [],
      })),
      ...profile.rules,
    ],
  };
}
