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
  const low = value & 0xffffffffn;
  const extended = low & 0x80000000n ? low | ~0xffffffffn : low;
  return Number(BigInt.asUintN(width, extended));
}

export function mask(width: number): bigint {
  return (1n << BigInt(width)) - 1n;
}
