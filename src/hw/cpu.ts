/**
 * One logical CPU: its PMU (Intel or AMD), local APIC, CPUID, a cycle clock,
 * and the interrupt path from a counter overflow to a handler.
 *
 * Interrupts go where the real silicon sends them: in host mode to the host
 * kernel's handler (the IDT, installed by the kernel); in guest mode the CPU
 * first exits to the hypervisor (an NMI or external-interrupt VM-exit), which
 * KVM models by installing `guestModeExit` while a vCPU runs.
 */
import { AmdPmu } from './amd-pmu.ts';
import type { CpuModel } from './cpu-models.ts';
import { QUANTITY_COUNT, Quantity, splitWork, workQuantities, type Work } from './events.ts';
import { gp, type MsrPort } from './fault.ts';
import { IntelPmu } from './intel-pmu.ts';
import { LocalApic, type InterruptDelivery } from './lapic.ts';
import { MSR } from './msr.ts';
import type { HardwarePmu } from './pmu.ts';
import { CpuTracepoints } from './tracepoints.ts';

/** Local copies of the hot MSR indices (property reads of the MSR table are not free). */
const LVTPC = MSR.X2APIC_LVTPC;
const EOI = MSR.X2APIC_EOI;

/**
 * Classes of MSR access, as the simulator prices them (indices into
 * PhysicalCpu.accessCycles / accessCounts). x2APIC reads and writes share a
 * price but are counted apart, so reads and writes can be totalled.
 */
export const ACCESS_RDMSR = 0;
export const ACCESS_X2APIC_READ = 1;
export const ACCESS_WRMSR = 2;
export const ACCESS_WRMSR_COUNTER = 3;
export const ACCESS_X2APIC_WRITE = 4;
export const ACCESS_RDPMC = 5;
export const ACCESS_CLASSES = 6;

export type InterruptHandler = (delivery: InterruptDelivery) => void;

export interface CpuidResult {
  eax: number;
  ebx: number;
  ecx: number;
  edx: number;
}

/** CPUID.(EAX=7,ECX=0):EBX feature bits the model knows: Intel TSX (SDM vol. 2A, CPUID). */
export const CPUID7_EBX = Object.freeze({ HLE: 1 << 4, RTM: 1 << 11 });

export class PhysicalCpu implements MsrPort {
  // Non-null assertions here index `quantities` by a Quantity (below
  // QUANTITY_COUNT), `accessCounts` / `accessCycles` by an ACCESS_* class
  // (below ACCESS_CLASSES), and the retiring stacks at retiringDepth - 1, a
  // level retire() wrote before anything it calls reads it.
  readonly pmu: HardwarePmu;
  readonly lapic = new LocalApic();
  /** This CPU's trace points (hw/tracepoints.ts). */
  readonly trace = new CpuTracepoints();
  /** In VMX non-root / SVM guest mode. */
  guestMode = false;
  /** The host kernel's interrupt entry (NMI handler chain and vectored handlers). */
  hostInterrupt: InterruptHandler = () => {};
  /** Installed by KVM while a vCPU runs: an interrupt in guest mode exits to it. */
  guestModeExit: InterruptHandler | null = null;
  /** The cycle clock (TSC ticks), advanced by retired reference cycles and by charged costs. */
  tsc = 0;
  /**
   * What each class of MSR access costs, in cycles of this CPU's clock (0
   * unless the simulator prices the model), and how many were made: time is
   * explicit, and each access advances the clock by its price as it happens.
   */
  readonly accessCycles = new Float64Array(ACCESS_CLASSES);
  readonly accessCounts = new Float64Array(ACCESS_CLASSES);
  /** The uncore's free-running memory-read counter: every LLC miss, host or guest. */
  uncoreDataReads = 0;
  /** Interrupts delivered, by kind, for statistics. */
  readonly interruptsDelivered = { nmi: 0, vectored: 0, masked: 0 };

  private readonly quantities = new Float64Array(QUANTITY_COUNT);
  /**
   * Blocks being retired (nested when a PMI handler retires work): their
   * reference cycles and how many of them the clock has already been
   * advanced by, so an interrupt sees the time of the overflow, not the end
   * of the block.
   */
  private readonly retiringTotal: number[] = [];
  private readonly retiringAdvanced: number[] = [];
  /** How many blocks are being retired (the nesting level of the next one). */
  private retiringDepth = 0;

  constructor(
    readonly id: number,
    readonly model: CpuModel,
  ) {
    const raisePmi = () => this.raisePmi();
    this.pmu =
      model.vendor === 'intel' ? new IntelPmu(model, raisePmi) : new AmdPmu(model, raisePmi);
  }

  /** Nanoseconds since reset on this CPU's clock. */
  get nowNs(): number {
    return (this.tsc / this.model.tscHz) * 1e9;
  }

  /** Charge `cycles` of time that retires no counted work (a modelled cost). */
  stall(cycles: number): void {
    this.tsc += cycles;
  }

