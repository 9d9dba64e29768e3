/**
 * The perf entry points only KVM may call: the counterpart of
 * EXPORT_SYMBOL_FOR_KVM in kernel/events/core.c and arch/x86/events/core.c.
 * kvm/ imports this module and nothing else of perf's internals.
 *
 * Each entry point named in KVM_PERF_CALLS (perf/tracepoints.ts) fires the
 * perf instance's kvmCall trace point first, which is how the simulator
 * prices it. The others cost what their MSR accesses cost (LVTPC, EOI) or
 * are setup and bookkeeping outside the measured run (VM creation, the
 * capability checks, the task switch, the GLOBAL_CTRL values for the VMCS).
 */
import type { Operation } from '../common/protocol.ts';
import { LVT, MSR } from '../hw/msr.ts';
import type { PerfEventAttr } from './attr.ts';
import type { PerfCpu } from './core-config.ts';
import type { PerfCore } from './core.ts';
import { EventState, type KernelEvent, type OverflowHandler } from './event.ts';
import type { AccountingProtocol } from './mediated-protocol.ts';
import type { KvmPerfCall } from './tracepoints.ts';

/** PERF_GUEST_MEDIATED_PMI_VECTOR ("VPMI" in /proc/interrupts). */
export const PERF_GUEST_MEDIATED_PMI_VECTOR = 0xf5;

export type MediatedPmiHandler = (cpu: number) => void;

export class PerfKvmExports {
  // Non-null assertions read `cpus` and `mediatedPmis` (cpus.length entries)
  // at a cpu below that: the host CPU a vCPU runs on (kvm/vm.ts checks it
  // against the machine's CPUs, the `cpus` given here) or the PhysicalCpu.id
  // of the CPU taking the 0xF5 interrupt. Per VM-entry and PMI: no checks.
  private mediatedPmiHandler: MediatedPmiHandler | null = null;
  /** 0xF5 interrupts handled, per CPU. */
  readonly mediatedPmis: number[];

  constructor(
    private readonly core: PerfCore,
    /** One per CPU, indexed with `!` by the CPU KVM runs on (one of these). */
    private readonly cpus: readonly PerfCpu[],
  ) {
    this.mediatedPmis = cpus.map(() => 0);
  }

  /** Whether the mediated APIs exist (CONFIG_PERF_GUEST_MEDIATED_PMU). */
  get mediatedKconfig(): boolean {
    return this.core.accounting !== null;
  }

  /** Whether the core PMU advertises PERF_PMU_CAP_MEDIATED_VPMU. */
  get coreMediatedCapable(): boolean {
    return this.core.x86?.mediatedCapable ?? false;
  }

  /** The accounting protocol perf runs (upstream or v6), for KVM's own protocol built on it. */
  get accountingProtocol(): AccountingProtocol {
    if (!this.core.accounting)
      throw new Error('CONFIG_PERF_GUEST_MEDIATED_PMU is off: no accounting');
    return this.core.accounting.protocol;
  }

  /**
   * Run one of KVM's protocol operations that inline perf_create/release_mediated_pmu
   * (kvm/vm-lifecycle-protocol.ts) over perf's accounting and the VM's own cells.
   */
  runMediatedPmuOperation(op: Operation, vmCells: Int32Array, vmMutexes: number): number {
    if (!this.core.accounting)
      throw new Error('CONFIG_PERF_GUEST_MEDIATED_PMU is off: no accounting');
    return this.core.accounting.runExtended(op, vmCells, vmMutexes);
  }

  createMediatedPmu(): number {
    return this.core.createMediatedPmu();
  }

  releaseMediatedPmu(): void {
    this.core.releaseMediatedPmu();
  }

  /** KVM called `call` (the kvmCall trace point). */
  private traced(call: KvmPerfCall, cpu: number): void {
    const probe = this.core.trace.kvmCall.probe;
    if (probe !== null) probe(call, cpu);
  }

  loadGuestContext(cpu: number): void {
    this.traced('perf_load_guest_context', cpu);
    this.core.loadGuestContext(cpu);
  }

  putGuestContext(cpu: number): void {
    this.traced('perf_put_guest_context', cpu);
    this.core.putGuestContext(cpu);
  }

