/**
 * Pricing what the model does. The meter observes the operations the
 * modelled kernel code really performs, and charges each its cost-model price
 * as time on the CPU it ran on (PhysicalCpu.stall): every RDMSR / WRMSR /
 * RDPMC the perf driver and KVM's world switch execute on the hardware, every
 * VM-exit by reason, every injected interrupt, every perf call KVM makes,
 * every PMI and timer. Nothing here decides behaviour.
 */
import type { PhysicalCpu } from '../hw/cpu.ts';
import { MSR as MSR_TABLE } from '../hw/msr.ts';
import type { ExitReason } from '../kvm/exits.ts';
import { IA32_TSC_DEADLINE, type VcpuImpl } from '../kvm/vcpu.ts';
import type { PerfCore } from '../perf/core.ts';
import type { PerfKvmExports } from '../perf/kvm-exports.ts';
import type { CostModel } from './cost-model.ts';
import type { CostBreakdownEntry, TimelineEntry } from './results.ts';

/** Module-local bindings: the loader turns imported bindings into getters, and these are read on hot paths. */
const MSR = MSR_TABLE;

const MAX_TIMELINE = 4000;

const PERFCTR0 = MSR.IA32_PERFCTR0;
const PMC0 = MSR.IA32_PMC0;
const FIXED_CTR0 = MSR.IA32_FIXED_CTR0;
const K7_PERFCTR0 = MSR.MSR_K7_PERFCTR0;
const F15H_PERF_CTR0 = MSR.MSR_F15H_PERF_CTR0;

function isCounterMsr(msr: number): boolean {
  return (
    (msr >= PERFCTR0 && msr < PERFCTR0 + 8) ||
    (msr >= PMC0 && msr < PMC0 + 8) ||
    (msr >= FIXED_CTR0 && msr < FIXED_CTR0 + 4) ||
    (msr >= K7_PERFCTR0 && msr < K7_PERFCTR0 + 4) ||
    (msr >= F15H_PERF_CTR0 && msr < F15H_PERF_CTR0 + 12 && (msr - F15H_PERF_CTR0) % 2 === 0)
  );
}

function isX2apicMsr(msr: number): boolean {
  return msr >= 0x800 && msr <= 0x8ff;
}

/** A parameter resolved once: its price and its running total (hot paths charge these directly). */
interface CostSlot {
  readonly cycles: number;
  readonly entry: CostBreakdownEntry;
}

export class CostMeter {
  private readonly slots = new Map<string, CostSlot>();
  readonly timeline: TimelineEntry[] = [];
  readonly msrAccesses = { rdmsr: 0, wrmsr: 0, rdpmc: 0 };
  /** The CPU whose work is being simulated now (KVM's perf calls are charged to it). */
  current: PhysicalCpu | null = null;
  /** Timeline window: [start, start + length) in ns on the recording CPU's clock. */
  private windowStartNs = 0;
  private windowEndNs = 0;
  private windowCpu: PhysicalCpu | null = null;

  constructor(private readonly costs: CostModel) {}

  /** Charge `parameter` (times `count`) as time on `cpu`. */
  charge(cpu: PhysicalCpu, parameter: string, count = 1): number {
    return this.chargeSlot(cpu, this.slot(parameter), count);
  }

  private slot(parameter: string): CostSlot {
    let slot = this.slots.get(parameter);
    if (!slot) {
      const entry = { parameter, count: 0, cycles: 0 };
      slot = { cycles: this.costs.get(parameter), entry };
      this.slots.set(parameter, slot);
    }
    return slot;
  }

  private chargeSlot(cpu: PhysicalCpu, slot: CostSlot, count = 1): number {
    const cycles = slot.cycles * count;
    cpu.stall(cycles);
    slot.entry.count += count;
    slot.entry.cycles += cycles;
    return cycles;
  }

  get breakdown(): CostBreakdownEntry[] {
    return [...this.slots.values()]
      .map((s) => s.entry)
      .filter((e) => e.count > 0)
      .sort((a, b) => b.cycles - a.cycles);
  }

  /** Record timeline entries for `lengthNs` from now on this CPU. */
  openTimelineWindow(cpu: PhysicalCpu, lengthNs: number): void {
    this.windowCpu = cpu;
    this.windowStartNs = cpu.nowNs;
    this.windowEndNs = cpu.nowNs + lengthNs;
  }

  note(cpu: PhysicalCpu, guest: string, kind: TimelineEntry['kind'], label: string, cycles: number): void {
    if (cpu !== this.windowCpu || this.timeline.length >= MAX_TIMELINE) return;
    const now = cpu.nowNs;
    if (now < this.windowStartNs || now >= this.windowEndNs) return;
    this.timeline.push({ timeNs: now - this.windowStartNs, guest, kind, label, cycles });
  }

