/**
 * A vCPU (docs/api.md "Vcpu"): its guest PMU (KVM's model of it, with the
 * design's backend), its virtual LAPIC, and KVM_RUN.
 *
 * The guest program runs synchronously. Every intercepted operation is an
 * exit: the design's put (mediated: kvm_mediated_pmu_put), KVM's handler,
 * pending requests (KVM_REQ_PMU reprogramming, KVM_REQ_PMI injection), then
 * the design's load and VM-entry, after which an injected interrupt runs the
 * guest's handler: so a PMI reaches the guest at the exact point of the
 * overflow, inside the block of work that caused it.
 */
import { GuestFault, KvmError } from '../common/errors.ts';
import type { CpuidResult, PhysicalCpu } from '../hw/cpu.ts';
import type { Work } from '../hw/events.ts';
import type { InterruptDelivery } from '../hw/lapic.ts';
import { MSR } from '../hw/msr.ts';
import type { PerfKvmExports } from '../perf/kvm-exports.ts';
import { EmulatedVpmu } from './emulated-vpmu.ts';
import { ExitCounters, type ExitReason, type VcpuStats } from './exits.ts';
import type { CompiledEventFilter } from './event-filter.ts';
import type { GuestCpu } from './guest-cpu.ts';
import {
  bootCpuHasTsx,
  guestCpuidLeaf7,
  resolveGuestCpuid,
  type GuestCpuidConfig,
} from './guest-cpuid.ts';
import { GuestCpuImpl, IA32_TSC_DEADLINE } from './guest-cpu-impl.ts';
import { GuestPmu } from './guest-pmu.ts';
import { guestPmuCpuid, kvmPmuCapability, resolveGuestPmuConfig } from './pmu-capability.ts';
import { isFault, type GuestPmuConfig } from './pmu-types.ts';
import { MediatedVpmu, type GlobalCtrlSave } from './mediated-vpmu.ts';
import { VcpuTracepoints } from './tracepoints.ts';
import { VirtualLapic, type GuestInterrupt } from './vlapic.ts';
import { mediatedDesignOf, type VpmuDesign, type VpmuDesignName } from './vpmu-design.ts';
import { RfcV1PassthroughVpmu } from './rfc-v1-vpmu.ts';

export interface VcpuOptions {
  /** Host CPU the vCPU runs on; default 0. */
  hostCpu?: number;
  /** Guest PMU (CPUID 0xA / PERF_CAPABILITIES) set by userspace; default: all KVM supports. */
  pmu?: Partial<GuestPmuConfig>;
  /** Guest CPUID besides the PMU leaves (leaf 7 EBX, with TSX's HLE/RTM); default 0. */
  cpuid?: Partial<GuestCpuidConfig>;
}

export interface Vcpu {
  readonly id: number;
  run<T>(program: (guest: GuestCpu) => T): T;
  readonly stats: VcpuStats;
  /** Where each VM-exit saves a mediated guest's GLOBAL_CTRL ('none': not mediated, or AMD). */
  readonly globalCtrlSave: GlobalCtrlSave;
}

/** The host kernel's timers on a CPU (the tick, perf's multiplexing hrtimer): each one interrupts a guest. */
export interface HostTimers {
  nextDeadlineNs(cpu: number): number;
  run(cpu: number): void;
}

export interface VcpuHost {
  readonly cpu: PhysicalCpu;
  readonly timers: HostTimers;
  readonly perf: PerfKvmExports;
  log(line: string): void;
  /** The VM's PMU is on (enable_pmu, in-kernel LAPIC, not disabled by the capability). */
  readonly enablePmu: boolean;
  /** The design the VM's vCPUs use: a mediated one (of a series, or its ablation), 'emulated' or 'none'. */
  readonly design: VpmuDesignName;
  readonly filter: CompiledEventFilter | null;
  /** Mark this vCPU as the one running on its host CPU (for the 0xF5 handler), or clear it. */
  setRunning(vcpu: VcpuImpl | null): void;
  /** The vCPU inside KVM_RUN on this vCPU's host CPU, if any. */
  runningOnCpu(): VcpuImpl | null;
  /**
   * KVM_RUN returned: the reference the running vCPU held on its VM is
   * dropped, so a destroy() that came meanwhile can complete (kvm_put_kvm).
   */
  runEnded(): void;
}

