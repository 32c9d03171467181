/**
 * SeccompProfile -> a classic BPF program (struct sock_filter[]) the kernel
 * runs on every system call with a struct seccomp_data:
 *
 *   offset 0  int   nr          system call number
 *   offset 4  u32   arch        AUDIT_ARCH_*
 *   offset 8  u64   instruction_pointer
 *   offset 16 u64   args[6]     (little endian: low word first)
 *
 * Layout of the program:
 *
 *   ld arch
 *   jeq AUDIT_ARCH_X86_64 -> X86_64
 *   jeq AUDIT_ARCH_I386   -> I386
 *   ret KILL_PROCESS                 (any other ABI: cannot happen on x86_64)
 *   X86_64: ld nr
 *           jset __X32_SYSCALL_BIT -> X32
 *           <rules, x86_64 numbers> ret default
 *   X32:    <rules, x32 numbers | bit> ret default   (or ret ERRNO(ENOSYS))
 *   I386:   ld nr
 *           <rules, i386 numbers> ret default        (or ret ERRNO(ENOSYS))
 *
 * Each rule is a small block "jeq NR else next-block; conditions on the
 * arguments, each failing to next-block; ret ACTION", so every conditional
 * jump stays inside its block (8-bit offsets); the jumps to the ABI sections
 * are `ja` with a 32-bit offset. An ABI the profile does not list answers
 * every call with ENOSYS, as a kernel without that ABI would.
 */
import { syscallNumber, type Arch } from './tables.ts';
import type { ArgCondition, SeccompAction, SeccompProfile } from './profile.ts';

export interface SockFilter {
  readonly code: number;
  readonly jt: number;
  readonly jf: number;
  readonly k: number;
}

// linux/filter.h, linux/bpf_common.h
export const BPF = {
  LD_W_ABS: 0x20,
  ALU_AND_K: 0x54,
  JA: 0x05,
  JEQ_K: 0x15,
  JGT_K: 0x25,
  JGE_K: 0x35,
  JSET_K: 0x45,
  RET_K: 0x06,
} as const;

// linux/seccomp.h
export const SECCOMP_RET = {
  KILL_PROCESS: 0x80000000,
  KILL_THREAD: 0x00000000,
  TRAP: 0x00030000,
  ERRNO: 0x00050000,
  LOG: 0x7ffc0000,
  ALLOW: 0x7fff0000,
} as const;

// linux/audit.h
export const AUDIT_ARCH_X86_64 = 0xc000003e;
export const AUDIT_ARCH_I386 = 0x40000003;
export const X32_SYSCALL_BIT = 0x40000000;
export const BPF_MAXINSNS = 4096;
const ENOSYS = 38;

export const OFFSET = { nr: 0, arch: 4, args: 16 } as const;

export function actionValue(a: SeccompAction): number {
  switch (a.kind) {
    case 'allow':
      return SECCOMP_RET.ALLOW;
    case 'errno':
      return (SECCOMP_RET.ERRNO | ((a.errno ?? 1) & 0xffff)) >>> 0;
    case 'kill-process':
      return SECCOMP_RET.KILL_PROCESS;
    case 'kill-thread':
      return SECCOMP_RET.KILL_THREAD;
    case 'trap':
      return SECCOMP_RET.TRAP;
    case 'log':
      return SECCOMP_RET.LOG;
  }
}

/** Instructions with symbolic jump targets, resolved at the end. */
type Insn =
  | { kind: 'plain'; code: number; k: number }
  | { kind: 'jump'; code: number; k: number; jt: string | null; jf: string | null }
  | { kind: 'ja'; target: string }
  | { kind: 'label'; name: string };

