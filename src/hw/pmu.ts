/**
 * What the CPU needs from a vendor PMU model: its MSRs, RDPMC, and counting.
 */
import type { CounterBank } from './counter-bank.ts';

export interface HardwarePmu {
  readonly bank: CounterBank;
  /** Whether it is a counter (its writes are priced as counter writes). */
  isCounterMsr(msr: number): boolean;
  /** #GP (CpuFault) for an MSR index the part does not implement. */
  rdmsr(msr: number): bigint;
  wrmsr(msr: number, value: bigint): void;
  /** The same WRMSR, its value a non-negative integer below 2^53 (MsrPort.wrmsrNumber). */
  wrmsrNumber(msr: number, value: number): void;
  rdpmc(ecx: number): bigint;
  /** The same RDPMC, its value as a number (for the host's hot paths; counters fit 48 bits). */
  rdpmcNumber(ecx: number): number;
  /** Retire a block's quantities at `cpl`, in guest mode or not. */
  retire(quantities: Float64Array, cpl: number, guest: boolean): void;
  /** Overflow status as GLOBAL_STATUS would show it (0n where the part has none). */
  readonly globalStatus: bigint;
}

/** Sign-extend the low 32 bits of a legacy counter write, then cut to the counter width. */
export function signExtend32(value: bigint, width: number): number {
  return signExtend32Number(Number(value & 0xffffffffn), width);
}

/** signExtend32 of a value given as a number (a non-negative integer below 2^53). */
export function signExtend32Number(value: number, width: number): number {
  const low = value % 2 ** 32;
  const extended = low >= 2 ** 31 ? low - 2 ** 32 : low;
  const range = 2 ** width;
  return ((extended % range) + range) % range;
}

export function mask(width: number): bigint {
  return (1n << BigInt(width)) - 1n;
}