export { IA32_TSC_DEADLINE };

/** The sequence that nested exits may not exceed (a guest handler that exits forever). */
const MAX_NESTED_EXITS = 64;

/** One instruction retired in the hardware at CPL 0 or 3 (read only: retiring never changes a block). */
const ONE_INSTRUCTION_CPL0: Work = Object.freeze({ instructions: 1, cycles: 0, cpl: 0 });
const ONE_INSTRUCTION_CPL3: Work = Object.freeze({ instructions: 1, cycles: 0, cpl: 3 });

/**
 * Injections in a row with no return to the guest's program between them:
 * guest perf throttles a storm after max_samples_per_tick PMIs (100,000 / HZ,
 * so 1,000 at HZ 100), so far more means a handler that re-arms its own
 * interrupt forever.
 */
const MAX_BACK_TO_BACK_INJECTIONS = 100_000;

export class VcpuImpl implements Vcpu {
  readonly pmu: GuestPmu;
  readonly design: VpmuDesign;
  readonly vlapic: VirtualLapic;
  readonly stats = new ExitCounters();
  /** The vCPU thread's pid: 1000 + 100 * VM + vCPU. */
  readonly pid: number;
  private readonly cpu: PhysicalCpu;
  /** KVM_REQ_PMI. */
  private pmiRequested = false;
  /** An interrupt injected at the next VM-entry. */
  private pendingInjection: GuestInterrupt | null = null;
  /** The guest's IDT: handlers its program registered. */
  private readonly guestHandlers = new Map<number, () => void>();
  private running = false;
  /** The vCPU's file is closed (its VM destroyed): no ioctl reaches it any more. */
  private released = false;
  private nesting = 0;
  /** The guest is in an injected interrupt's handler (NMIs blocked, IF clear) until it returns. */
  private inGuestHandler = false;
  private readonly guest: GuestCpuImpl;
  /** This vCPU's trace points: exits, entries, injections, the PMU world switch (kvm/tracepoints.ts). */
  readonly trace = new VcpuTracepoints();
  /** IA32_TSC_DEADLINE as the guest last wrote it. */
  tscDeadline = 0n;

  constructor(
    readonly id: number,
    vmId: number,
    private readonly host: VcpuHost,
    options: VcpuOptions,
  ) {
    this.cpu = host.cpu;
    this.pid = 1000 + 100 * vmId + id;
    const model = host.cpu.model;
    const mediatedDesign = mediatedDesignOf(host.design);
    const cap = kvmPmuCapability(model, {
      mediated: mediatedDesign !== null,
      enablePmu: host.enablePmu,
      ...(mediatedDesign ? { series: mediatedDesign.series } : {}),
      bootCpuHasTsx: bootCpuHasTsx(host.cpu),
    });
    const config = resolveGuestPmuConfig(cap, options.pmu ?? {});
    const guestCpuid = resolveGuestCpuid(options.cpuid);
    this.vlapic = new VirtualLapic(model.vendor === 'intel');
    const pmu = new GuestPmu(cap, config, {
      enablePmu: host.enablePmu,
      filter: host.filter,
      guestCpuid,
    });
    this.pmu = pmu;
    // kvm_vcpu_has_mediated_pmu(): enable_mediated_pmu && pmu->version. A
    // vCPU of a mediated VM whose PMU has version 0 (userspace's CPUID, or the
    // PMU disabled) gets no mediated load/put (kvm_mediated_pmu_load returns
    // early): host exclude_guest events keep counting through its guest time
    // and the legacy atomic switch of GLOBAL_CTRL applies.
    if (pmu.mediated && mediatedDesign) {
      const ctx = { cpu: this.cpu, perf: host.perf, vlapic: this.vlapic, pmu: () => pmu };
      this.design =
        mediatedDesign.series === 'passthrough-rfc-v1'
          ? new RfcV1PassthroughVpmu(ctx, mediatedDesign.passthroughAll)
          : new MediatedVpmu(ctx, mediatedDesign.passthroughAll);
    } else {
      this.design = new EmulatedVpmu({
        cpu: this.cpu,
        perf: host.perf,
        pid: this.pid,
        pmu: () => pmu,
        requestPmi: () => this.requestPmi(),
        log: (l) => host.log(l),
      });
    }
    pmu.backend = this.design.backend;
    this.guest = new GuestCpuImpl(this);
  }

