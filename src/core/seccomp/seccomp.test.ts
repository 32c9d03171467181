import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { IglooError } from '../errors.ts';
import {
  AUDIT_ARCH_I386,
  AUDIT_ARCH_X86_64,
  SECCOMP_RET,
  X32_SYSCALL_BIT,
  assemble,
  decodeProgram,
  encodeProgram,
  type SockFilter,
} from './assemble.ts';
import { run, verify } from './bpf-vm.ts';
import { parseConfig } from '../config/file.ts';
import { runnableConfig } from '../config/runnable.ts';
import { containerFilter } from './index.ts';
import {
  ERRNO,
  PERSONALITY_ALLOWED,
  TIOCLINUX,
  TIOCSTI,
  defaultDenies,
  defaultProfile,
  extendProfile,
  parseDenyList,
  type SeccompProfile,
} from './profile.ts';
import { parseOciProfile } from './oci-profile.ts';
import { syscallNumber, syscallNames, type Arch } from './tables.ts';

const ALLOW = SECCOMP_RET.ALLOW;
const errno = (n: number) => (SECCOMP_RET.ERRNO | n) >>> 0;
const EPERM = errno(1);
const ENOSYS = errno(38);

/** Runs `prog` for a call of `name` on `arch` (x32: with the x32 bit). */
function call(prog: SockFilter[], arch: Arch, name: string, args: bigint[] = []): number {
  const nr = syscallNumber(arch, name);
  assert.ok(nr !== undefined, `${arch} has ${name}`);
  return run(prog, {
    nr: arch === 'x32' ? (nr | X32_SYSCALL_BIT) >>> 0 : nr,
    arch: arch === 'i386' ? AUDIT_ARCH_I386 : AUDIT_ARCH_X86_64,
    args,
  });
}

describe('syscall tables', () => {
  test('numbers of syscall_64.tbl, the x32 rows and syscall_32.tbl', () => {
    assert.equal(syscallNumber('x86_64', 'read'), 0);
    assert.equal(syscallNumber('x86_64', 'keyctl'), 250);
    assert.equal(syscallNumber('x86_64', 'kexec_load'), 246);
    assert.equal(syscallNumber('x86_64', 'open_by_handle_at'), 304);
    assert.equal(syscallNumber('x86_64', 'finit_module'), 313);
    assert.equal(syscallNumber('x86_64', 'clone3'), 435);
    assert.equal(syscallNumber('x86_64', 'file_setattr'), 469);
    assert.equal(syscallNumber('x32', 'keyctl'), 250);
    assert.equal(syscallNumber('x32', 'kexec_load'), 528, 'x32 has its own compat kexec_load');
    assert.equal(syscallNumber('x32', 'map_shadow_stack'), undefined);
    assert.equal(syscallNumber('i386', 'keyctl'), 288);
    assert.equal(syscallNumber('i386', 'kexec_load'), 283);
    assert.equal(syscallNumber('i386', 'finit_module'), 350);
    assert.equal(syscallNumber('i386', 'umount2'), 52);
    assert.equal(syscallNumber('i386', 'kexec_file_load'), undefined, 'i386 has none');
    for (const arch of ['x86_64', 'x32', 'i386'] as const) {
      const nums = syscallNames(arch).map((n) => syscallNumber(arch, n));
      assert.equal(new Set(nums).size, nums.length, `${arch}: numbers are unique`);
    }
  });
});

/** Every call of an ABI with all-zero arguments, except those the profile denies outright. */
function unconditionalDenies(nesting: boolean): Set<string> {
  return new Set(
    defaultDenies({ nesting })
      .filter((d) => !d.args)
      .flatMap((d) => d.names),
  );
}