  /** Retire a block of work at its CPL (default 0) in the current mode. */
  retire(work: Work): void {
    workQuantities(work, this.model.topdownSlotsPerCycle, this.quantities);
    this.uncoreDataReads += this.quantities[Quantity.LlcMisses]!;
    const level = this.retiringDepth++;
    this.retiringTotal[level] = this.quantities[Quantity.RefCycles]!;
    this.retiringAdvanced[level] = 0;
    try {
      this.pmu.retire(this.quantities, work.cpl ?? 0, this.guestMode);
    } finally {
      this.retiringDepth--;
      this.tsc += this.retiringTotal[level] - this.retiringAdvanced[level];
    }
  }

  /** Advance the clock to the point the innermost block has reached (an overflow). */
  private syncClockToOverflow(): void {
    const level = this.retiringDepth - 1;
    if (level < 0) return;
    const consumed = this.retiringTotal[level]! - this.pmu.bank.remaining(Quantity.RefCycles);
    if (consumed > this.retiringAdvanced[level]!) {
      this.tsc += consumed - this.retiringAdvanced[level]!;
      this.retiringAdvanced[level] = consumed;
    }
  }

  /**
   * Retire a block, but stop at `deadlineNs` on this CPU's clock (a timer
   * interrupt): returns what is left of the block, or null when it is done.
   */
  retireUntil(work: Work, deadlineNs: number): Work | null {
    const refCycles = work.refCycles ?? work.cycles ?? work.instructions;
    const cyclesToDeadline = Math.ceil(((deadlineNs - this.nowNs) * this.model.tscHz) / 1e9);
    if (!Number.isFinite(deadlineNs) || cyclesToDeadline >= refCycles) {
      this.retire(work);
      return null;
    }
    if (cyclesToDeadline <= 0) return work;
    const [head, tail] = splitWork(work, cyclesToDeadline / refCycles);
    head.refCycles = cyclesToDeadline;
    tail.refCycles = refCycles - cyclesToDeadline;
    this.retire(head);
    return tail;
  }

  /**
   * The VMCS atomic switch of IA32_PERF_GLOBAL_CTRL at VM-entry / VM-exit
   * (VM_ENTRY_LOAD / VM_EXIT_SAVE / VM_EXIT_LOAD_IA32_PERF_GLOBAL_CTRL): part
   * of the transition, not an MSR access. Returns the value it replaced.
   */
  switchGlobalCtrl(value: bigint): bigint {
    const old = this.pmu.rdmsr(MSR.IA32_PERF_GLOBAL_CTRL);
    this.pmu.wrmsr(MSR.IA32_PERF_GLOBAL_CTRL, value);
    return old;
  }

  private account(kind: number): void {
    this.accessCounts[kind]!++;
    this.tsc += this.accessCycles[kind]!;
  }

  rdmsr(msr: number): bigint {
    this.account(msr >= 0x800 && msr <= 0x8ff ? ACCESS_X2APIC_READ : ACCESS_RDMSR);
    if (msr === LVTPC) return BigInt(this.lapic.lvtpc);
    // The PMU raises #GP for an index it does not implement (nothing else is modelled).
    return this.pmu.rdmsr(msr);
  }

  wrmsr(msr: number, value: bigint): void {
    this.account(
      msr >= 0x800 && msr <= 0x8ff
        ? ACCESS_X2APIC_WRITE
        : this.pmu.isCounterMsr(msr)
          ? ACCESS_WRMSR_COUNTER
          : ACCESS_WRMSR,
    );
    if (msr === LVTPC) {
      if (value > 0xffffffffn) throw gp(`wrmsr LVTPC <- 0x${value.toString(16)}: reserved bits`);
      this.lapic.writeLvtpc(Number(value));
      return;
    }
    if (msr === EOI) {
      if (value !== 0n) throw gp('wrmsr x2APIC EOI: non-zero value');
      this.lapic.eoi();
      return;
    }
    this.pmu.wrmsr(msr, value);
  }

  /** WRMSR with the value as a number (MsrPort.wrmsrNumber): the same instruction and price. */
  wrmsrNumber(msr: number, value: number): void {
    if (msr === LVTPC && value <= 0xffffffff) {
      this.account(ACCESS_X2APIC_WRITE);
      this.lapic.writeLvtpc(value);
      return;
    }
    // x2APIC registers take the bigint path's checks; PMU registers their number path.
    if (msr >= 0x800 && msr <= 0x8ff) {
      this.wrmsr(msr, BigInt(value));
      return;
    }
    this.account(this.pmu.isCounterMsr(msr) ? ACCESS_WRMSR_COUNTER : ACCESS_WRMSR);
    this.pmu.wrmsrNumber(msr, value);
  }

  rdpmc(ecx: number): bigint {
    this.account(ACCESS_RDPMC);
    return this.pmu.rdpmc(ecx);
  }

  /** RDPMC with its value as a number: the same instruction and price, no bigint (host-side hot paths). */
  rdpmcNumber(ecx: number): number {
    this.account(ACCESS_RDPMC);
    return this.pmu.rdpmcNumber(ecx);
  }

  /**
   * A counter's value read the way a debugger would, not by executing
   * RDPMC: nothing is priced or counted. For observers (the trace), never for
   * modelled code.
   */
  peekCounter(ecx: number): number {
    return this.pmu.rdpmcNumber(ecx);
  }