  get hostCpu(): PhysicalCpu {
    return this.cpu;
  }

  /** The design in force for this vCPU. */
  get designName(): VpmuDesignName {
    return this.design.name;
  }

  /** Whether this vCPU's PMU is enabled at all (a VM without one exposes version 0). */
  get hasPmu(): boolean {
    return this.host.enablePmu;
  }

  /** Inside KVM_RUN: the guest program's operations are valid only then. */
  get inRun(): boolean {
    return this.running;
  }

  /** KVM_REQ_PMI on this vCPU. */
  requestPmi(): void {
    this.pmiRequested = true;
  }

  /**
   * KVM_SET_PMU_EVENT_FILTER's kvm_make_all_cpus_request(KVM_REQ_PMU): a vCPU
   * in guest mode is kicked out (an IPI: an external-interrupt exit), so the
   * mediated design's next load gives the hardware the refiltered selectors.
   */
  setFilter(filter: CompiledEventFilter | null): void {
    this.pmu.setFilter(filter);
    if (this.running && this.cpu.guestMode) this.exit('EXTERNAL_INTERRUPT', () => undefined);
  }

  /** KVM_RUN: enter the guest, run the program, exit. */
  run<T>(program: (guest: GuestCpu) => T): T {
    if (typeof program !== 'function')
      throw new TypeError('vcpu.run: program must be a function (guest) => result');
    // A guest program runs inside KVM_RUN, synchronously: the part of an
    // async function after its first await would run after the vCPU left.
    if (program.constructor.name === 'AsyncFunction')
      throw new TypeError(
        'vcpu.run: program must be synchronous (an async function is not a guest program)',
      );
    if (this.released)
      throw new KvmError(
        'EBADF',
        `vCPU ${this.id}: its VM has been destroyed (the vCPU file is closed); nothing runs`,
      );
    if (this.running)
      throw new KvmError('EBUSY', 'vCPU is already running (KVM_RUN is not reentrant)');
    // Another vCPU's guest program holds this host CPU: entering here would
    // switch its task and clear it as the CPU's running vCPU (where its PMIs
    // go) while it is still in guest mode, as host.exec there would be.
    const other = this.host.runningOnCpu();
    if (other !== null)
      throw new KvmError(
        'EBUSY',
        `vcpu.run: host CPU ${this.cpu.id} is running vCPU ${other.id} (inside its vcpu.run); run vCPU ${this.id} on another host CPU or after that guest program returns`,
      );
    this.running = true;
    this.host.perf.switchTask(this.cpu.id, this.pid);
    this.host.setRunning(this);
    this.pmu.vcpuHasRun = true;
    const savedExit = this.cpu.guestModeExit;
    this.cpu.guestModeExit = (d) => this.hardwareInterrupt(d);
    try {
      this.enter();
      try {
        const result = program(this.guest);
        if (isThenable(result)) {
          // Don't leave the rejection of the abandoned promise unhandled.
          Promise.resolve(result).catch(() => undefined);
          throw new TypeError(
            'vcpu.run: program returned a promise; guest programs are synchronous',
          );
        }
        return result;
      } finally {
        this.leave();
      }
    } finally {
      this.cpu.guestModeExit = savedExit;
      this.host.setRunning(null);
      this.running = false;
      this.host.runEnded();
    }
  }