  /** Every hardware MSR access on this CPU is priced. */
  instrumentCpu(cpu: PhysicalCpu): void {
    const rdmsr = cpu.rdmsr.bind(cpu);
    const wrmsr = cpu.wrmsr.bind(cpu);
    const rdpmc = cpu.rdpmc.bind(cpu);
    const x2apic = this.slot('msr.x2apic');
    const read = this.slot('msr.rdmsr');
    const write = this.slot('msr.wrmsr');
    const writeCounter = this.slot('msr.wrmsr-counter');
    const readCounter = this.slot('msr.rdpmc');
    cpu.rdmsr = (msr) => {
      this.msrAccesses.rdmsr++;
      this.chargeSlot(cpu, isX2apicMsr(msr) ? x2apic : read);
      return rdmsr(msr);
    };
    cpu.wrmsr = (msr, value) => {
      this.msrAccesses.wrmsr++;
      this.chargeSlot(cpu, isX2apicMsr(msr) ? x2apic : isCounterMsr(msr) ? writeCounter : write);
      wrmsr(msr, value);
    };
    cpu.rdpmc = (ecx) => {
      this.msrAccesses.rdpmc++;
      this.chargeSlot(cpu, readCounter);
      return rdpmc(ecx);
    };
  }

  /** The perf calls KVM makes (legacy design) and the guest-context switch (mediated). */
  instrumentPerfExports(exports: PerfKvmExports): void {
    const wrap = <K extends keyof PerfKvmExports>(name: K, parameter: string) => {
      const original = (exports[name] as (...args: unknown[]) => unknown).bind(exports);
      (exports as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => {
        if (this.current) this.charge(this.current, parameter);
        return original(...args);
      };
    };
    wrap('createKernelCounter', 'perf.create');
    wrap('releaseKernelCounter', 'perf.release');
    wrap('setPeriod', 'perf.period');
    wrap('pauseCounter', 'perf.pause');
    wrap('enableCounter', 'perf.enable');
    wrap('readCounter', 'perf.read');
    wrap('loadGuestContext', 'perf.guest-context');
    wrap('putGuestContext', 'perf.guest-context');
  }

  /** Host PMIs, timers and multiplexing rotations on the host's perf core. */
  instrumentHostPerf(core: PerfCore, cpus: readonly PhysicalCpu[]): void {
    const handleNmi = core.handleNmi.bind(core);
    core.handleNmi = (cpu) => {
      this.charge(cpus[cpu]!, 'pmi.entry');
      return handleNmi(cpu);
    };
    this.instrumentTimers(core, cpus, 'host');
  }

  /** Timer interrupts and rotations of a perf core (host or guest). */
  instrumentTimers(core: PerfCore, cpus: readonly PhysicalCpu[], who: string): void {
    const runTimers = core.runTimers.bind(core);
    core.runTimers = (cpu) => {
      const physical = cpus[cpu]!;
      const rotations = core.rotations;
      this.charge(physical, 'tick.handler');
      runTimers(cpu);
      if (core.rotations > rotations) {
        const c = this.charge(physical, 'perf.rotate', core.rotations - rotations);
        this.note(physical, who, 'rotation', 'perf rotate', c);
      }
    };
  }

  /** Exits and injections of a vCPU. */
  instrumentVcpu(vcpu: VcpuImpl, guest: string): void {
    const cpu = vcpu.hostCpu;
    const intelPmu = cpu.model.vendor === 'intel' && vcpu.hasPmu;
    vcpu.onExit = (reason, fastpath, msr) => {
      let cycles = this.charge(cpu, reason === 'HLT' ? 'exit.hlt' : 'exit.roundtrip');
      const handler = exitHandlerCost(reason, msr, fastpath);
      if (handler) cycles += this.charge(cpu, handler);
      // The VMCS switches PERF_GLOBAL_CTRL at every exit and entry.
      if (intelPmu) cycles += this.charge(cpu, 'vmcs.global-ctrl-switch', 2);
      this.note(cpu, guest, 'exit', fastpath ? `${reason} (fastpath)` : reason, cycles);
      if (!fastpath && vcpu.designName !== 'emulated' && vcpu.hasPmu) this.note(cpu, guest, 'world-switch', 'put + load', 0);
    };
    vcpu.onInject = (vector) => {
      const cycles = this.charge(cpu, 'inject.interrupt');
      if (vector === 2) this.note(cpu, guest, 'pmi', 'PMI injected', cycles);
    };
  }
}

function exitHandlerCost(reason: ExitReason, msr: number, fastpath: boolean): string | null {
  switch (reason) {
    case 'MSR_READ':
    case 'MSR_WRITE':
      if (msr === IA32_TSC_DEADLINE || fastpath) return null;
      return isX2apicMsr(msr) ? 'exit.apic-handler' : 'exit.msr-handler';
    case 'RDPMC':
      return 'exit.rdpmc-handler';
    case 'EXTERNAL_INTERRUPT':
    case 'EXCEPTION_NMI':
      return 'exit.interrupt-handler';
    case 'IO_INSTRUCTION':
      return 'exit.io-handler';
    case 'EMULATED_INSTRUCTION':
      return 'exit.emulation-handler';
    default:
      return null;
  }
}