const BOTH = ['x86_64', 'i386'] as const;
const NEW_MOUNT_API = [
  'fsopen',
  'fsconfig',
  'fsmount',
  'fspick',
  'open_tree',
  'open_tree_attr',
  'move_mount',
  'mount_setattr',
];
const CLONE_NEWUSER = 0x10000000n;
const CLONE_NEWNS = 0x20000n;
const CLONE_NEWPID = 0x20000000n;
const CLONE_NEWNET = 0x40000000n;
const SIGCHLD = 17n;
// glibc's fork() and pthread_create() flags
const FORK_FLAGS = 0x01200000n | SIGCHLD;
const THREAD_FLAGS = 0x003d0f00n;
const TIOCGWINSZ = 0x5413n;
const TIOCSWINSZ = 0x5414n;
const TIOCSCTTY = 0x540en;
const TIOCSPTLCK = 0x40045431n;
const TIOCGPTPEER = 0x5441n;
const TCGETS = 0x5401n;
const FIONREAD = 0x541bn;
const HIGH = [0n, 1n << 32n, 0xffffffffn << 32n, 0xdead0000n << 32n];

for (const nesting of [false, true]) {
  describe(`the default filter${nesting ? ', nesting' : ''}`, () => {
    const prog = assemble(defaultProfile({ nesting }));
    const denied = unconditionalDenies(nesting);

    test('passes the kernel verifier rules and stays small', () => {
      verify(prog);
      assert.ok(prog.length < 400, `${prog.length} instructions`);
    });

    test('denies every unconditional default call on x86_64 and i386, with its errno', () => {
      for (const d of defaultDenies({ nesting })) {
        if (d.args) continue;
        for (const name of d.names) {
          for (const arch of BOTH) {
            if (syscallNumber(arch, name) === undefined) continue;
            assert.equal(call(prog, arch, name), errno(ERRNO[d.errno]!), `${arch} ${name}`);
          }
        }
      }
      for (const name of ['kexec_load', 'init_module', 'finit_module', 'delete_module'])
        assert.equal(call(prog, 'x86_64', name), EPERM, name);
      for (const name of ['open_by_handle_at', 'bpf', 'perf_event_open', 'userfaultfd'])
        for (const arch of BOTH) assert.equal(call(prog, arch, name), EPERM, `${arch} ${name}`);
      for (const name of ['add_key', 'request_key', 'keyctl', 'io_uring_setup', 'io_uring_enter'])
        for (const arch of BOTH) assert.equal(call(prog, arch, name), ENOSYS, `${arch} ${name}`);
    });

    test('allows every other call with zero arguments, on both ABIs', () => {
      for (const arch of BOTH) {
        for (const name of syscallNames(arch)) {
          if (denied.has(name)) continue;
          assert.equal(call(prog, arch, name), ALLOW, `${arch} ${name}`);
        }
      }
    });

    test('denies ioctl TIOCSTI and TIOCLINUX by the low 32 bits of cmd, and nothing else', () => {
      for (const arch of BOTH) {
        // every cmd with a zero high half of the low word (the tty ioctls live there)
        for (let cmd = 0n; cmd <= 0xffffn; cmd++) {
          const want = cmd === 0x5412n || cmd === 0x541cn ? EPERM : ALLOW;
          assert.equal(call(prog, arch, 'ioctl', [0n, cmd, 0x1000n]), want, `${arch} 0x${cmd}`);
        }
      }
      // The kernel takes cmd as an unsigned int: high bits must not get it past.
      for (const high of HIGH) {
        for (const cmd of [BigInt(TIOCSTI), BigInt(TIOCLINUX)]) {
          assert.equal(call(prog, 'x86_64', 'ioctl', [0n, high | cmd]), EPERM, `${high | cmd}`);
          assert.equal(call(prog, 'x86_64', 'ioctl', [high | 7n, cmd]), EPERM, 'any fd');
          assert.equal(call(prog, 'i386', 'ioctl', [0n, high | cmd]), EPERM, `i386 ${high | cmd}`);
        }
        assert.equal(call(prog, 'x86_64', 'ioctl', [0n, high | TIOCGWINSZ]), ALLOW);
      }
      // the helper's console setup after the filter, and a shell's usual ioctls
      for (const cmd of [
        TIOCSPTLCK,
        TIOCGPTPEER,
        TIOCSCTTY,
        TIOCSWINSZ,
        TIOCGWINSZ,
        TCGETS,
        FIONREAD,
      ])
        for (const arch of BOTH)
          assert.equal(call(prog, arch, 'ioctl', [3n, cmd, 0x1000n]), ALLOW, `${arch} ${cmd}`);
    });

    test('user namespaces: clone and unshare with CLONE_NEWUSER, and clone3', () => {
      const userns = nesting ? ALLOW : EPERM;
      for (const arch of BOTH) {
        for (const name of ['clone', 'unshare']) {
          for (const flags of [
            CLONE_NEWUSER,
            CLONE_NEWUSER | SIGCHLD,
            CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET,
            (0xffffffffn << 32n) | CLONE_NEWUSER,
            0xffffffffn,
          ])
            assert.equal(call(prog, arch, name, [flags]), userns, `${arch} ${name} ${flags}`);
          for (const flags of [
            0n,
            FORK_FLAGS,
            THREAD_FLAGS,
            CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET,
            0xffffffffn ^ CLONE_NEWUSER,
          ])
            assert.equal(call(prog, arch, name, [flags]), ALLOW, `${arch} ${name} ${flags}`);
        }
        assert.equal(call(prog, arch, 'clone3', [0x1000n, 88n]), nesting ? ALLOW : ENOSYS);
        // setns joins what exists; fork and vfork carry no flags
        for (const name of ['setns', 'fork', 'vfork'].filter((n) => syscallNumber(arch, n)))
          assert.equal(call(prog, arch, name, [3n, CLONE_NEWUSER]), ALLOW, `${arch} ${name}`);
      }
    });

    test('the new mount API answers ENOSYS outside nesting; mount(2) stays', () => {
      for (const arch of BOTH) {
        for (const name of NEW_MOUNT_API)
          assert.equal(call(prog, arch, name), nesting ? ALLOW : ENOSYS, `${arch} ${name}`);
        for (const name of ['mount', 'umount2', 'pivot_root', 'statmount', 'listmount'])
          assert.equal(call(prog, arch, name), ALLOW, `${arch} ${name}`);
      }
    });

    test('personality: the allowed values by their low 32 bits, EPERM for any other', () => {
      const allowed = new Set(PERSONALITY_ALLOWED.map(BigInt));
      const values = [...allowed, 0x0100000n, 0x0400000n, 0x0200000n, 0x8000000n, 0x1n, 0x7n];
      for (let bit = 0n; bit < 32n; bit++) values.push(1n << bit, (1n << bit) | 8n);
      for (const arch of BOTH) {
        for (const v of values) {
          const want = allowed.has(v) ? ALLOW : EPERM;
          assert.equal(call(prog, arch, 'personality', [v]), want, `${arch} 0x${v.toString(16)}`);
          if (arch === 'x86_64')
            assert.equal(call(prog, arch, 'personality', [(5n << 32n) | v]), want, 'high word');
        }
      }
    });

    test('socket: AF_VSOCK gets EAFNOSUPPORT (also with high bits), other families pass', () => {
      for (const arch of BOTH) {
        for (const high of HIGH) {
          const want = errno(ERRNO.EAFNOSUPPORT!);
          assert.equal(call(prog, arch, 'socket', [high | 40n, 1n, 0n]), want, `${arch} ${high}`);
        }
        for (const family of [1n, 2n, 10n, 16n, 17n, 41n])
          assert.equal(call(prog, arch, 'socket', [family, 1n, 0n]), ALLOW, `${arch} ${family}`);
      }
    });

    test('allows what the helper calls after installing it', () => {
      for (const arch of BOTH)
        for (const name of [
          'openat',
          'sendmsg',
          'setsid',
          'dup2',
          'dup3',
          'close_range',
          'execve',
          'execveat',
        ])
          assert.equal(call(prog, arch, name, [3n, 0n, 0n]), ALLOW, `${arch} ${name}`);
    });

    test('denies umount2 with MNT_FORCE only', () => {
      for (const arch of BOTH) {
        assert.equal(call(prog, arch, 'umount2', [0x1000n, 0n]), ALLOW, arch);
        assert.equal(call(prog, arch, 'umount2', [0x1000n, 2n]), ALLOW, `${arch} MNT_DETACH`);
        assert.equal(call(prog, arch, 'umount2', [0x1000n, 1n]), EPERM, `${arch} MNT_FORCE`);
        assert.equal(call(prog, arch, 'umount2', [0x1000n, 3n]), EPERM, `${arch} FORCE|DETACH`);
      }
    });

    test('answers every x32 call ENOSYS (the x32 bit), also numbers of x86_64 calls', () => {
      for (const name of ['read', 'keyctl', 'kexec_load', 'execve', 'ioctl'])
        assert.equal(call(prog, 'x32', name), ENOSYS, name);
      assert.equal(run(prog, { nr: 0xffffffff, arch: AUDIT_ARCH_X86_64 }), ENOSYS, 'nr -1');
    });

    test('kills a process calling through an unknown ABI', () => {
      assert.equal(run(prog, { nr: 0, arch: 0xc00000b7 /* aarch64 */ }), SECCOMP_RET.KILL_PROCESS);
    });
  });
}