  /** vcpu_enter_guest up to VM-entry: requests, load, entry, then injection. */
  private enter(): void {
    this.processRequests();
    this.loadPmu();
    this.vmEntry();
    this.injectPending();
  }

  /** VM-entry itself: the design's entry work, guest mode, the entry trace point. */
  private vmEntry(): void {
    this.design.vmEntry();
    this.cpu.guestMode = true;
    const entered = this.trace.entry.probe;
    if (entered !== null) entered();
  }

  /** VM-exit back to userspace (the end of KVM_RUN). */
  private leave(): void {
    this.cpu.guestMode = false;
    this.design.vmExit();
    this.putPmu();
  }

  /** The design's put after a VM-exit on the full exit path (kvm_mediated_pmu_put). */
  private putPmu(): void {
    const probe = this.trace.pmuSwitch.probe;
    if (probe !== null) probe('put', false);
    this.design.afterExit();
    if (probe !== null) probe('put', true);
  }

  /** The design's load before VM-entry from the full exit path (kvm_mediated_pmu_load). */
  private loadPmu(): void {
    const probe = this.trace.pmuSwitch.probe;
    if (probe !== null) probe('load', false);
    this.design.beforeEntry();
    if (probe !== null) probe('load', true);
  }

  /**
   * One intercepted operation: exit, put, handle, requests, load, entry.
   * `fastpath`: KVM may handle it in the fastpath. `true`: the handler
   * re-enters the guest at once (EXIT_FASTPATH_REENTER_GUEST), without the
   * world switch; 'exit-handled': it leaves the run loop
   * (EXIT_FASTPATH_EXIT_HANDLED), so the put, requests and load still run.
   */
  exit<T>(
    reason: ExitReason,
    handler: () => T,
    fastpath: boolean | 'exit-handled' = false,
    msr = -1,
  ): T {
    if (++this.nesting > MAX_NESTED_EXITS) {
      this.nesting--;
      throw new Error(
        `vCPU ${this.id}: more than ${MAX_NESTED_EXITS} nested exits (a guest interrupt handler that never returns?)`,
      );
    }
    this.stats.count(reason);
    this.cpu.guestMode = false;
    // The VM-exit refreshes KVM's copy of GLOBAL_CTRL before the fastpath decision reads it.
    this.design.vmExit();
    const inFastpath = fastpath !== false && this.pmu.isFastpathEmulationAllowed();
    if (inFastpath) this.stats.fastpathExits++;
    const useFastpath = inFastpath && fastpath === true;
    const exited = this.trace.exit.probe;
    if (exited !== null) exited(reason, useFastpath, msr);
    if (!useFastpath) this.putPmu();
    try {
      return handler();
    } finally {
      if (!useFastpath) {
        this.processRequests();
        this.loadPmu();
      }
      this.vmEntry();
      // The injected interrupt's handler runs nested in this exit, so the
      // exits it makes count toward MAX_NESTED_EXITS.
      try {
        this.injectPending();
      } finally {
        this.nesting--;
      }
    }
  }

  /** An interrupt raised while in guest mode: a VM-exit, then the host's handler with IRQs on. */
  private hardwareInterrupt(delivery: InterruptDelivery): void {
    this.exit(delivery.nmi ? 'EXCEPTION_NMI' : 'EXTERNAL_INTERRUPT', () =>
      this.cpu.hostInterrupt(delivery),
    );
  }

  /**
   * kvm_vcpu_block: the vCPU thread sleeps in schedule(), whose preempt
   * notifiers are kvm_sched_out (vcpu->scheduled_out) and, on wake-up,
   * kvm_sched_in -> kvm_arch_vcpu_load. That asks for kvm_pmu_cleanup
   * (need_cleanup and KVM_REQ_PMU, handled before the next entry) when the
   * PMU has a version and KVM holds perf events (pmu->event_count). The wait
   * is the caller's to account; halt-polling is not modelled (the vCPU blocks).
   */
  block(): void {
    if (this.pmu.version && this.design.perfEventCount > 0) this.pmu.needCleanup = true;
  }

