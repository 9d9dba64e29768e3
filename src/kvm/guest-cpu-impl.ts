/**
 * The GuestCpu a guest program drives inside KVM_RUN (guest-cpu.ts): each
 * operation either reaches the hardware (a passed-through MSR or RDPMC,
 * native execution) or exits to KVM's handler on its vCPU, through the
 * narrow view of the vCPU below.
 */
import { GuestFault } from '../common/errors.ts';
import type { CpuidResult, PhysicalCpu } from '../hw/cpu.ts';
import type { Work } from '../hw/events.ts';
import { U64_MAX } from '../hw/msr.ts';
import { validateWork } from '../hw/validate-work.ts';
import type { ExitReason } from './exits.ts';
import { asGuestFault, type GuestCpu } from './guest-cpu.ts';
import type { PmuIntercepts } from './msr-intercepts.ts';

/** IA32_TSC_DEADLINE: the guest's LAPIC timer; KVM handles its WRMSR in the fastpath. */
export const IA32_TSC_DEADLINE = 0x6e0;

/** What a guest CPU needs of its vCPU (VcpuImpl): KVM_RUN's state, the exit path, KVM's handlers. */
export interface GuestCpuVcpu {
  readonly inRun: boolean;
  readonly loaded: boolean;
  readonly intercepts: PmuIntercepts;
  readonly hostCpu: PhysicalCpu;
  exit<T>(
    reason: ExitReason,
    handler: () => T,
    fastpath?: boolean | 'exit-handled',
    msr?: number,
  ): T;
  handleRdmsr(msr: number): bigint;
  handleWrmsr(msr: number, value: bigint): void;
  handleRdpmc(ecx: number, cpl: number, cr4Pce: boolean): bigint;
  handleCpuid(leaf: number, subleaf: number): CpuidResult;
  skipEmulatedInstruction(cpl: number): void;
  retireInHardware(cpl: 0 | 3): void;
  runGuestWork(work: Work): void;
  emulateInstruction(branch: boolean, cpl: number): void;
  block(): void;
  injectAndRun(reason: ExitReason, fastpath: boolean, vector: number, handler: () => void): void;
  registerGuestHandler(vector: number, handler: () => void): void;
}

export class GuestCpuImpl implements GuestCpu {
  cpl: 0 | 3 = 0;
  cr4Pce = false;

  constructor(private readonly vcpu: GuestCpuVcpu) {}

  /** A guest CPU exists only while its vCPU runs: a program that kept it and calls it later is a bug. */
  private live(operation: string): void {
    if (!this.vcpu.inRun)
      throw new Error(`guest.${operation}: the guest CPU is usable only inside vcpu.run()`);
  }

  private passthrough(msr: number): boolean {
    return this.vcpu.loaded && this.vcpu.intercepts.passthrough.has(msr);
  }

  rdmsr(msr: number): bigint {
    this.live('rdmsr');
    const index = checkIndex(msr, 'rdmsr');
    if (this.passthrough(index)) {
      const value = asGuestFault(() => this.vcpu.hostCpu.rdmsr(index));
      this.vcpu.retireInHardware(this.cpl);
      return value;
    }
    return this.vcpu.exit(
      'MSR_READ',
      () => {
        const value = this.vcpu.handleRdmsr(index);
        this.vcpu.skipEmulatedInstruction(this.cpl);
        return value;
      },
      false,
      index,
    );
  }

  wrmsr(msr: number, value: bigint): void {
    this.live('wrmsr');
    const index = checkIndex(msr, 'wrmsr');
    if (typeof value !== 'bigint' || value < 0n || value > U64_MAX) {
      throw new TypeError(
        `wrmsr 0x${index.toString(16)}: value must be a bigint in [0, 2^64), got ${String(value)}`,
      );
    }
    if (this.passthrough(index)) {
      // A write that faults does not retire.
      asGuestFault(() => this.vcpu.hostCpu.wrmsr(index, value));
      this.vcpu.retireInHardware(this.cpl);
      return;
    }
    // KVM takes TSC-deadline writes in its fastpath (handle_fastpath_wrmsr).
    const fastpath = index === IA32_TSC_DEADLINE;
    this.vcpu.exit(
      'MSR_WRITE',
      () => {
        this.vcpu.handleWrmsr(index, value);
        this.vcpu.skipEmulatedInstruction(this.cpl);
      },
      fastpath,
      index,
    );
  }

