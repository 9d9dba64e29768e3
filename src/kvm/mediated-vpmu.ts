/**
 * The mediated vPMU's world switch (arch/x86/kvm/pmu.c kvm_mediated_pmu_load
 * / kvm_mediated_pmu_put, vmx/pmu_intel.c and svm/pmu.c mediated_load/put):
 * just before VM-entry the host's perf context is put away and the guest's
 * counters, selectors and status are loaded; right after VM-exit they are
 * saved and the hardware is cleared so no value crosses between host and guest.
 *
 * Every access goes through the physical CPU's MSR port, so the simulator
 * can count and price them; counter writes the hardware already holds are
 * elided (b0b6a8d3be16).
 */
import type { PhysicalCpu } from '../hw/cpu.ts';
import { MSR, RDPMC } from '../hw/msr.ts';
import type { PerfKvmExports } from '../perf/kvm-exports.ts';
import type { GuestPmu } from './guest-pmu.ts';
import type { GuestPmuBackend, KvmPmc } from './pmu-types.ts';
import { pmuIntercepts, type PmuIntercepts } from './msr-intercepts.ts';
import type { VirtualLapic } from './vlapic.ts';
import { mediatedDesignName, type MediatedDesignName, type VpmuDesign } from './vpmu-design.ts';

/** Where a VM-exit saves a mediated guest's GLOBAL_CTRL. */
export type GlobalCtrlSave = 'vmcs-field' | 'msr-store-list' | 'none';

export interface MediatedVcpuContext {
  readonly cpu: PhysicalCpu;
  readonly perf: PerfKvmExports;
  readonly vlapic: VirtualLapic;
  pmu(): GuestPmu;
}

export class MediatedVpmu implements VpmuDesign {
  // Non-null assertions here (and in RfcV1PassthroughVpmu) index the guest
  // PMU's gpCounters below nrArchGpCounters and fixedCounters below
  // nrArchFixedCounters: the lengths GuestPmu guarantees (see its class).
  readonly name: MediatedDesignName;
  /** The guest's state is in the hardware (between load and put). */
  loaded = false;
  protected cachedIntercepts: PmuIntercepts | null = null;

  /**
   * Nothing is programmed at intercept time: eventsel_hw, fixed_ctr_ctrl_hw,
   * counters and GLOBAL_CTRL reach the hardware at the next load, and every
   * intercepted access happens between a put and a load.
   */
  readonly backend: GuestPmuBackend = {
    reprogramCounter: () => {},
    writeCounter: () => {},
    readCounter: (pmc: KvmPmc) => pmc.counter,
    globalCtrlChanged: () => {},
  };

  constructor(
    protected readonly ctx: MediatedVcpuContext,
    /** The everything-passed-through ablation: selectors, FIXED_CTR_CTRL, globals and RDPMC too. */
    protected readonly passthroughAll = false,
  ) {
    this.name = mediatedDesignName(ctx.pmu().cap.series, passthroughAll);
    const intel = ctx.cpu.model.vendor === 'intel';
    this.vendor = intel ? 'intel' : 'amd';
    this.globalCtrlSave = !intel
      ? 'none'
      : ctx.cpu.model.vmExitSavesGlobalCtrl === false
        ? 'msr-store-list'
        : 'vmcs-field';
    this.gpCounterBase = intel ? MSR.IA32_PMC0 : MSR.MSR_F15H_PERF_CTR0;
    this.gpEventselBase = intel ? MSR.IA32_PERFEVTSEL0 : MSR.MSR_F15H_PERF_CTL0;
    this.msrStride = intel ? 1 : 2;
    this.globalCtrlMsr = intel ? MSR.IA32_PERF_GLOBAL_CTRL : MSR.MSR_AMD64_PERF_CNTR_GLOBAL_CTL;
  }

  protected readonly vendor: 'intel' | 'amd';