class Builder {
  readonly insns: Insn[] = [];
  private n = 0;
  label(): string {
    return `L${this.n++}`;
  }
  here(name: string): void {
    this.insns.push({ kind: 'label', name });
  }
  ld(offset: number): void {
    this.insns.push({ kind: 'plain', code: BPF.LD_W_ABS, k: offset });
  }
  and(k: number): void {
    this.insns.push({ kind: 'plain', code: BPF.ALU_AND_K, k: k >>> 0 });
  }
  ret(k: number): void {
    this.insns.push({ kind: 'plain', code: BPF.RET_K, k: k >>> 0 });
  }
  /** Conditional jump; null = fall through to the next instruction. */
  jmp(code: number, k: number, jt: string | null, jf: string | null): void {
    this.insns.push({ kind: 'jump', code, k: k >>> 0, jt, jf });
  }
  ja(target: string): void {
    this.insns.push({ kind: 'ja', target });
  }

  resolve(): SockFilter[] {
    const at = new Map<string, number>();
    let pc = 0;
    for (const i of this.insns) {
      if (i.kind === 'label') at.set(i.name, pc);
      else pc++;
    }
    const out: SockFilter[] = [];
    const offset = (label: string | null, pcNow: number): number => {
      if (label === null) return 0;
      const target = at.get(label);
      if (target === undefined) throw new Error(`seccomp assembler: no label ${label}`);
      const off = target - pcNow - 1;
      if (off < 0) throw new Error('seccomp assembler: backward jump');
      return off;
    };
    for (const i of this.insns) {
      if (i.kind === 'label') continue;
      const pcNow = out.length;
      if (i.kind === 'plain') out.push({ code: i.code, jt: 0, jf: 0, k: i.k });
      else if (i.kind === 'ja')
        out.push({ code: BPF.JA, jt: 0, jf: 0, k: offset(i.target, pcNow) });
      else {
        const jt = offset(i.jt, pcNow);
        const jf = offset(i.jf, pcNow);
        if (jt > 255 || jf > 255) throw new Error('seccomp assembler: jump out of range');
        out.push({ code: i.code, jt, jf, k: i.k });
      }
    }
    return out;
  }
}

const lo = (v: bigint) => Number(v & 0xffffffffn);
const hi = (v: bigint) => Number((v >> 32n) & 0xffffffffn);

/**
 * One condition on a 64-bit argument: falls through when it holds, jumps to
 * `fail` when not. With `low32` (i386: arguments are 32 bits) only the low
 * word is compared, as libseccomp does.
 */
function condition(b: Builder, c: ArgCondition, fail: string, low32: boolean): void {
  const loOff = OFFSET.args + 8 * c.index;
  const hiOff = loOff + 4;
  const pass = b.label();
  const v = c.op === 'masked_eq' ? (c.valueTwo ?? 0n) : c.value;
  switch (c.op) {
    case 'eq':
    case 'masked_eq': {
      const mask = c.op === 'masked_eq' ? c.value : 0xffffffffffffffffn;
      // A mask without high bits (an int argument, or a flag in the low
      // word) leaves nothing to compare in the high word.
      if (!low32 && hi(mask) !== 0) {
        b.ld(hiOff);
        if (c.op === 'masked_eq') b.and(hi(mask));
        b.jmp(BPF.JEQ_K, hi(v & mask), null, fail);
      }
      b.ld(loOff);
      if (c.op === 'masked_eq' && lo(mask) !== 0xffffffff) b.and(lo(mask));
      b.jmp(BPF.JEQ_K, lo(v & mask), null, fail);
      break;
    }
    case 'ne':
      if (!low32) {
        b.ld(hiOff);
        b.jmp(BPF.JEQ_K, hi(v), null, pass);
      }
      b.ld(loOff);
      b.jmp(BPF.JEQ_K, lo(v), fail, null);
      break;
    case 'gt':
    case 'ge':
    case 'lt':
    case 'le': {
      // a > v  <=>  hi(a) > hi(v)  or  hi(a) == hi(v) and lo(a) > lo(v)
      const greater = c.op === 'gt' || c.op === 'ge';
      const [yes, no] = greater ? [pass, fail] : [fail, pass];
      if (!low32) {
        b.ld(hiOff);
        b.jmp(BPF.JGT_K, hi(v), yes, null);
        b.jmp(BPF.JEQ_K, hi(v), null, no);
      }
      b.ld(loOff);
      // gt: lo > v; ge: lo >= v; lt = !ge; le = !gt
      const code = c.op === 'gt' || c.op === 'le' ? BPF.JGT_K : BPF.JGE_K;
      b.jmp(code, lo(v), yes, no);
      break;
    }
  }
  b.here(pass);
}