  /** kvm_check_request before entry: KVM_REQ_PMU, then KVM_REQ_PMI (kvm_pmu_deliver_pmi). */
  private processRequests(): void {
    this.design.handlePmuRequest();
    if (this.pmiRequested) {
      this.pmiRequested = false;
      const interrupt = this.vlapic.deliverPmi();
      if (interrupt) {
        this.pendingInjection = interrupt;
        this.stats.pmis++;
      }
    }
  }

  /**
   * After VM-entry: the injected interrupt runs the guest's handler. While a
   * handler runs, the next PMI waits: an NMI blocks NMIs until its IRET, an
   * interrupt gate clears IF until then (KVM injects only in an open window:
   * nmi_allowed / interrupt_allowed, with an NMI- or IRQ-window exit to catch
   * the IRET). The PMI that came meanwhile (at most one: KVM_REQ_PMI and the
   * LVTPC collapse) is injected when the handler returns, so a counter that
   * overflows inside its own handler makes a sequence of PMIs, never a
   * recursion; the guest kernel's throttling (max_samples_per_tick) ends it.
   */
  private injectPending(): void {
    if (this.inGuestHandler) return;
    for (let injections = 0; this.pendingInjection; injections++) {
      if (injections >= MAX_BACK_TO_BACK_INJECTIONS) {
        // Dropped, so that the vCPU can run another program afterwards.
        this.pendingInjection = null;
        this.pmiRequested = false;
        throw new Error(
          `vCPU ${this.id}: more than ${MAX_BACK_TO_BACK_INJECTIONS} interrupts back to back (a guest handler that re-arms its own interrupt forever?)`,
        );
      }
      const interrupt = this.pendingInjection;
      this.pendingInjection = null;
      const injected = this.trace.inject.probe;
      if (injected !== null) injected(interrupt.vector);
      const handler = this.guestHandlers.get(interrupt.vector);
      if (!handler) continue;
      this.inGuestHandler = true;
      try {
        handler();
      } finally {
        this.inGuestHandler = false;
      }
    }
  }

  /** Inject an interrupt that is not the PMI (timer, device) at the next entry and run `handler` then. */
  injectAndRun(reason: ExitReason, fastpath: boolean, vector: number, handler: () => void): void {
    this.exit(reason, () => {}, fastpath);
    const injected = this.trace.inject.probe;
    if (injected !== null) injected(vector);
    handler();
  }

  registerGuestHandler(vector: number, handler: () => void): void {
    this.guestHandlers.set(vector, handler);
  }

  /** Timer interrupts due on the host CPU while the guest runs: each one exits. */
  runGuestWork(work: Work): void {
    const timers = this.host.timers;
    let rest: Work | null = work;
    while (rest) {
      rest = this.cpu.retireUntil(rest, timers.nextDeadlineNs(this.cpu.id));
      if (this.cpu.nowNs >= timers.nextDeadlineNs(this.cpu.id)) {
        this.exit('EXTERNAL_INTERRUPT', () => timers.run(this.cpu.id));
      }
    }
  }

  // ---- KVM's handlers for intercepted operations

  handleRdmsr(msr: number): bigint {
    if (msr === IA32_TSC_DEADLINE) return this.tscDeadline;
    if (msr === MSR.X2APIC_LVTPC) return BigInt(this.vlapic.lvtpc);
    if (this.pmu.isPmuMsr(msr)) {
      const value = this.pmu.getMsr(msr);
      if (isFault(value))
        throw new GuestFault('#GP', `rdmsr 0x${msr.toString(16)}: ${value.reason}`);
      return value;
    }
    throw new GuestFault('#GP', `rdmsr 0x${msr.toString(16)}: KVM does not emulate this MSR`);
  }

