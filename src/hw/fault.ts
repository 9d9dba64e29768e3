/**
 * An x86 exception raised by the silicon (e.g. #GP on WRMSR to an MSR that
 * does not exist or with reserved bits set). The host kernel treats one as a
 * bug; KVM reflects one taken in guest mode into the guest as a GuestFault.
 */
import { EXCEPTION_VECTOR, type X86Exception } from '../common/errors.ts';

export class CpuFault extends Error {
  readonly exception: X86Exception;
  readonly vector: number;

  constructor(exception: X86Exception, message: string) {
    super(`${exception}: ${message}`);
    this.name = 'CpuFault';
    this.exception = exception;
    this.vector = EXCEPTION_VECTOR[exception];
  }
}

export function gp(message: string): CpuFault {
  return new CpuFault('#GP', message);
}

/** The instructions a PMU driver uses; the host CPU and a guest's vCPU both provide them. */
export interface MsrPort {
  rdmsr(msr: number): bigint;
  wrmsr(msr: number, value: bigint): void;
  rdpmc(ecx: number): bigint;
  /**
   * The same WRMSR with its value as a number (a non-negative integer below
   * 2^53): counters take it without a bigint, which drivers reprogramming
   * periods and KVM's PMU switch write millions of times per simulated second.
   */
  wrmsrNumber(msr: number, value: number): void;
  /** The same RDPMC with its value as a number (counters are at most 48 bits wide). */
  rdpmcNumber(ecx: number): number;
}