function section(
  b: Builder,
  profile: SeccompProfile,
  arch: Arch,
  nrBits: number,
  defaultRet: number,
): void {
  let aIsNr = true;
  for (const rule of profile.rules) {
    const ret = actionValue(rule.action);
    for (const name of rule.names) {
      const nr = syscallNumber(arch, name);
      if (nr === undefined) continue; // this ABI has no such call
      if (!aIsNr) b.ld(OFFSET.nr);
      const next = b.label();
      b.jmp(BPF.JEQ_K, (nr | nrBits) >>> 0, null, next);
      for (const c of rule.args) condition(b, c, next, arch === 'i386');
      b.ret(ret);
      b.here(next);
      aIsNr = rule.args.length === 0;
    }
  }
  b.ret(defaultRet);
}

/** Assembles a profile into a seccomp BPF program. */
export function assemble(profile: SeccompProfile): SockFilter[] {
  const b = new Builder();
  const x64 = b.label();
  const x32 = b.label();
  const i386 = b.label();
  const defaultRet = actionValue(profile.defaultAction);
  const enosys = (SECCOMP_RET.ERRNO | ENOSYS) >>> 0;

  b.ld(OFFSET.arch);
  const notX64 = b.label();
  b.jmp(BPF.JEQ_K, AUDIT_ARCH_X86_64, null, notX64);
  b.ja(x64);
  b.here(notX64);
  const notI386 = b.label();
  b.jmp(BPF.JEQ_K, AUDIT_ARCH_I386, null, notI386);
  b.ja(i386);
  b.here(notI386);
  b.ret(SECCOMP_RET.KILL_PROCESS);

  b.here(x64);
  b.ld(OFFSET.nr);
  const native = b.label();
  b.jmp(BPF.JSET_K, X32_SYSCALL_BIT, null, native);
  b.ja(x32);
  b.here(native);
  if (profile.arches.includes('x86_64')) section(b, profile, 'x86_64', 0, defaultRet);
  else b.ret(enosys);

  b.here(x32);
  if (profile.arches.includes('x32')) section(b, profile, 'x32', X32_SYSCALL_BIT, defaultRet);
  else b.ret(enosys);

  b.here(i386);
  b.ld(OFFSET.nr);
  if (profile.arches.includes('i386')) section(b, profile, 'i386', 0, defaultRet);
  else b.ret(enosys);

  const prog = b.resolve();
  if (prog.length > BPF_MAXINSNS)
    throw new Error(
      `the seccomp program has ${prog.length} instructions, more than the kernel's ${BPF_MAXINSNS}`,
    );
  return prog;
}

/** The program as the helper's `seccomp` record carries it: hex of struct sock_filter[] (LE). */
export function encodeProgram(prog: readonly SockFilter[]): string {
  const bytes = new Uint8Array(prog.length * 8);
  const view = new DataView(bytes.buffer);
  prog.forEach((ins, i) => {
    view.setUint16(i * 8, ins.code, true);
    view.setUint8(i * 8 + 2, ins.jt);
    view.setUint8(i * 8 + 3, ins.jf);
    view.setUint32(i * 8 + 4, ins.k, true);
  });
  return Array.from(bytes, (x) => x.toString(16).padStart(2, '0')).join('');
}

export function decodeProgram(hex: string): SockFilter[] {
  if (hex.length % 16 !== 0 || !/^[0-9a-f]*$/.test(hex))
    throw new Error('a seccomp program is hex of 8-byte instructions');
  const out: SockFilter[] = [];
  for (let i = 0; i < hex.length; i += 16) {
    const b = (j: number) => parseInt(hex.slice(i + 2 * j, i + 2 * j + 2), 16);
    out.push({
      code: b(0) | (b(1) << 8),
      jt: b(2),
      jf: b(3),
      k: (b(4) | (b(5) << 8) | (b(6) << 16) | (b(7) << 24)) >>> 0,
    });
  }
  return out;
}
