/**
 * The CPU a guest program drives (docs/api.md "GuestCpu"). Each operation either
 * runs on the hardware (a passed-through MSR or RDPMC, native execution) or
 * is intercepted: a VM-exit with a reason, KVM's handler, and VM-entry. The
 * guest sees what it would see on real KVM; a fault it takes is a GuestFault.
 */
import { GuestFault } from '../common/errors.ts';
import type { CpuidResult } from '../hw/cpu.ts';
import type { Work } from '../hw/events.ts';
import { CpuFault } from '../hw/fault.ts';

export interface GuestCpu {
  /** Throws GuestFault #GP where the real CPU or KVM would. */
  rdmsr(msr: number): bigint;
  wrmsr(msr: number, value: bigint): void;
  rdpmc(ecx: number): bigint;
  /** The same WRMSR with a number value (an integer below 2^53), as the guest's perf writes counters. */
  wrmsrNumber(msr: number, value: number): void;
  /** The same RDPMC with its value as a number (counters are at most 48 bits wide). */
  rdpmcNumber(ecx: number): number;
  cpuid(leaf: number, subleaf?: number): CpuidResult;
  /** Retire work natively (no exit; the host's timer interrupts may still cause exits). */
  exec(work: Work): void;
  /** Work KVM emulates (forced emulation): one exit per instruction, counted by KVM in software. */
  execEmulated(work: Work): void;
  /** Register the guest's handler for an interrupt vector (2 for NMI). */
  onInterrupt(vector: number, handler: () => void): void;
  /** The privilege level the next rdpmc runs at (work carries its own cpl). Default 0. */
  cpl: 0 | 3;
  /** CR4.PCE: RDPMC allowed at CPL 3. Default false. */
  cr4Pce: boolean;
  /** HLT: exits (KVM may take it in its fastpath). The wait itself is the caller's to account. */
  hlt(): void;
  /** An I/O doorbell (OUT to a virtio notify port): exits to KVM's I/O handling. */
  ioDoorbell(): void;
  /**
   * The guest's LAPIC timer fired (KVM's VMX preemption timer / hrtimer): an
   * exit, then the timer interrupt is injected and `handler` runs in the guest.
   */
  timerInterrupt(handler: () => void): void;
  /**
   * A device interrupt for the guest arrived (e.g. an I/O completion) while it
   * runs: an external-interrupt exit, then injection; `handler` runs in the guest.
   */
  deviceInterrupt(handler: () => void): void;
}

/** Turn a hardware fault taken in guest mode into the guest's fault. */
export function asGuestFault<T>(access: () => T): T {
  try {
    return access();
  } catch (error) {
    if (error instanceof CpuFault)
      throw new GuestFault(error.exception, error.message.replace(/^#GP: /, ''));
    throw error;
  }
}