  /**
   * How the VM-exit saves the guest's GLOBAL_CTRL (vmx_recalc_pmu_msr_intercepts,
   * commit d374b89edbb9): in the VMCS guest field where the CPU has the
   * VM_EXIT_SAVE_IA32_PERF_GLOBAL_CTRL control (Sapphire Rapids on); before
   * that (Skylake, Ice Lake) KVM adds GLOBAL_CTRL to the VM-exit MSR-store list
   * of every mediated vCPU, and the hardware stores it there at every exit.
   * AMD: no VMCS, svm_vcpu_run reads the MSR ('none').
   */
  readonly globalCtrlSave: GlobalCtrlSave;
  /** kvm_pmu_ops.GP_COUNTER_BASE / GP_EVENTSEL_BASE / MSR_STRIDE / PERF_GLOBAL_CTRL. */
  private readonly gpCounterBase: number;
  private readonly gpEventselBase: number;
  private readonly msrStride: number;
  private readonly globalCtrlMsr: number;

  intercepts(): PmuIntercepts {
    if (this.cachedIntercepts) return this.cachedIntercepts;
    return (this.cachedIntercepts = this.withAblation(pmuIntercepts(this.ctx.pmu())));
  }

  /** The series' policy, or with the ablation everything on top of it passed through. */
  protected withAblation(base: PmuIntercepts): PmuIntercepts {
    if (!this.passthroughAll) return base;
    // The hypothetical middle column of the published table ("everything passed
    // through"): selectors, FIXED_CTR_CTRL, the global MSRs and RDPMC reach the
    // hardware too, whatever the counter counts. No event filter applies.
    const pmu = this.ctx.pmu();
    const passthrough = new Set(base.passthrough);
    for (let i = 0; i < pmu.nrArchGpCounters; i++) {
      passthrough.add(this.gpEventselMsr(i));
      passthrough.add(this.gpCounterMsr(i));
    }
    if (this.vendor === 'intel') {
      for (let i = 0; i < pmu.nrArchGpCounters; i++) passthrough.add(MSR.IA32_PERFCTR0 + i);
      for (let i = 0; i < pmu.nrArchFixedCounters; i++) passthrough.add(MSR.IA32_FIXED_CTR0 + i);
      for (const msr of [
        MSR.IA32_FIXED_CTR_CTRL,
        MSR.IA32_PERF_GLOBAL_CTRL,
        MSR.IA32_PERF_GLOBAL_STATUS,
        MSR.IA32_PERF_GLOBAL_OVF_CTRL,
      ])
        passthrough.add(msr);
    } else {
      for (const msr of [
        MSR.MSR_AMD64_PERF_CNTR_GLOBAL_CTL,
        MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS,
        MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS_CLR,
        MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS_SET,
      ])
        passthrough.add(msr);
    }
    return Object.freeze({ passthrough, rdpmcExits: false });
  }

  /** Cached with the intercepts: a vCPU's PMU configuration is fixed when it is created. */
  private globalCtrlPassedThroughCache: boolean | null = null;

  /** Whether the guest writes GLOBAL_CTRL straight to hardware (then the put must save it). */
  protected get globalCtrlPassedThrough(): boolean {
    this.globalCtrlPassedThroughCache ??= this.intercepts().passthrough.has(this.globalCtrlMsr);
    return this.globalCtrlPassedThroughCache;
  }

  protected gpCounterMsr(i: number): number {
    return this.gpCounterBase + this.msrStride * i;
  }

  protected gpEventselMsr(i: number): number {
    return this.gpEventselBase + this.msrStride * i;
  }

