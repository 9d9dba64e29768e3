/**
 * VM-exit reasons the model produces, named after the VMX basic exit reasons
 * (SVM's equivalents map onto them), and per-vCPU exit statistics.
 */
export type ExitReason =
  | 'MSR_READ'
  | 'MSR_WRITE'
  | 'RDPMC'
  | 'CPUID'
  | 'EXTERNAL_INTERRUPT'
  | 'EXCEPTION_NMI'
  | 'EMULATED_INSTRUCTION'
  | 'HLT'
  | 'IO_INSTRUCTION'
  | 'PREEMPTION_TIMER';

export interface VcpuStats {
  readonly exits: number;
  readonly exitReasons: Readonly<Record<string, number>>;
  /** PMIs injected into the guest. */
  readonly pmis: number;
  /**
   * Exits handled in KVM's fastpath. All but a HLT re-enter the guest with no
   * world switch of the PMU; a halted vCPU leaves the run loop and blocks.
   */
  readonly fastpathExits: number;
  /**
   * GuestCpu operations (RDMSR, WRMSR, RDPMC, CPUID, HLT, the I/O doorbell)
   * that retired: one instruction each, besides the work of exec/execEmulated.
   */
  readonly retiredOperations: number;
}

export class ExitCounters implements VcpuStats {
  exits = 0;
  pmis = 0;
  fastpathExits = 0;
  retiredOperations = 0;
  readonly exitReasons: Record<string, number> = {};

  count(reason: ExitReason): void {
    this.exits++;
    this.exitReasons[reason] = (this.exitReasons[reason] ?? 0) + 1;
  }
}