describe('the program as the helper gets it', () => {
  test('encodes as hex of struct sock_filter and decodes back', () => {
    const prog = assemble(defaultProfile());
    const hex = encodeProgram(prog);
    assert.equal(hex.length, prog.length * 16);
    // ld [4]: code 0x0020, jt 0, jf 0, k 4
    assert.equal(hex.slice(0, 16), '2000000004000000');
    assert.deepEqual(decodeProgram(hex), prog);
  });
});

describe('the filter a container gets', () => {
  const config = (extra: string) =>
    runnableConfig(
      parseConfig(`igloo.name = c1\nigloo.rootfs = /r\nigloo.idmap = b 0 3000000 65536\n${extra}`),
    );

  test('the default, or the nesting default with igloo.nesting', () => {
    assert.deepEqual(containerFilter(config('')), assemble(defaultProfile()));
    assert.deepEqual(
      containerFilter(config('igloo.nesting = true\n')),
      assemble(defaultProfile({ nesting: true })),
    );
    assert.notDeepEqual(assemble(defaultProfile()), assemble(defaultProfile({ nesting: true })));
  });

  test('an OCI profile gets the terminal rules in front, even one allowing every ioctl', () => {
    const c = config('igloo.seccomp = /p.json\n');
    const prog = containerFilter({
      ...c,
      seccomp: {
        ...c.seccomp!,
        oci: {
          defaultAction: 'SCMP_ACT_ERRNO',
          architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86'],
          syscalls: [{ names: ['ioctl', 'read'], action: 'SCMP_ACT_ALLOW' }],
        },
      },
    })!;
    for (const arch of BOTH) {
      assert.equal(call(prog, arch, 'ioctl', [0n, BigInt(TIOCSTI)]), EPERM, arch);
      assert.equal(call(prog, arch, 'ioctl', [0n, BigInt(TIOCLINUX)]), EPERM, arch);
      assert.equal(call(prog, arch, 'ioctl', [0n, TIOCGWINSZ]), ALLOW, arch);
      assert.equal(call(prog, arch, 'getpid'), EPERM, `${arch}: the profile's default`);
    }
  });

  test('unconfined stays unconfined', () => {
    assert.equal(containerFilter(config('igloo.seccomp = unconfined\n')), undefined);
  });
});