  /**
   * The VM-exit itself, before any fastpath decision. Intel: the VMCS saves
   * the guest's GLOBAL_CTRL (VM_EXIT_SAVE_IA32_PERF_GLOBAL_CTRL) and loads the
   * host's, 0 (VM_EXIT_LOAD_IA32_PERF_GLOBAL_CTRL); while GLOBAL_CTRL is passed
   * through, vmx_refresh_guest_perf_global_control copies the saved value into
   * pmu->global_ctrl. AMD: nothing switches at #VMEXIT; svm_vcpu_run reads an
   * unintercepted PERF_CNTR_GLOBAL_CTL with RDMSR (the put clears it later).
   */
  vmExit(): void {
    const { cpu } = this.ctx;
    const pmu = this.ctx.pmu();
    if (this.vendor === 'intel') {
      // The hardware stores the MSR-store list before it loads host state
      // (SDM vol. 3 ch. 28), so either way `saved` is the guest's value.
      const saved = cpu.switchGlobalCtrl(0n);
      // vmx_refresh_guest_perf_global_control. From the MSR-store list KVM also
      // VMWRITEs the value to the VMCS guest field, which the next entry loads
      // (vmEntry loads pmu.globalCtrl, so that write needs no state of its own).
      if (this.globalCtrlPassedThrough) pmu.globalCtrl = saved;
    } else if (this.globalCtrlPassedThrough) {
      pmu.globalCtrl = cpu.rdmsr(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_CTL);
    }
  }

  /** The VM-entry itself. Intel: the VMCS loads the guest's GLOBAL_CTRL; AMD's load (or the guest) wrote it. */
  vmEntry(): void {
    if (this.vendor === 'intel') this.ctx.cpu.switchGlobalCtrl(this.ctx.pmu().globalCtrl);
  }

  /** kvm_mediated_pmu_load. */
  beforeEntry(): void {
    const { cpu, perf, vlapic } = this.ctx;
    const pmu = this.ctx.pmu();
    perf.loadGuestContext(cpu.id);
    cpu.wrmsr(this.globalCtrlMsr, 0n);
    perf.loadGuestLvtpc(cpu.id, vlapic.lvtpc);

    // kvm_pmu_load_guest_pmcs: counters only where hardware differs; selectors always.
    for (let i = 0; i < pmu.nrArchGpCounters; i++) {
      const pmc = pmu.gpCounters[i]!;
      if (pmc.counter !== cpu.rdpmcNumber(i)) cpu.wrmsrNumber(this.gpCounterMsr(i), pmc.counter);
      cpu.wrmsrNumber(this.gpEventselMsr(i), Number(pmc.eventselHw)); // selectors end below bit 53
    }
    for (let i = 0; i < pmu.nrArchFixedCounters; i++) {
      const pmc = pmu.fixedCounters[i]!;
      if (pmc.counter !== cpu.rdpmcNumber(RDPMC.FIXED | i))
        cpu.wrmsrNumber(MSR.IA32_FIXED_CTR0 + i, pmc.counter);
    }

    if (this.vendor === 'intel') {
      // Topdown series: PERF_METRICS right after fixed counter 3 (intel_mediated_pmu_load).
      if (pmu.hasPerfMetrics) cpu.wrmsr(MSR.MSR_PERF_METRICS, pmu.perfMetrics);
      // intel_mediated_pmu_load: make GLOBAL_STATUS the guest's with OVF_CTRL and STATUS_SET.
      const hwStatus = cpu.rdmsr(MSR.IA32_PERF_GLOBAL_STATUS);
      // Equal (usually both 0): no bit toggles, nothing is written (and no bigint is made).
      if (hwStatus !== pmu.globalStatus) {
        const toggle = pmu.globalStatus ^ hwStatus;
        if (hwStatus & toggle) cpu.wrmsr(MSR.IA32_PERF_GLOBAL_OVF_CTRL, hwStatus & toggle);
        if (pmu.globalStatus & toggle)
          cpu.wrmsr(MSR.IA32_PERF_GLOBAL_STATUS_SET, pmu.globalStatus & toggle);
      }
      cpu.wrmsr(MSR.IA32_FIXED_CTR_CTRL, pmu.fixedCtrCtrlHw);
      // The guest's GLOBAL_CTRL goes in at the VM-entry itself (vmEntry).
    } else {
      // amd_mediated_pmu_load.
      const hwStatus = cpu.rdmsr(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS);
      if (hwStatus) cpu.wrmsr(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS_CLR, hwStatus);
      cpu.wrmsr(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS_SET, pmu.globalStatus);
      cpu.wrmsr(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_CTL, pmu.globalCtrl);
    }
    this.loaded = true;
  }