  /**
   * perf_load_guest_lvtpc: PMIs become fixed-mode interrupts on 0xF5, keeping
   * only the guest's mask bit; perf's NMI handler ignores NMIs meanwhile.
   */
  loadGuestLvtpc(cpu: number, guestLvtpc: number): void {
    const value = LVT.DM_FIXED | PERF_GUEST_MEDIATED_PMI_VECTOR | (guestLvtpc & LVT.MASKED);
    this.cpus[cpu]!.wrmsrNumber(MSR.X2APIC_LVTPC, value);
    this.core.x86?.setGuestLvtpcLoaded(cpu, true);
  }

  /** perf_put_guest_lvtpc: back to NMI delivery for the host's PMIs. */
  putGuestLvtpc(cpu: number): void {
    this.core.x86?.setGuestLvtpcLoaded(cpu, false);
    this.cpus[cpu]!.wrmsrNumber(MSR.X2APIC_LVTPC, LVT.DM_NMI);
  }

  /** KVM registers kvm_handle_mediated_pmi (perf_register_guest_info_callbacks). */
  registerMediatedPmiHandler(handler: MediatedPmiHandler | null): void {
    this.mediatedPmiHandler = handler;
  }

  /** The 0xF5 interrupt handler: acknowledge, then hand the PMI to KVM. */
  handleMediatedPmi(cpu: number): void {
    this.mediatedPmis[cpu]!++;
    this.cpus[cpu]!.wrmsr(MSR.X2APIC_EOI, 0n);
    this.mediatedPmiHandler?.(cpu);
  }

  // ---- the legacy (perf-emulated) vPMU's use of perf: kernel counters

  /** perf_event_create_kernel_counter. Throws PerfError. */
  createKernelCounter(
    attr: PerfEventAttr,
    cpu: number,
    pid: number,
    overflow: OverflowHandler,
  ): KernelEvent {
    this.traced('perf_event_create_kernel_counter', cpu);
    return this.core.open(attr, pid >= 0 ? { pid, cpu } : { cpu }, undefined, overflow);
  }

  releaseKernelCounter(event: KernelEvent): void {
    this.traced('perf_event_release_kernel', event.cpu);
    this.core.close(event);
  }

  /** perf_event_read_value: the event's count now. */
  readCounter(event: KernelEvent): number {
    this.traced('perf_event_read_value', event.cpu);
    return this.core.readValue(event);
  }

  /** perf_event_pause(event, reset = true): disable it, return its count, and zero the count. */
  pauseCounter(event: KernelEvent): number {
    this.traced('perf_event_pause', event.cpu);
    this.core.disable(event);
    // perf_event_pause reads event->count directly: an errored event keeps its count.
    const count = this.core.readValue(event);
    event.count = 0;
    return count;
  }

  /** perf_event_enable. */
  enableCounter(event: KernelEvent): void {
    this.traced('perf_event_enable', event.cpu);
    this.core.enable(event);
  }

  /**
   * A kernel counter's count as of now, from its hardware counter read by an
   * observer (PerfCpu.peekCounter): nothing executed, priced or updated. For
   * traces; KVM's own reads go through readCounter.
   */
  peekCount(event: KernelEvent): number {
    const x86 = this.core.x86;
    const cpu = event.ctx.activeCpu;
    const port = cpu >= 0 ? this.cpus[cpu] : undefined;
    if (!x86 || !port?.peekCounter || event.idx < 0 || event.state !== EventState.Active)
      return event.count;
    let delta = port.peekCounter(x86.rdpmcIndex(event.idx)) - event.prevCount;
    if (delta < 0) delta += 2 ** x86.desc.gpWidth; // cntval_bits, as x86_perf_event_update
    return event.count + delta;
  }

  /** Whether a kernel counter is in the error state (pinned, and no counter could be had). */
  counterInError(event: KernelEvent): boolean {
    return event.state === EventState.Error;
  }

  /**
   * The scheduler put task `pid` (a vCPU thread) on `cpu`: perf's task
   * context switch (perf_event_task_sched_out / in).
   */
  switchTask(cpu: number, pid: number): void {
    this.core.switchTask(cpu, pid);
  }

  /** perf_event_period. */
  setPeriod(event: KernelEvent, period: number): void {
    this.traced('perf_event_period', event.cpu);
    this.core.setPeriod(event, period);
  }

  /** perf_guest_get_msrs (Intel): GLOBAL_CTRL values for the VM-entry/exit switch. */
  guestSwitchGlobalCtrl(cpu: number): { host: bigint; guest: bigint } | null {
    const x86 = this.core.x86;
    return x86 && x86.desc.vendor === 'intel' && x86.desc.version >= 2
      ? x86.guestSwitchGlobalCtrl(cpu)
      : null;
  }
}