describe('extending the filter', () => {
  test('igloo.seccomp.deny adds rules in front, with their errno', () => {
    const deny = parseDenyList('ptrace, personality:ENOSYS');
    assert.deepEqual(deny, [
      { name: 'ptrace', errno: 'EPERM' },
      { name: 'personality', errno: 'ENOSYS' },
    ]);
    const prog = assemble(extendProfile(defaultProfile(), deny));
    for (const arch of ['x86_64', 'i386'] as const) {
      assert.equal(call(prog, arch, 'ptrace'), EPERM, arch);
      assert.equal(call(prog, arch, 'personality'), ENOSYS, arch);
      assert.equal(call(prog, arch, 'keyctl'), ENOSYS, arch);
      assert.equal(call(prog, arch, 'getpid'), ALLOW, arch);
    }
  });

  test('refuses unknown calls and errnos', () => {
    assert.throws(() => parseDenyList('frobnicate'), /unknown system call "frobnicate"/);
    assert.throws(() => parseDenyList('ptrace:EWHAT'), /unknown errno "EWHAT"/);
    assert.throws(() => parseDenyList('ptrace:EPERM:x'), /SYSCALL or SYSCALL:ERRNO/);
  });
});

describe('OCI profiles', () => {
  const allowList = {
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: 1,
    architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
    syscalls: [
      { names: ['read', 'write', 'exit_group', 'brand_new_call_2030'], action: 'SCMP_ACT_ALLOW' },
      {
        names: ['personality'],
        action: 'SCMP_ACT_ALLOW',
        args: [{ index: 0, value: 8, op: 'SCMP_CMP_EQ' }],
      },
      {
        names: ['clone'],
        action: 'SCMP_ACT_ALLOW',
        args: [{ index: 0, value: 0x7e020000, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }],
      },
      {
        names: ['mmap'],
        action: 'SCMP_ACT_ALLOW',
        args: [{ index: 2, value: 4, op: 'SCMP_CMP_LT' }],
      },
      { names: ['kill'], action: 'SCMP_ACT_KILL_PROCESS' },
      {
        names: ['bpf'],
        action: 'SCMP_ACT_ALLOW',
        includes: { caps: ['CAP_SYS_ADMIN'] },
      },
      { names: ['ptrace'], action: 'SCMP_ACT_ALLOW', excludes: { arches: ['amd64'] } },
    ],
  };

  test('an allow list: listed calls pass, the rest get the default errno, on all three ABIs', () => {
    const profile = parseOciProfile(allowList, { caps: ['sys_admin'] });
    assert.deepEqual(profile.arches, ['x86_64', 'i386', 'x32']);
    const prog = assemble(profile);
    verify(prog);
    for (const arch of ['x86_64', 'x32', 'i386'] as const) {
      assert.equal(call(prog, arch, 'read'), ALLOW, arch);
      assert.equal(call(prog, arch, 'getpid'), EPERM, arch);
      assert.equal(call(prog, arch, 'kill'), SECCOMP_RET.KILL_PROCESS, arch);
      assert.equal(call(prog, arch, 'bpf'), ALLOW, `${arch}: bpf with sys_admin`);
      assert.equal(call(prog, arch, 'ptrace'), EPERM, `${arch}: excluded on amd64`);
    }
    const noAdmin = assemble(parseOciProfile(allowList, { caps: [] }));
    assert.equal(call(noAdmin, 'x86_64', 'bpf'), EPERM, 'bpf without sys_admin');
  });

  test('argument conditions: eq, masked_eq and a 64-bit lt', () => {
    const prog = assemble(parseOciProfile(allowList));
    assert.equal(call(prog, 'x86_64', 'personality', [8n]), ALLOW);
    assert.equal(call(prog, 'x86_64', 'personality', [9n]), EPERM);
    assert.equal(call(prog, 'x86_64', 'personality', [8n | (1n << 32n)]), EPERM, 'high word');
    assert.equal(call(prog, 'i386', 'personality', [8n]), ALLOW, 'i386 compares 32 bits');
    assert.equal(call(prog, 'x86_64', 'clone', [0x11n]), ALLOW, 'no namespace flags');
    assert.equal(call(prog, 'x86_64', 'clone', [0x10000000n]), EPERM, 'CLONE_NEWUSER');
    assert.equal(call(prog, 'x86_64', 'mmap', [0n, 0n, 3n]), ALLOW);
    assert.equal(call(prog, 'x86_64', 'mmap', [0n, 0n, 4n]), EPERM);
    assert.equal(call(prog, 'x86_64', 'mmap', [0n, 0n, 1n << 32n]), EPERM, '2^32 is not < 4');
  });

  test('every comparison agrees with 64-bit arithmetic', () => {
    const ops = ['eq', 'ne', 'lt', 'le', 'gt', 'ge'] as const;
    const values = [0n, 1n, 5n, 0xffffffffn, 1n << 32n, (1n << 32n) + 5n, (1n << 64n) - 1n];
    for (const op of ops) {
      for (const v of values) {
        const profile: SeccompProfile = {
          defaultAction: { kind: 'errno', errno: 1 },
          arches: ['x86_64'],
          rules: [
            { names: ['getpid'], action: { kind: 'allow' }, args: [{ index: 3, op, value: v }] },
          ],
        };
        const prog = assemble(profile);
        for (const a of values) {
          const want = { eq: a === v, ne: a !== v, lt: a < v, le: a <= v, gt: a > v, ge: a >= v }[
            op
          ];
          assert.equal(
            call(prog, 'x86_64', 'getpid', [0n, 0n, 0n, a]),
            want ? ALLOW : EPERM,
            `${a} ${op} ${v}`,
          );
        }
      }
    }
  });

  test('without architectures, only the native ABI; Docker archMap is read', () => {
    assert.deepEqual(parseOciProfile({ defaultAction: 'SCMP_ACT_ALLOW' }).arches, ['x86_64']);
    const docker = parseOciProfile({
      defaultAction: 'SCMP_ACT_ALLOW',
      archMap: [
        { architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] },
        { architecture: 'SCMP_ARCH_AARCH64', subArchitectures: ['SCMP_ARCH_ARM'] },
      ],
    });
    assert.deepEqual(docker.arches, ['x86_64', 'i386', 'x32']);
    const prog = assemble(parseOciProfile({ defaultAction: 'SCMP_ACT_ALLOW' }));
    assert.equal(call(prog, 'i386', 'getpid'), ENOSYS, 'an ABI the profile does not list');
  });

  test('refuses what it cannot honour, naming the entry', () => {
    const bad = (json: unknown, pattern: RegExp) =>
      assert.throws(
        () => parseOciProfile(json, { path: '/p.json' }),
        (err: unknown) =>
          err instanceof IglooError && err.code === 'EINVAL' && pattern.test(err.message),
      );
    bad([], /not a JSON object/);
    bad({ defaultAction: 'SCMP_ACT_NOPE' }, /defaultAction "SCMP_ACT_NOPE"/);
    bad({ defaultAction: 'SCMP_ACT_NOTIFY' }, /seccomp agent/);
    bad(
      {
        defaultAction: 'SCMP_ACT_ALLOW',
        syscalls: [{ names: ['nosuchcall'], action: 'SCMP_ACT_ERRNO' }],
      },
      /syscalls\[0\] names "nosuchcall"/,
    );
    bad(
      {
        defaultAction: 'SCMP_ACT_ALLOW',
        syscalls: [
          {
            names: ['read'],
            action: 'SCMP_ACT_ERRNO',
            args: [{ index: 6, value: 0, op: 'SCMP_CMP_EQ' }],
          },
        ],
      },
      /index must be 0..5/,
    );
  });

  test('the biggest profile (every call of every ABI allowed one by one) fits the kernel limit', () => {
    const names = [
      ...new Set([...syscallNames('x86_64'), ...syscallNames('i386'), ...syscallNames('x32')]),
    ];
    const prog = assemble(
      parseOciProfile({
        defaultAction: 'SCMP_ACT_ERRNO',
        architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
        syscalls: [{ names, action: 'SCMP_ACT_ALLOW' }],
      }),
    );
    verify(prog);
    assert.ok(prog.length <= 4096, String(prog.length));
    assert.equal(call(prog, 'x32', 'read'), ALLOW);
  });
});

describe('bpf-vm', () => {
  test('rejects what the kernel rejects', () => {
    assert.throws(() => verify([]), /length/);
    assert.throws(
      () =>
        verify([
          { code: 0x20, jt: 0, jf: 0, k: 2 },
          { code: 0x06, jt: 0, jf: 0, k: 0 },
        ]),
      /offset/,
    );
    assert.throws(
      () =>
        verify([
          { code: 0x15, jt: 5, jf: 0, k: 0 },
          { code: 0x06, jt: 0, jf: 0, k: 0 },
        ]),
      /out of/,
    );
    assert.throws(() => verify([{ code: 0x20, jt: 0, jf: 0, k: 0 }]), /return/);
  });
});