  handleWrmsr(msr: number, value: bigint): void {
    if (msr === IA32_TSC_DEADLINE) {
      this.tscDeadline = value;
      return;
    }
    if (msr === MSR.X2APIC_LVTPC) {
      if (value >> 32n) throw new GuestFault('#GP', 'wrmsr LVTPC: reserved bits');
      this.vlapic.writeLvtpc(value);
      return;
    }
    if (msr === MSR.X2APIC_EOI) {
      if (value !== 0n) throw new GuestFault('#GP', 'wrmsr x2APIC EOI: non-zero value');
      this.vlapic.eoi();
      return;
    }
    if (this.pmu.isPmuMsr(msr)) {
      const r = this.pmu.setMsr(msr, value);
      if (isFault(r))
        throw new GuestFault(
          '#GP',
          `wrmsr 0x${msr.toString(16)} <- 0x${value.toString(16)}: ${r.reason}`,
        );
      return;
    }
    throw new GuestFault('#GP', `wrmsr 0x${msr.toString(16)}: KVM does not emulate this MSR`);
  }

  handleRdpmc(ecx: number, cpl: number, cr4Pce: boolean): bigint {
    const value = this.pmu.rdpmc(ecx, { cpl, cr4Pce });
    if (isFault(value)) throw new GuestFault('#GP', `rdpmc 0x${ecx.toString(16)}: ${value.reason}`);
    return value;
  }

  handleCpuid(leaf: number, subleaf: number): CpuidResult {
    const pmuLeaf = guestPmuCpuid(this.pmu.cap, this.pmu.config, leaf, subleaf);
    if (pmuLeaf) return pmuLeaf;
    if (leaf === 0) return this.cpu.cpuid(0);
    if (leaf === 7 && subleaf === 0) return guestCpuidLeaf7(this.pmu.guestCpuid);
    return { eax: 0, ebx: 0, ecx: 0, edx: 0 };
  }

  /**
   * kvm_skip_emulated_instruction after a handler that succeeded (a #GP
   * injected instead retires nothing): the intercepted instruction retires,
   * counted in software by kvm_pmu_instruction_retired.
   */
  skipEmulatedInstruction(cpl: number): void {
    this.stats.retiredOperations++;
    this.emulateInstruction(false, cpl);
  }

  /**
   * A guest instruction that did not exit retires in the hardware, at the
   * guest's CPL, after its effect, as KVM's software count of an intercepted
   * one runs after its handler (kvm_skip_emulated_instruction): a read
   * returns the value before its own retirement, and of the WRMSRs that
   * enable and disable a counter the enabling one is counted. Which of the
   * two counts is a model assumption; that exactly one does is what
   * pmu_counters_test's NUM_EXTRA_INSNS ("1 WRMSR") requires.
   */
  retireInHardware(cpl: 0 | 3): void {
    this.stats.retiredOperations++;
    this.runGuestWork(cpl === 3 ? ONE_INSTRUCTION_CPL3 : ONE_INSTRUCTION_CPL0);
  }

  /** KVM emulated one instruction: kvm_pmu_instruction_retired / kvm_pmu_branch_retired. */
  emulateInstruction(branch: boolean, cpl: number): void {
    let pmi = this.pmu.incrementEmulated('instructions', cpl);
    if (branch) pmi = this.pmu.incrementEmulated('branches', cpl) || pmi;
    if (pmi) this.requestPmi();
  }

  get intercepts() {
    return this.design.intercepts();
  }

  get globalCtrlSave(): GlobalCtrlSave {
    return this.design instanceof MediatedVpmu ? this.design.globalCtrlSave : 'none';
  }

  /** State is in hardware: passed-through accesses reach it. */
  get loaded(): boolean {
    return this.design instanceof MediatedVpmu ? this.design.loaded : false;
  }

  /** kvm_vcpu_destroy: the vPMU's resources go, once; the vCPU never runs again. */
  destroy(): void {
    if (this.released) return;
    if (this.running) throw new Error(`vCPU ${this.id}: destroyed while running (a KVM bug)`);
    this.released = true;
    this.design.destroy();
  }

  get guestCpu(): GuestCpu {
    return this.guest;
  }
}

function isThenable(value: unknown): boolean {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}
