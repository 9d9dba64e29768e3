/**
 * Pricing what the model does. The meter observes the operations the
 * modelled kernel code really performs, and charges each its cost-model price
 * as time on the CPU it ran on (PhysicalCpu.stall): every RDMSR / WRMSR /
 * RDPMC the perf driver and KVM's world switch execute on the hardware (the
 * CPU prices those itself, PhysicalCpu.accessCycles), and through the
 * model's trace points (common/tracepoint.ts) every VM-exit by reason, every
 * injected interrupt, every perf call KVM makes, every PMI and timer.
 * Nothing here decides behaviour, and nothing here replaces a method.
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

import { Attachments } from '../common/tracepoint.ts';
import type { ExitReason } from '../kvm/exits.ts';
import { IA32_TSC_DEADLINE, type VcpuImpl } from '../kvm/vcpu.ts';
import type { PerfCore } from '../perf/core.ts';
import type { KvmPerfCall } from '../perf/tracepoints.ts';
import type { CostModel, CostName } from './cost-model.ts';
import type { CostBreakdownEntry, TimelineEntry } from './results.ts';

const MAX_TIMELINE = 4000;

/**
 * The cost parameter of each class of MSR access (hw/cpu.ts ACCESS_*): one for
 * every class below ACCESS_CLASSES, so `ACCESS_PARAMETER[k]!` holds, as does
 * `cpus[cpu]!` for the CPUs a core was built over.
 */
const ACCESS_PARAMETER: readonly CostName[] = (() => {
  const names: CostName[] = [];
  names[ACCESS_RDMSR] = 'msr.rdmsr';
  names[ACCESS_X2APIC_READ] = 'msr.x2apic';
  names[ACCESS_WRMSR] = 'msr.wrmsr';
  names[ACCESS_WRMSR_COUNTER] = 'msr.wrmsr-counter';
  names[ACCESS_X2APIC_WRITE] = 'msr.x2apic';
  names[ACCESS_RDPMC] = 'msr.rdpmc';
  return names;
})();

/** What each perf entry point KVM calls costs (perf/tracepoints.ts KVM_PERF_CALLS). */
export const KVM_CALL_PARAMETER: Readonly<Record<KvmPerfCall, CostName>> = Object.freeze({
  perf_event_create_kernel_counter: 'perf.create',
  perf_event_release_kernel: 'perf.release',
  perf_event_period: 'perf.period',
  perf_event_pause: 'perf.pause',
  perf_event_enable: 'perf.enable',
  perf_event_read_value: 'perf.read',
  perf_load_guest_context: 'perf.guest-context',
  perf_put_guest_context: 'perf.guest-context',
});

function isX2apicMsr(msr: number): boolean {
  return msr >= 0x800 && msr <= 0x8ff;
}

/** A parameter resolved once: its price and its running total (hot paths charge these directly). */
interface CostSlot {
  readonly cycles: number;
  readonly entry: CostBreakdownEntry;
}

export class CostMeter {
  // Non-null assertions here index the per-access-class arrays
  // (ACCESS_PARAMETER, a CPU's accessCounts / accessCycles and the baselines
  // copied from them) by a class below ACCESS_CLASSES, their length;
  // `chargedOn` by a CPU id below its length (chargeSlot grows it first); and
  // the `cpus` list of attachHost / attachTimers by the CPU number a perf
  // trace point reports: a PerfCore numbers its CPUs 0..n-1 of the list it
  // was built with, the list passed here (the host's CPUs; a guest kernel's
  // perf has one CPU, passed as [cpu]).
  private readonly slots = new Map<CostName, CostSlot>();
  readonly timeline: TimelineEntry[] = [];
  /** CPUs whose MSR accesses are priced, with their access counts when instrumented. */
  private readonly pricedCpus: { cpu: PhysicalCpu; baseline: Float64Array }[] = [];
  /** The CPU whose work is being simulated now (KVM's perf calls are charged to it). */
  current: PhysicalCpu | null = null;
  /** Timeline window: [start, start + length) in ns on the recording CPU's clock. */
  private windowStartNs = 0;
  private windowEndNs = 0;
  private windowCpu: PhysicalCpu | null = null;

