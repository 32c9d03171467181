/**
 * A tiny classic-BPF interpreter with the kernel's seccomp rules: it runs a
 * program against a synthetic struct seccomp_data, so the unit tests can
 * check what the filter answers for every ABI without a kernel. It accepts
 * only what the seccomp verifier accepts (word loads from seccomp_data,
 * aligned and in bounds; forward jumps inside the program; a return at the
 * end) and implements the instructions igloo's assembler emits, plus the
 * other ALU and jump forms with a constant operand.
 */
import type { SockFilter } from './assemble.ts';

export interface SeccompData {
  readonly nr: number;
  readonly arch: number;
  readonly ip?: bigint;
  readonly args?: readonly bigint[];
}

/** The 64-byte struct seccomp_data, little endian. */
export function seccompDataBytes(d: SeccompData): DataView {
  const view = new DataView(new ArrayBuffer(64));
  view.setInt32(0, d.nr | 0, true);
  view.setUint32(4, d.arch >>> 0, true);
  view.setBigUint64(8, d.ip ?? 0n, true);
  for (let i = 0; i < 6; i++)
    view.setBigUint64(16 + 8 * i, BigInt.asUintN(64, d.args?.[i] ?? 0n), true);
  return view;
}

/** Checks a program as the kernel's seccomp_check_filter would; throws on the first problem. */
export function verify(prog: readonly SockFilter[]): void {
  if (prog.length === 0 || prog.length > 4096) throw new Error(`bad program length ${prog.length}`);
  prog.forEach((ins, pc) => {
    const cls = ins.code & 0x07;
    if (cls === 0x00) {
      // BPF_LD: W|ABS from seccomp_data, or IMM
      if (ins.code === 0x20) {
        if (ins.k % 4 !== 0 || ins.k >= 64) throw new Error(`pc ${pc}: bad load offset ${ins.k}`);
      } else if (ins.code !== 0x00)
        throw new Error(`pc ${pc}: load 0x${ins.code.toString(16)} not allowed`);
    } else if (cls === 0x05) {
      const op = ins.code & 0xf0;
      if (op === 0x00) {
        if (pc + 1 + ins.k >= prog.length) throw new Error(`pc ${pc}: ja out of the program`);
      } else if (pc + 1 + Math.max(ins.jt, ins.jf) >= prog.length)
        throw new Error(`pc ${pc}: jump out of the program`);
    } else if (cls !== 0x04 && cls !== 0x06) {
      throw new Error(`pc ${pc}: instruction class ${cls} not allowed`);
    }
  });
  const last = prog[prog.length - 1]!;
  if ((last.code & 0x07) !== 0x06) throw new Error('the program does not end with a return');
}

/** Runs the program; returns the 32-bit seccomp return value. */
export function run(prog: readonly SockFilter[], data: SeccompData): number {
  verify(prog);
  const mem = seccompDataBytes(data);
  let a = 0;
  let pc = 0;
  for (let steps = 0; steps <= prog.length; steps++) {
    const ins = prog[pc]!;
    const cls = ins.code & 0x07;
    if (cls === 0x00) {
      a = ins.code === 0x20 ? mem.getUint32(ins.k, true) : ins.k >>> 0;
      pc++;
    } else if (cls === 0x04) {
      const k = ins.k >>> 0;
      switch (ins.code & 0xf0) {
        case 0x00:
          a = (a + k) >>> 0;
          break;
        case 0x10:
          a = (a - k) >>> 0;
          break;
        case 0x40:
          a = (a | k) >>> 0;
          break;
        case 0x50:
          a = (a & k) >>> 0;
          break;
        case 0x60:
          a = (a << k) >>> 0;
          break;
        case 0x70:
          a = a >>> k;
          break;
        default:
          throw new Error(`pc ${pc}: ALU op 0x${ins.code.toString(16)} not implemented`);
      }
      pc++;
    } else if (cls === 0x05) {
      const k = ins.k >>> 0;
      let taken: boolean;
      switch (ins.code & 0xf0) {
        case 0x00:
          pc += 1 + k;
          continue;
        case 0x10:
          taken = a === k;
          break;
        case 0x20:
          taken = a > k;
          break;
        case 0x30:
          taken = a >= k;
          break;
        case 0x40:
          taken = (a & k) !== 0;
          break;
        default:
          throw new Error(`pc ${pc}: jump 0x${ins.code.toString(16)} not implemented`);
      }
      pc += 1 + (taken ? ins.jt : ins.jf);
    } else {
      return ins.code === 0x16 ? a : ins.k >>> 0;
    }
  }
  throw new Error('the program did not return');
}