  wrmsrNumber(msr: number, value: number): void {
    this.live('wrmsr');
    const index = checkIndex(msr, 'wrmsr');
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new TypeError(
        `wrmsr 0x${index.toString(16)}: value must be an integer in [0, 2^53), got ${String(value)}`,
      );
    }
    // A passed-through register takes the number as it is; an intercepted one exits as WRMSR does.
    if (!this.passthrough(index)) {
      this.wrmsr(index, BigInt(value));
      return;
    }
    asGuestFault(() => this.vcpu.hostCpu.wrmsrNumber(index, value));
    this.vcpu.retireInHardware(this.cpl);
  }

  rdpmc(ecx: number): bigint {
    const index = this.checkRdpmc(ecx);
    if (this.rdpmcPassedThrough()) {
      const value = asGuestFault(() => this.vcpu.hostCpu.rdpmc(index));
      this.vcpu.retireInHardware(this.cpl);
      return value;
    }
    return this.exitRdpmc(index);
  }

  rdpmcNumber(ecx: number): number {
    const index = this.checkRdpmc(ecx);
    if (this.rdpmcPassedThrough()) {
      const value = asGuestFault(() => this.vcpu.hostCpu.rdpmcNumber(index));
      this.vcpu.retireInHardware(this.cpl);
      return value;
    }
    return Number(this.exitRdpmc(index));
  }

  /** RDPMC's checks before any VM-exit: a valid index, and CPL > 0 needs CR4.PCE. */
  private checkRdpmc(ecx: number): number {
    this.live('rdpmc');
    const index = checkIndex(ecx, 'rdpmc');
    if (this.cpl > 0 && !this.cr4Pce)
      throw new GuestFault('#GP', 'rdpmc at CPL 3 with CR4.PCE clear');
    return index;
  }

  private rdpmcPassedThrough(): boolean {
    return this.vcpu.loaded && !this.vcpu.intercepts.rdpmcExits;
  }

  private exitRdpmc(index: number): bigint {
    return this.vcpu.exit('RDPMC', () => {
      const value = this.vcpu.handleRdpmc(index, this.cpl, this.cr4Pce);
      this.vcpu.skipEmulatedInstruction(this.cpl);
      return value;
    });
  }

  cpuid(leaf: number, subleaf = 0): CpuidResult {
    this.live('cpuid');
    const l = checkIndex(leaf, 'cpuid');
    const s = checkIndex(subleaf, 'cpuid subleaf');
    return this.vcpu.exit('CPUID', () => {
      const result = this.vcpu.handleCpuid(l, s);
      this.vcpu.skipEmulatedInstruction(this.cpl);
      return result;
    });
  }

  exec(work: Work): void {
    this.live('exec');
    validateWork(work, 'guest.exec');
    // A block that names its CPL is retired as it is (nothing keeps or changes it): no copy per block.
    this.vcpu.runGuestWork(work.cpl === undefined ? { ...work, cpl: 0 } : work);
  }

  execEmulated(work: Work): void {
    this.live('execEmulated');
    validateWork(work, 'guest.execEmulated');
    const cpl = work.cpl ?? 0;
    const branches = Math.min(work.branches ?? 0, work.instructions);
    for (let i = 0; i < work.instructions; i++) {
      this.vcpu.exit('EMULATED_INSTRUCTION', () => this.vcpu.emulateInstruction(i < branches, cpl));
    }
  }

  hlt(): void {
    this.live('hlt');
    // kvm_emulate_halt (also from handle_fastpath_hlt) skips the instruction
    // and halts the vCPU. No interrupt is pending when a guest program halts
    // (injections here run at once), so handle_fastpath_hlt returns
    // EXIT_FASTPATH_EXIT_HANDLED: the fastpath loop is left (the mediated put
    // and load run) and vcpu_run blocks the halted vCPU until its wake-up.
    this.vcpu.exit(
      'HLT',
      () => {
        this.vcpu.skipEmulatedInstruction(this.cpl);
        this.vcpu.block();
      },
      'exit-handled',
    );
  }

  ioDoorbell(): void {
    this.live('ioDoorbell');
    // The OUT completes in kvm_fast_pio, which skips the instruction.
    this.vcpu.exit('IO_INSTRUCTION', () => this.vcpu.skipEmulatedInstruction(this.cpl));
  }

  timerInterrupt(handler: () => void): void {
    this.live('timerInterrupt');
    // The VMX preemption timer exit is handled in KVM's fastpath when allowed.
    this.vcpu.injectAndRun('PREEMPTION_TIMER', true, LOCAL_TIMER_VECTOR, handler);
  }

  deviceInterrupt(handler: () => void): void {
    this.live('deviceInterrupt');
    this.vcpu.injectAndRun('EXTERNAL_INTERRUPT', false, DEVICE_VECTOR, handler);
  }

  onInterrupt(vector: number, handler: () => void): void {
    if (!Number.isInteger(vector) || vector < 0 || vector > 255)
      throw new RangeError(`onInterrupt: vector ${vector} is not 0-255`);
    if (typeof handler !== 'function')
      throw new TypeError('onInterrupt: handler must be a function');
    this.vcpu.registerGuestHandler(vector, handler);
  }
}

/** Linux's LOCAL_TIMER_VECTOR, and a device vector for I/O completions. */
const LOCAL_TIMER_VECTOR = 0xec;
const DEVICE_VECTOR = 0x41;

function checkIndex(value: number, what: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new TypeError(`${what}: expected a 32-bit unsigned integer, got ${String(value)}`);
  }
  return value;
}