  /** kvm_mediated_pmu_put. */
  afterExit(): void {
    const { cpu, perf } = this.ctx;
    const pmu = this.ctx.pmu();
    if (this.passthroughAll) this.readBackSelectors(pmu);
    if (this.vendor === 'intel') {
      // The VM-exit (vmExit) already saved the guest's GLOBAL_CTRL and loaded the host's (0).
      // intel_mediated_pmu_put.
      pmu.globalStatus = cpu.rdmsr(MSR.IA32_PERF_GLOBAL_STATUS);
      if (pmu.globalStatus) cpu.wrmsr(MSR.IA32_PERF_GLOBAL_OVF_CTRL, pmu.globalStatus);
      if (pmu.fixedCtrCtrlHw) cpu.wrmsr(MSR.IA32_FIXED_CTR_CTRL, 0n);
      // Topdown series: save PERF_METRICS with RDPMC, clear it if non-zero.
      if (pmu.hasPerfMetrics) {
        pmu.perfMetrics = cpu.rdpmc(RDPMC.METRICS);
        if (pmu.perfMetrics) cpu.wrmsr(MSR.MSR_PERF_METRICS, 0n);
      }
    } else {
      // vmExit read an unintercepted GLOBAL_CTL; amd_mediated_pmu_put.
      cpu.wrmsr(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_CTL, 0n);
      pmu.globalStatus = cpu.rdmsr(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS);
      if (pmu.globalStatus) cpu.wrmsr(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS_CLR, pmu.globalStatus);
    }

    // kvm_pmu_put_guest_pmcs: save, then clear what is non-zero.
    for (let i = 0; i < pmu.nrArchGpCounters; i++) {
      const pmc = pmu.gpCounters[i]!;
      pmc.counter = cpu.rdpmcNumber(i);
      if (pmc.counter) cpu.wrmsrNumber(this.gpCounterMsr(i), 0);
      if (pmc.eventselHw) cpu.wrmsr(this.gpEventselMsr(i), 0n);
    }
    for (let i = 0; i < pmu.nrArchFixedCounters; i++) {
      const pmc = pmu.fixedCounters[i]!;
      pmc.counter = cpu.rdpmcNumber(RDPMC.FIXED | i);
      if (pmc.counter) cpu.wrmsrNumber(MSR.IA32_FIXED_CTR0 + i, 0);
    }
    this.loaded = false;
    perf.putGuestLvtpc(cpu.id);
    perf.putGuestContext(cpu.id);
  }

  /**
   * passthrough-all only: the guest wrote selectors straight to hardware, so
   * KVM's copies are whatever the hardware holds (and no filter applies).
   */
  protected readBackSelectors(pmu: GuestPmu): void {
    const { cpu } = this.ctx;
    for (let i = 0; i < pmu.nrArchGpCounters; i++) {
      const pmc = pmu.gpCounters[i]!;
      pmc.eventsel = pmc.eventselHw = cpu.rdmsr(this.gpEventselMsr(i));
    }
    if (this.vendor === 'intel' && pmu.nrArchFixedCounters > 0) {
      pmu.fixedCtrCtrl = pmu.fixedCtrCtrlHw = cpu.rdmsr(MSR.IA32_FIXED_CTR_CTRL);
    }
  }

  handlePmuRequest(): void {}

  /** The guest programs the hardware: KVM creates no perf event. */
  readonly perfEventCount = 0;

  destroy(): void {}
}