  /** What the last VM-exit was charged (round trip, handler, VMCS switch), for the trace. */
  lastExitCycles = 0;
  /** Cycles charged on each CPU (by id), MSR accesses apart. */
  private chargedOn = new Float64Array(8);
  private readonly attachments = new Attachments();

  constructor(private readonly costs: CostModel) {}

  /** Charge `parameter` (times `count`) as time on `cpu`. */
  charge(cpu: PhysicalCpu, parameter: CostName, count = 1): number {
    return this.chargeSlot(cpu, this.slot(parameter), count);
  }

  /**
   * `charge` for one parameter, its slot looked up at the first charge (so
   * the breakdown keeps the order of first use): for the trace points hit at
   * every exit and interrupt, with no map lookup each time.
   */
  private charger(parameter: CostName): (cpu: PhysicalCpu, count?: number) => number {
    let slot: CostSlot | undefined;
    return (cpu, count = 1) => this.chargeSlot(cpu, (slot ??= this.slot(parameter)), count);
  }

  private slot(parameter: CostName): CostSlot {
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
    if (cpu.id >= this.chargedOn.length) this.growChargedOn(cpu.id);
    this.chargedOn[cpu.id]! += cycles;
    slot.entry.count += count;
    slot.entry.cycles += cycles;
    return cycles;
  }

  private growChargedOn(id: number): void {
    const grown = new Float64Array(Math.max(2 * this.chargedOn.length, id + 1));
    grown.set(this.chargedOn);
    this.chargedOn = grown;
  }

