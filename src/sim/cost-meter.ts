/**
 * Pricing what the model does. The meter observes the operations the
 * modelled kernel code really performs, and charges each its cost-model price
 * as time on the CPU it ran on (PhysicalCpu.stall): every RDMSR / WRMSR /
 * RDPMC the perf driver and KVM's world switch execute on the hardware, every
 * VM-exit by reason, every injected interrupt, every perf call KVM makes,
 * every PMI and timer. Nothing here decides behaviour.
 */
import {
  ACCESS_CLASSES,
  ACCESS_RDMSR,
  ACCESS_RDPMC,
  ACCESS_WRMSR,
  ACCESS_WRMSR_COUNTER,
  ACCESS_X2APIC_READ,
  ACCESS_X2APIC_WRITE,
  type PhysicalCpu,
} from '../hw/cpu.ts';

import type { ExitReason } from '../kvm/exits.ts';
import { IA32_TSC_DEADLINE, type VcpuImpl } from '../kvm/vcpu.ts';
import type { PerfCore } from '../perf/core.ts';
import type { PerfKvmExports } from '../perf/kvm-exports.ts';
import type { CostModel } from './cost-model.ts';
import type { CostBreakdownEntry, TimelineEntry } from './results.ts';

/** Module-local bindings: the loader turns imported bindings into getters, and these are read on hot paths. */

const MAX_TIMELINE = 4000;

/** The cost parameter of each class of MSR access (hw/cpu.ts ACCESS_*). */
const ACCESS_PARAMETER: readonly string[] = (() => {
  const names: string[] = [];
  names[ACCESS_RDMSR] = 'msr.rdmsr';
  names[ACCESS_X2APIC_READ] = 'msr.x2apic';
  names[ACCESS_WRMSR] = 'msr.wrmsr';
  names[ACCESS_WRMSR_COUNTER] = 'msr.wrmsr-counter';
  names[ACCESS_X2APIC_WRITE] = 'msr.x2apic';
  names[ACCESS_RDPMC] = 'msr.rdpmc';
  return names;
})();

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
  /** CPUs whose MSR accesses are priced, with their access counts when instrumented. */
  private readonly pricedCpus: { cpu: PhysicalCpu; baseline: Float64Array }[] = [];
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
    const entries = [...this.slots.values()].map((s) => ({ ...s.entry }));
    // MSR accesses are priced by the CPUs themselves; fold their counts in by parameter.
    const byParameter = new Map<string, number>();
    for (let k = 0; k < ACCESS_CLASSES; k++) {
      const name = ACCESS_PARAMETER[k]!;
      byParameter.set(name, (byParameter.get(name) ?? 0) + this.accesses(k));
    }
    for (const [parameter, count] of byParameter) {
      if (count > 0) entries.push({ parameter, count, cycles: count * this.costs.get(parameter) });
    }
    return entries.filter((e) => e.count > 0).sort((a, b) => b.cycles - a.cycles);
  }

  /** Record timeline entries for `lengthNs` from now on this CPU. */
  openTimelineWindow(cpu: PhysicalCpu, lengthNs: number): void {
    this.windowCpu = cpu;
    this.windowStartNs = cpu.nowNs;
    this.windowEndNs = cpu.nowNs + lengthNs;
  }

  note(
    cpu: PhysicalCpu,
    guest: string,
    kind: TimelineEntry['kind'],
    label: string,
    cycles: number,
  ): void {
    if (cpu !== this.windowCpu || this.timeline.length >= MAX_TIMELINE) return;
    const now = cpu.nowNs;
    if (now < this.windowStartNs || now >= this.windowEndNs) return;
    this.timeline.push({ timeNs: now - this.windowStartNs, guest, kind, label, cycles });
  }

  /** Every hardware MSR access on this CPU is priced (by the CPU, as it happens: see PhysicalCpu.accessCycles). */
  instrumentCpu(cpu: PhysicalCpu): void {
    for (let k = 0; k < ACCESS_CLASSES; k++)
      cpu.accessCycles[k] = this.costs.get(ACCESS_PARAMETER[k]!);
    this.pricedCpus.push({ cpu, baseline: Float64Array.from(cpu.accessCounts) });
  }

  /** Accesses of one class made on the priced CPUs since they were instrumented. */
  private accesses(kind: number): number {
    let n = 0;
    for (const { cpu, baseline } of this.pricedCpus) n += cpu.accessCounts[kind]! - baseline[kind]!;
    return n;
  }

  /** Hardware MSR accesses on the priced CPUs: reads, writes, RDPMC. */
  get msrAccesses(): { rdmsr: number; wrmsr: number; rdpmc: number } {
    return {
      rdmsr: this.accesses(ACCESS_RDMSR) + this.accesses(ACCESS_X2APIC_READ),
      wrmsr:
        this.accesses(ACCESS_WRMSR) +
        this.accesses(ACCESS_WRMSR_COUNTER) +
        this.accesses(ACCESS_X2APIC_WRITE),
      rdpmc: this.accesses(ACCESS_RDPMC),
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
      if (!fastpath && vcpu.designName !== 'emulated' && vcpu.hasPmu)
        this.note(cpu, guest, 'world-switch', 'put + load', 0);
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