  cpuid(leaf: number, subleaf = 0): CpuidResult {
    return cpuidOf(this.model, leaf, subleaf, this.tsxCpuidClear);
  }

  /** IA32_TSX_CTRL.CPUID_CLEAR (bit 1): HLE and RTM are not enumerated. */
  private tsxCpuidClear = false;

  /**
   * The host kernel's tsx_disable (arch/x86/kernel/cpu/tsx.c): IA32_TSX_CTRL
   * gets RTM_DISABLE and CPUID_CLEAR, so CPUID.7.0:EBX stops enumerating HLE
   * and RTM. A part without TSX_CTRL takes a #GP (the kernel never tries:
   * tsx_ctrl_is_supported). The selectors' IN_TX / IN_TXCP stay as the part
   * has them: the SDM ties them to the processor's support, not to TSX_CTRL.
   */
  disableTsx(): void {
    if (!this.model.tsxCtrl) throw gp(`wrmsr 0x122: ${this.model.name} has no IA32_TSX_CTRL`);
    this.tsxCpuidClear = true;
  }

  /** A counter overflow with its interrupt enabled: through LVTPC to whoever owns the CPU now. */
  private raisePmi(): void {
    this.syncClockToOverflow();
    const delivery = this.lapic.deliverPmi(this.model.vendor === 'intel');
    const probe = this.trace.pmi.probe;
    if (probe !== null) probe(delivery, this.guestMode);
    if (!delivery) {
      this.interruptsDelivered.masked++;
      return;
    }
    if (delivery.nmi) this.interruptsDelivered.nmi++;
    else this.interruptsDelivered.vectored++;
    if (this.guestMode && this.guestModeExit) this.guestModeExit(delivery);
    else this.hostInterrupt(delivery);
  }
}

const VENDOR_LEAVES = new Map<'intel' | 'amd', CpuidResult>();

/** CPUID.0 for a vendor (computed once; the result is frozen: read it, do not change it). */
function vendorString(vendor: 'intel' | 'amd'): CpuidResult {
  let leaf = VENDOR_LEAVES.get(vendor);
  if (!leaf) {
    leaf = Object.freeze(computeVendorString(vendor));
    VENDOR_LEAVES.set(vendor, leaf);
  }
  return leaf;
}

function computeVendorString(vendor: 'intel' | 'amd'): CpuidResult {
  // CPUID.0: EBX, EDX, ECX spell the vendor in that order.
  const s = vendor === 'intel' ? 'GenuineIntel' : 'AuthenticAMD';
  const word = (o: number) =>
    s.charCodeAt(o) |
    (s.charCodeAt(o + 1) << 8) |
    (s.charCodeAt(o + 2) << 16) |
    (s.charCodeAt(o + 3) << 24);
  return {
    eax: vendor === 'intel' ? 0x20 : 0x10,
    ebx: word(0) >>> 0,
    edx: word(4) >>> 0,
    ecx: word(8) >>> 0,
  };
}

/** The PMU-related CPUID leaves of a CPU model (docs/x86-pmu.md section 1). */
export function cpuidOf(
  model: CpuModel,
  leaf: number,
  subleaf = 0,
  tsxCpuidClear = false,
): CpuidResult {
  const zero = { eax: 0, ebx: 0, ecx: 0, edx: 0 };
  if (leaf === 0) return vendorString(model.vendor);
  if (model.vendor === 'intel') {
    // EAX: family/model; ECX[15] PDCM: PERF_CAPABILITIES exists.
    if (leaf === 1) return { ...zero, eax: model.cpuidSignature ?? 0, ecx: 1 << 15 };
    // EBX: HLE and RTM where the part has TSX and TSX_CTRL does not hide them.
    if (leaf === 7 && subleaf === 0 && model.tsx && !tsxCpuidClear)
      return { ...zero, ebx: CPUID7_EBX.HLE | CPUID7_EBX.RTM };
    if (leaf === 0xa) {
      return {
        eax:
          (model.pmuVersion |
            (model.gpCounters << 8) |
            (model.gpWidth << 16) |
            (model.eventsLength << 24)) >>>
          0,
        ebx: model.unavailableEvents,
        ecx: model.pmuVersion >= 5 ? model.fixedCounterMask : 0,
        // EDX[15]: AnyThread deprecated, set by every v5 part (AnyThread is reserved there).
        edx:
          model.pmuVersion >= 2
            ? model.fixedCounters | (model.fixedWidth << 5) | (model.pmuVersion >= 5 ? 1 << 15 : 0)
            : 0,
      };
    }
    return zero;
  }
  if (leaf === 0x80000000) return { ...zero, eax: 0x80000022 };
  if (leaf === 0x80000001) return { ...zero, ecx: model.perfCtrExtCore ? 1 << 23 : 0 };
  if (leaf === 0x80000022) {
    return model.perfMonV2 ? { ...zero, eax: 1, ebx: model.gpCounters & 0xf } : zero;
  }
  return zero;
}