  get breakdown(): CostBreakdownEntry[] {
    const entries = [...this.slots.values()].map((s) => ({ ...s.entry }));
    // MSR accesses are priced by the CPUs themselves; fold their counts in by parameter.
    const byParameter = new Map<CostName, number>();
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

  /** Whether the timeline records what happens on `cpu` now. */
  private records(cpu: PhysicalCpu): boolean {
    if (cpu !== this.windowCpu || this.timeline.length >= MAX_TIMELINE) return false;
    const now = cpu.nowNs;
    return now >= this.windowStartNs && now < this.windowEndNs;
  }

  note(
    cpu: PhysicalCpu,
    guest: string,
    kind: TimelineEntry['kind'],
    label: string,
    cycles: number,
  ): void {
    if (!this.records(cpu)) return;
    const now = cpu.nowNs;
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

  /** Everything priced on `cpu` so far: what was charged, and its MSR accesses since it was instrumented. */
  pricedCycles(cpu: PhysicalCpu): number {
    let cycles = cpu.id < this.chargedOn.length ? this.chargedOn[cpu.id]! : 0;
    const priced = this.pricedCpus.find((p) => p.cpu === cpu);
    if (priced)
      for (let k = 0; k < ACCESS_CLASSES; k++)
        cycles += (cpu.accessCounts[k]! - priced.baseline[k]!) * cpu.accessCycles[k]!;
    return cycles;
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

  /**
   * Subscribe to a host's trace points: perf's NMI handler (pmi.entry), its
   * timer interrupts and rotations, and the calls KVM makes into perf
   * (charged to `current`, the CPU being simulated).
   */
  attachHost(host: { readonly perfCore: PerfCore; readonly cpus: readonly PhysicalCpu[] }): void {
    const { perfCore, cpus } = host;
    const chargePmiEntry = this.charger('pmi.entry');
    this.attachments.add(perfCore.trace.nmiEntry, (cpu) => {
      chargePmiEntry(cpus[cpu]!);
    });
    this.attachTimers(perfCore, cpus, 'host');
    this.attachments.add(perfCore.trace.kvmCall, (call) => {
      if (this.current) this.charge(this.current, KVM_CALL_PARAMETER[call]);
    });
  }

  /**
   * A guest kernel's perf, running on `cpu`: its PMI handler's entry
   * (pmi.entry) and the samples it writes (perf.sample, and the perf tool's
   * copy of each when it records), its timer interrupts and rotations.
   */
  attachGuestPerf(perf: PerfCore, cpu: PhysicalCpu, guest: string, recording: boolean): void {
    const chargePmiEntry = this.charger('pmi.entry');
    this.attachments.add(perf.trace.nmiEntry, () => {
      chargePmiEntry(cpu);
    });
    this.attachments.add(perf.trace.nmiExit, (_cpu, _handled, samples) => {
      if (samples === 0) return;
      this.charge(cpu, 'perf.sample', samples);
      if (recording) this.charge(cpu, 'perf.record-userspace', samples);
    });
    this.attachTimers(perf, [cpu], guest);
  }

  /**
   * Timer interrupts (tick.handler, on entry) and multiplexing rotations
   * (perf.rotate each, when the interrupt returns) of a perf instance; its
   * CPU `n` runs on `cpus[n]`.
   */
  attachTimers(perf: PerfCore, cpus: readonly PhysicalCpu[], who: string): void {
    let rotations = 0;
    const chargeTick = this.charger('tick.handler');
    this.attachments.add(perf.trace.timerEntry, (cpu) => {
      chargeTick(cpus[cpu]!);
    });
    this.attachments.add(perf.trace.rotate, () => {
      rotations++;
    });
    this.attachments.add(perf.trace.timerExit, (cpu) => {
      if (rotations === 0) return;
      const physical = cpus[cpu]!;
      const c = this.charge(physical, 'perf.rotate', rotations);
      rotations = 0;
      this.note(physical, who, 'rotation', 'perf rotate', c);
    });
  }

  /** Exits and injections of a vCPU. */
  attachVcpu(vcpu: VcpuImpl, guest: string): void {
    const cpu = vcpu.hostCpu;
    const intelPmu = cpu.model.vendor === 'intel' && vcpu.hasPmu;
    const worldSwitch = vcpu.designName !== 'emulated' && vcpu.hasPmu;
    const globalCtrlViaMsrStore = vcpu.hasPmu && vcpu.globalCtrlSave === 'msr-store-list';
    const chargeHlt = this.charger('exit.hlt');
    const chargeRoundtrip = this.charger('exit.roundtrip');
    const chargeGlobalCtrlSwitch = this.charger('vmcs.global-ctrl-switch');
    const chargeMsrStore = this.charger('vmx.global-ctrl-msr-store');
    const chargeInject = this.charger('inject.interrupt');
    this.attachments.add(vcpu.trace.exit, (reason, fastpath, msr) => {
      let cycles = reason === 'HLT' ? chargeHlt(cpu) : chargeRoundtrip(cpu);
      const handler = exitHandlerCost(reason, msr, fastpath);
      if (handler) cycles += this.charge(cpu, handler);
      // The VMCS switches PERF_GLOBAL_CTRL at every exit and entry.
      if (intelPmu) cycles += chargeGlobalCtrlSwitch(cpu, 2);
      // Before Sapphire Rapids the guest's GLOBAL_CTRL also goes through the MSR-store list.
      if (globalCtrlViaMsrStore) cycles += chargeMsrStore(cpu);
      this.lastExitCycles = cycles;
      // The label is built only for an exit the timeline records.
      if (this.records(cpu)) {
        this.note(cpu, guest, 'exit', fastpath ? `${reason} (fastpath)` : reason, cycles);
        if (!fastpath && worldSwitch) this.note(cpu, guest, 'world-switch', 'put + load', 0);
      }
    });
    this.attachments.add(vcpu.trace.inject, (vector) => {
      const cycles = chargeInject(cpu);
      if (vector === 2) this.note(cpu, guest, 'pmi', 'PMI injected', cycles);
    });
  }

  /** Stop observing: every probe attached by this meter is detached. */
  detach(): void {
    this.attachments.detachAll();
  }
}

function exitHandlerCost(reason: ExitReason, msr: number, fastpath: boolean): CostName | null {
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
