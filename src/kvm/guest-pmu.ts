/**
 * The guest-visible PMU of one vCPU: upstream `struct kvm_pmu` / `struct
 * kvm_pmc` and the vendor-neutral half of arch/x86/kvm/pmu.c (plus the PMU
 * cases of x86.c's kvm_{get,set}_msr_common), for Linux 7.0 with the mediated
 * vPMU. Vendor specifics (vmx/pmu_intel.c, svm/pmu.c) are KvmPmuOps objects in
 * intel-pmu.ts and amd-pmu.ts, called through `this.ops` as KVM calls
 * kvm_pmu_ops.
 *
 * Everything here is design-independent: the mediated and the perf-emulated
 * (legacy) vPMU share it and differ only in the GuestPmuBackend they plug in
 * (see that interface). No hardware, no perf: MSR accesses, RDPMC and emulated
 * instructions are answered from this state alone.
 *
 * Faults are data: getMsr/setMsr/rdpmc return a `Fault` ({ fault: '#GP' })
 * where KVM would inject #GP (a kvm_pmu_*_msr "return 1"); nothing here throws
 * on a guest action. `orGuestFault` turns a Fault into the GuestFault the
 * guest program sees.
 *
 * Numbers vs bigints: MSR values are bigint at the edge; counter values are
 * plain numbers (widths are at most 52 bits, real parts 48), masked with
 * modular arithmetic, so counting never allocates.
 */
import { KvmError } from '../common/errors.ts';
import type { Vendor } from '../hw/cpu-models.ts';
import { EVTSEL, FIXED_CTRL, MSR, PERF_CAP, U64_MAX, msrName } from '../hw/msr.ts';
import {
  isFixedCounterAllowed,
  isGpEventAllowed,
  type CompiledEventFilter,
} from './event-filter.ts';
import type { GuestCpuidConfig } from './guest-cpuid.ts';
import { kvmPmuOps } from './pmu-capability.ts';
import { isAdvertisedPmuMsr, isLegacyPerfMsr, isPmuMsr } from './pmu-msrs.ts';
import {
  AMD64_RAW_EVENT_MASK_NB,
  genmask,
  gpFault,
  KVM_FIXED_PMC_BASE_IDX,
  SOFTWARE_BACKEND,
  X86_RAW_EVENT_MASK,
  type Fault,
  type GuestPmuBackend,
  type GuestPmuConfig,
  type KvmPmc,
  type KvmPmu,
  type KvmPmuCapability,
  type KvmPmuOps,
  type PmcType,
} from './pmu-types.ts';

// ---------------------------------------------------------------------------
// The vCPU's PMU
// ---------------------------------------------------------------------------

function emulationBit(kind: 'instructions' | 'branches'): number {
  return kind === 'instructions' ? 1 : 2;
}

export interface GuestPmuOptions {
  /** The design's hooks; SOFTWARE_BACKEND when absent. */
  backend?: GuestPmuBackend;
  /** kvm->arch.enable_pmu (false: KVM_CAP_PMU_CAPABILITY disabled it, or no in-kernel LAPIC with the mediated vPMU). */
  enablePmu?: boolean;
  /** The VM's event filter. */
  filter?: CompiledEventFilter | null;
  /** The guest's CPUID besides the PMU leaves (guest-cpuid.ts); default: leaf 7 EBX 0. */
  guestCpuid?: GuestCpuidConfig;
}

/**
 * One vCPU's PMU (struct kvm_pmu) and KVM's emulation of it. Fields mirror
 * upstream's in TypeScript casing; they are public for the backends and for
 * tests, and only this module and the vendor ops change them.
 */
export class GuestPmu implements KvmPmu {
  // Non-null assertions here read gpCounters[i] for i < nrArchGpCounters and
  // fixedCounters[i] for i < nrArchFixedCounters. The refresh sets those
  // counts to at most the capability's counters, which KVM's capability caps
  // at MAX_NR_GP_COUNTERS (gpCounters' length; the constructor refuses a
  // capability past it); fixedCounters is made with
  // max(MAX_NR_FIXED_COUNTERS, capability) entries in the constructor.
  readonly ops: KvmPmuOps;
  readonly cap: KvmPmuCapability;
  readonly vendor: Vendor;
  backend: GuestPmuBackend;
  /** The guest CPUID/PERF_CAPABILITIES the PMU was last refreshed from. */
  config: GuestPmuConfig;
  /** kvm->arch.enable_pmu. */
  enablePmu: boolean;
  /** kvm_vcpu_has_run(): PERF_CAPABILITIES becomes immutable, refresh is a KVM bug. */
  vcpuHasRun = false;
  /**
   * pmc_in_use, by pmc->idx: counters whose selector or counter MSR was
   * written since the last kvm_pmu_cleanup (kvm_pmu_mark_pmc_in_use).
   */
  pmcInUse = 0n;
  /** need_cleanup: kvm_arch_vcpu_load found perf events after the vCPU was scheduled out. */
  needCleanup = false;

  version = 0;
  nrArchGpCounters = 0;
  nrArchFixedCounters = 0;
  /** counter_bitmask[KVM_PMC_GP] / [KVM_PMC_FIXED]. */
  counterBitmaskGp = 0n;
  counterBitmaskFixed = 0n;
  availableEventTypes = 0;
  fixedCtrCtrl = 0n;
  fixedCtrCtrlHw = 0n;
  fixedCtrCtrlRsvd = U64_MAX;
  private globalCtrlValue = 0n;
  globalCtrlRsvd = U64_MAX;
  globalStatus = 0n;
  globalStatusRsvd = U64_MAX;
  /** PERFEVTSEL reserved bits (pmu->reserved_bits). */
  reservedBits = 0xffff_ffff_0020_0000n;
  rawEventMask = X86_RAW_EVENT_MASK;
  /** AMD: the guest has PERFCTR_CORE (F15H PERF_CTL/CTR MSRs). */
  perfCtrCore = false;
  /** pmu->perf_metrics: the guest's IA32_PERF_METRICS while its state is not loaded (topdown series). */
  perfMetrics = 0n;
  /**
   * KVM's maximum of each kind (MAX_NR_*_COUNTERS entries, never fewer than
   * nrArch*Counters): the `[i]!` reads below index them under nrArch*Counters.
   */
  readonly gpCounters: KvmPmc[];
  readonly fixedCounters: KvmPmc[];

  private filter: CompiledEventFilter | null;
  readonly guestCpuid: GuestCpuidConfig;
  private gpModulus = 1;
  private fixedModulus = 1;

  constructor(cap: KvmPmuCapability, config: GuestPmuConfig, options: GuestPmuOptions = {}) {
    this.cap = cap;
    this.vendor = cap.vendor;
    this.ops = kvmPmuOps(cap.vendor);
    this.backend = options.backend ?? SOFTWARE_BACKEND;
    this.enablePmu = options.enablePmu ?? true;
    this.filter = options.filter ?? null;
    this.guestCpuid = options.guestCpuid ?? { leaf7Ebx: 0 };
    this.config = config;
    const make = (type: PmcType, index: number): KvmPmc => ({
      type,
      idx: type === 'gp' ? index : KVM_FIXED_PMC_BASE_IDX + index,
      index,
      counter: 0,
      eventsel: 0n,
      eventselHw: 0n,
      emulatedEvents: 0,
      cplMask: 0,
    });
    // kvm_init_pmu_capability caps the GP count at KVM_MAX_NR_*_GP_COUNTERS; a
    // capability built by hand past it would index beyond gpCounters.
    if (cap.numCountersGp > this.ops.MAX_NR_GP_COUNTERS)
      throw new RangeError(
        `${cap.vendor} PMU capability: ${cap.numCountersGp} GP counters (KVM supports at most ${this.ops.MAX_NR_GP_COUNTERS})`,
      );
    this.gpCounters = Array.from({ length: this.ops.MAX_NR_GP_COUNTERS }, (_, i) => make('gp', i));
    // KVM_MAX_NR_FIXED_COUNTERS of the series in force (4 under the topdown series).
    const maxFixed = Math.max(this.ops.MAX_NR_FIXED_COUNTERS, cap.numCountersFixed);
    this.fixedCounters = Array.from({ length: maxFixed }, (_, i) => make('fixed', i));
    // kvm_pmu_init: vendor init, then refresh.
    this.ops.init(this);
    this.refresh(config);
  }

  /**
   * pmu->global_ctrl. Upstream reads it at emulation time (kvm_pmu_trigger_event
   * ANDs the counting bitmaps with it); the model folds the global enable into
   * each counter's emulation cache, so a change recomputes the cache of the
   * counters whose bit changed. That includes a mediated vCPU's VM-exit storing
   * a passed-through GLOBAL_CTRL here (vmx_refresh_guest_perf_global_control,
   * svm's read of PERF_CNTR_GLOBAL_CTL), which no intercepted write announced.
   */
  get globalCtrl(): bigint {
    return this.globalCtrlValue;
  }

  set globalCtrl(value: bigint) {
    if (value === this.globalCtrlValue) return;
    const lo = Number(value & 0xffffffffn);
    const hi = Number((value >> 32n) & 0xffffffffn);
    // The bits that changed, from the halves: no bigint XOR.
    const diffLo = lo ^ this.globalCtrlLo;
    const diffHi = hi ^ this.globalCtrlHi;
    this.globalCtrlValue = value;
    this.globalCtrlLo = lo;
    this.globalCtrlHi = hi;
    this.somePmcIn(diffLo, diffHi, this.recalcPmcBound);
  }

  /** Made once: the setter runs at every VM-exit that changed GLOBAL_CTRL. */
  private readonly recalcPmcBound = (pmc: KvmPmc): void => this.recalcPmc(pmc);

  /** GLOBAL_CTRL's halves as numbers, for the per-counter gate. */
  private globalCtrlLo = 0;
  private globalCtrlHi = 0;

  /**
   * The guest's counters whose GLOBAL_CTRL / STATUS bit is set in `mask` (GP i
   * at bit i, fixed i at bit 32 + i), in bit order: the mask is split once into
   * two numbers rather than shifted bit by bit as a bigint.
   */
  private forEachPmcIn(mask: bigint, fn: (pmc: KvmPmc) => void): void {
    if (mask === 0n) return;
    this.somePmcIn(Number(mask & 0xffffffffn), Number((mask >> 32n) & 0xffffffffn), fn);
  }

  /** The same, the mask as its 32-bit halves; stops at (and returns true for) a counter `fn` is true of. */
  private somePmcIn(lo: number, hi: number, fn: (pmc: KvmPmc) => boolean | void): boolean {
    for (let i = 0; i < this.nrArchGpCounters && i < 32; i++)
      if ((lo >>> i) & 1 && fn(this.gpCounters[i]!) === true) return true;
    for (let i = 0; i < this.nrArchFixedCounters && i < 32; i++)
      if ((hi >>> i) & 1 && fn(this.fixedCounters[i]!) === true) return true;
    return false;
  }

  /** kvm_vcpu_has_mediated_pmu: enable_mediated_pmu && pmu->version. */
  get mediated(): boolean {
    return this.cap.mediated && this.version > 0;
  }

  /** The VM's event filter in force. */
  get eventFilter(): CompiledEventFilter | null {
    return this.filter;
  }

  /** IA32_PERF_CAPABILITIES as KVM holds it (vcpu->arch.perf_capabilities). */
  get perfCapabilities(): bigint {
    return this.config.perfCapabilities;
  }

  /** Model assumption: an Intel guest has CPUID.1:ECX.PDCM exactly when it has a PMU. */
  get hasPdcm(): boolean {
    return this.vendor === 'intel' && this.enablePmu && this.config.version > 0;
  }

  /** vcpu_get_perf_capabilities: 0 without PDCM. */
  get guestPerfCapabilities(): bigint {
    return this.hasPdcm ? this.config.perfCapabilities : 0n;
  }

  /** fw_writes_is_enabled: the IA32_PMCx full-width aliases exist. */
  get fwWritesEnabled(): boolean {
    return (this.guestPerfCapabilities & PERF_CAP.FW_WRITES) !== 0n;
  }

  /** vcpu_has_perf_metrics (topdown series): PERF_CAPABILITIES.PERF_METRICS in the guest's. */
  get hasPerfMetrics(): boolean {
    return (this.guestPerfCapabilities & PERF_CAP.PERF_METRICS) !== 0n;
  }

  /** kvm_pmu_has_perf_global_ctrl: KVM emulates GLOBAL_CTRL & co. only for v2+. */
  get hasPerfGlobalCtrl(): boolean {
    return this.version > 1;
  }

  // --- refresh / reset -----------------------------------------------------

  /**
   * kvm_pmu_refresh: reset, forget the old model, let the vendor derive the
   * new one from the guest's CPUID and PERF_CAPABILITIES, then set the RESET
   * value of GLOBAL_CTRL: all GP enable bits (GENMASK(nr_gp - 1, 0)) for v2+,
   * and for every mediated vCPU (hardware loads GLOBAL_CTRL from it). This is
   * the only place that value is applied: KVM does not touch PMU state at
   * vCPU RESET/INIT (kvm_pmu_reset is static, called by refresh and destroy).
   */
  refresh(config: GuestPmuConfig): void {
    if (this.vcpuHasRun) {
      throw new KvmError('EINVAL', 'KVM_BUG_ON: PMU refresh after the vCPU has run');
    }
    this.kvmPmuReset();
    this.config = config;
    this.version = 0;
    this.nrArchGpCounters = 0;
    this.nrArchFixedCounters = 0;
    this.counterBitmaskGp = 0n;
    this.counterBitmaskFixed = 0n;
    this.availableEventTypes = 0;
    this.reservedBits = 0xffff_ffff_0020_0000n;
    this.rawEventMask = X86_RAW_EVENT_MASK;
    this.globalCtrlRsvd = U64_MAX;
    this.globalStatusRsvd = U64_MAX;
    this.fixedCtrCtrlRsvd = U64_MAX;
    this.perfCtrCore = false;
    if (this.enablePmu && this.cap.enablePmu) this.ops.refresh(this, config);
    this.gpModulus = Number(this.counterBitmaskGp) + 1;
    this.fixedModulus = Number(this.counterBitmaskFixed) + 1;

    const old = this.globalCtrl;
    if (this.nrArchGpCounters && (this.hasPerfGlobalCtrl || this.mediated)) {
      this.globalCtrl = genmask(this.nrArchGpCounters);
    }
    this.forEachPmc((pmc) => this.recalcPmc(pmc));
    if (this.mediated) this.backend.globalCtrlChanged(old, this.globalCtrl);
  }

  /** kvm_pmu_destroy: stop every counter (kvm_pmu_reset). */
  destroy(): void {
    this.kvmPmuReset();
  }

  /** kvm_pmu_reset: stop counters, zero counters, selectors, controls and status. */
  private kvmPmuReset(): void {
    this.needCleanup = false;
    this.perfMetrics = 0n; // intel_pmu_reset (topdown series)
    this.forEachPmc((pmc) => {
      this.backend.stopCounter?.(pmc);
      pmc.counter = 0;
      if (pmc.type === 'gp') {
        pmc.eventsel = 0n;
        pmc.eventselHw = 0n;
      }
      pmc.emulatedEvents = 0;
      pmc.cplMask = 0;
    });
    this.fixedCtrCtrl = this.fixedCtrCtrlHw = 0n;
    this.globalCtrl = this.globalStatus = 0n;
  }

  // --- counters -------------------------------------------------------------

  /** Call `fn` for every counter the guest has (all_valid_pmc_idx). */
  forEachPmc(fn: (pmc: KvmPmc) => void): void {
    for (let i = 0; i < this.nrArchGpCounters; i++) fn(this.gpCounters[i]!);
    for (let i = 0; i < this.nrArchFixedCounters; i++) fn(this.fixedCounters[i]!);
  }

  /** kvm_pmc_idx_to_pmc: GP i at i, fixed i at 32 + i; null if the guest has no such counter. */
  kvmPmcIdxToPmc(idx: number): KvmPmc | null {
    if (idx >= 0 && idx < this.nrArchGpCounters) return this.gpCounters[idx]!;
    const fixed = idx - KVM_FIXED_PMC_BASE_IDX;
    if (fixed >= 0 && fixed < this.nrArchFixedCounters) return this.fixedCounters[fixed]!;
    return null;
  }

  /** get_gp_pmc: the GP counter whose MSR (from `base`) is `msr`, if the guest has it. */
  getGpPmc(msr: number, base: number): KvmPmc | null {
    const i = msr - base;
    return i >= 0 && i < this.nrArchGpCounters ? this.gpCounters[i]! : null;
  }

  /** get_fixed_pmc. */
  getFixedPmc(msr: number): KvmPmc | null {
    const i = msr - MSR.IA32_FIXED_CTR0;
    return i >= 0 && i < this.nrArchFixedCounters ? this.fixedCounters[i]! : null;
  }

  /** pmc_bitmask. */
  pmcBitmask(pmc: KvmPmc): bigint {
    return pmc.type === 'gp' ? this.counterBitmaskGp : this.counterBitmaskFixed;
  }

  /** 2^width of the counter: counter values live in [0, modulus). */
  pmcModulus(pmc: KvmPmc): number {
    return pmc.type === 'gp' ? this.gpModulus : this.fixedModulus;
  }

  /** pmc_read_counter: the backend's count, masked to the width. */
  pmcReadCounter(pmc: KvmPmc): number {
    const m = this.pmcModulus(pmc);
    const v = this.backend.readCounter(pmc) % m;
    return v < 0 ? v + m : v;
  }

  /** pmc_write_counter: the value masked to the width. */
  pmcWriteCounter(pmc: KvmPmc, value: bigint): void {
    pmc.counter = Number(value & this.pmcBitmask(pmc));
    this.backend.writeCounter(pmc, pmc.counter);
  }

  /** The 4-bit FIXED_CTR_CTRL field of fixed counter `index` (fixed_ctrl_field). */
  fixedCtrlField(index: number, ctrl = this.fixedCtrCtrl): number {
    // At most 3 fixed counters x 4 bits (16 with reserved ones): the field is read from one number.
    return index < 8 ? (Number(ctrl & 0xffffffffn) >>> (index * FIXED_CTRL.bits)) & 0xf : 0;
  }

  /** pmc_is_globally_enabled: its GLOBAL_CTRL bit, or always without GLOBAL_CTRL (v1). */
  isPmcGloballyEnabled(pmc: KvmPmc): boolean {
    if (!this.hasPerfGlobalCtrl) return true;
    const idx = pmc.idx;
    return idx < 32
      ? ((this.globalCtrlLo >>> idx) & 1) === 1
      : ((this.globalCtrlHi >>> (idx - 32)) & 1) === 1;
  }

  /** pmc_is_locally_enabled: EN for GP counters, OS or USR for fixed counters. */
  isPmcLocallyEnabled(pmc: KvmPmc): boolean {
    if (pmc.type === 'fixed')
      return (this.fixedCtrlField(pmc.index) & (FIXED_CTRL.OS | FIXED_CTRL.USR)) !== 0;
    return (pmc.eventsel & EVTSEL.EN) !== 0n;
  }

  /** pmc_is_event_allowed: what the VM's event filter says (no filter: allowed). */
  isPmcAllowed(pmc: KvmPmc): boolean {
    const f = this.filter;
    if (!f) return true;
    return pmc.type === 'gp'
      ? isGpEventAllowed(f, pmc.eventsel)
      : isFixedCounterAllowed(f, pmc.index);
  }

  /** pmc_event_is_allowed: globally and locally enabled and allowed by the filter (the legacy reprogram test). */
  pmcEventIsAllowed(pmc: KvmPmc): boolean {
    return (
      this.isPmcGloballyEnabled(pmc) && this.isPmcLocallyEnabled(pmc) && this.isPmcAllowed(pmc)
    );
  }

  /**
   * kvm_pmu_is_fastpath_emulation_allowed (pmu.h): a fastpath handler skips
   * the instruction while the mediated PMU is still loaded, so it is refused
   * only to a vCPU with a mediated PMU one of whose counters counts
   * instructions (pmc_counting_instructions: locally enabled and the event
   * matches; kvm_pmu_recalc_pmc_emulation does NOT consult the event filter)
   * and is set in pmu->global_ctrl. The legacy design may always take it.
   */
  isFastpathEmulationAllowed(): boolean {
    if (!this.mediated) return true;
    // From GLOBAL_CTRL's halves, with a function made once: no bigint or closure per fastpath exit.
    return !this.somePmcIn(this.globalCtrlLo, this.globalCtrlHi, this.countsInstructions);
  }

  /** pmc_counting_instructions: locally enabled and counting INSTRUCTIONS_RETIRED. */
  private readonly countsInstructions = (pmc: KvmPmc): boolean =>
    this.isPmcLocallyEnabled(pmc) && this.pmcIsEventMatch(pmc, this.ops.INSTRUCTIONS_RETIRED);

  /** pmc_is_event_match: select (12 bits) and umask equal; edge, pin, cmask, inv ignored. */
  private pmcIsEventMatch(pmc: KvmPmc, eventsel: bigint): boolean {
    return ((pmc.eventsel ^ eventsel) & AMD64_RAW_EVENT_MASK_NB) === 0n;
  }

  /** Whether an overflow of `pmc` asks for a PMI: INT (GP) or PMI (fixed). */
  pmcPmiEnabled(pmc: KvmPmc): boolean {
    if (pmc.type === 'fixed') return (this.fixedCtrlField(pmc.index) & FIXED_CTRL.PMI) !== 0;
    return (pmc.eventsel & EVTSEL.INT) !== 0n;
  }

  /**
   * kvm_pmu_recalc_pmc_emulation, folded with the global enable and the
   * filter so incrementEmulated is a few number tests. Recomputed whenever an
   * input changes (selector, FIXED_CTR_CTRL, GLOBAL_CTRL, filter), which in
   * this synchronous model is as fresh as upstream's check at emulation time.
   */
  private recalcPmc(pmc: KvmPmc): void {
    let events = 0;
    if (this.isPmcLocallyEnabled(pmc) && this.isPmcGloballyEnabled(pmc) && this.isPmcAllowed(pmc)) {
      if (this.pmcIsEventMatch(pmc, this.ops.INSTRUCTIONS_RETIRED)) events |= 1;
      if (this.pmcIsEventMatch(pmc, this.ops.BRANCH_INSTRUCTIONS_RETIRED)) events |= 2;
    }
    pmc.emulatedEvents = events;
    // EVTSEL.OS/USR (bits 17/16) and FIXED_CTRL.OS/USR (1/2) both map to cplMask bits 0/1.
    pmc.cplMask =
      pmc.type === 'fixed'
        ? this.fixedCtrlField(pmc.index) & (FIXED_CTRL.OS | FIXED_CTRL.USR)
        : ((pmc.eventsel & EVTSEL.OS) !== 0n ? 1 : 0) |
          ((pmc.eventsel & EVTSEL.USR) !== 0n ? 2 : 0);
  }

  /**
   * kvm_mediated_pmu_refresh_event_filter: hardware gets ENABLE (GP) or the
   * 4-bit FIXED_CTR_CTRL field (fixed) only while the filter allows the event;
   * the guest-visible value is untouched.
   */
  private refreshEventFilter(pmc: KvmPmc): void {
    const allowed = this.isPmcAllowed(pmc);
    if (pmc.type === 'gp') {
      pmc.eventselHw &= ~EVTSEL.EN;
      if (allowed) pmc.eventselHw |= pmc.eventsel & EVTSEL.EN;
    } else {
      const mask = 0xfn << BigInt(pmc.index * FIXED_CTRL.bits);
      this.fixedCtrCtrlHw &= ~mask;
      if (allowed) this.fixedCtrCtrlHw |= this.fixedCtrCtrl & mask;
    }
  }

  /**
   * kvm_pmu_request_counter_reprogram + reprogram_counter: recompute the
   * emulation cache, (mediated) re-apply the filter to the hardware controls,
   * and let the backend reprogram. Vendor ops call this after changing a
   * selector or FIXED_CTR_CTRL field.
   */
  requestCounterReprogram(pmc: KvmPmc): void {
    this.recalcPmc(pmc);
    if (this.mediated) this.refreshEventFilter(pmc);
    this.backend.reprogramCounter(pmc);
  }

  /** reprogram_counters: every counter whose bit is set in `diff`. */
  private reprogramCounters(diff: bigint): void {
    this.forEachPmcIn(diff, (pmc) => this.requestCounterReprogram(pmc));
  }

  /**
   * KVM_SET_PMU_EVENT_FILTER reached this vCPU: every counter is reprogrammed
   * (upstream sets all of __reprogram_pmi and makes KVM_REQ_PMU). Mediated:
   * eventselHw / fixedCtrCtrlHw follow the new filter.
   */
  setFilter(filter: CompiledEventFilter | null): void {
    if (filter && filter.vendor !== this.vendor) {
      throw new RangeError(`an ${filter.vendor} event filter on an ${this.vendor} vCPU`);
    }
    this.filter = filter;
    this.forEachPmc((pmc) => this.requestCounterReprogram(pmc));
  }

  // --- MSRs ---------------------------------------------------------------

  /**
   * kvm_pmu_is_valid_msr: GLOBAL_STATUS/CTRL/OVF_CTRL (the Intel indices) for a
   * v2+ PMU of *either* vendor, else whatever the vendor claims.
   */
  isValidMsr(msr: number): boolean {
    switch (msr) {
      case MSR.IA32_PERF_GLOBAL_STATUS:
      case MSR.IA32_PERF_GLOBAL_CTRL:
      case MSR.IA32_PERF_GLOBAL_OVF_CTRL:
        return this.hasPerfGlobalCtrl;
      default:
        return this.ops.msrIdxToPmc(this, msr) !== null || this.ops.isValidMsr(this, msr);
    }
  }

  /** See the function isPmuMsr. */
  isPmuMsr(msr: number): boolean {
    return isPmuMsr(msr);
  }

  /**
   * RDMSR of a PMU MSR (kvm_get_msr_common's PMU cases + kvm_pmu_get_msr).
   * `hostInitiated` is KVM_GET_MSRS from userspace.
   */
  getMsr(msr: number, hostInitiated = false): bigint | Fault {
    if (msr === MSR.IA32_PERF_CAPABILITIES) {
      // Without PDCM kvm_get_msr_common says KVM_MSR_RET_UNSUPPORTED, which
      // kvm_do_msr_access turns into 0 for userspace: the MSR is advertised.
      if (!this.hasPdcm)
        return hostInitiated ? 0n : gpFault('PERF_CAPABILITIES without CPUID.PDCM');
      return this.perfCapabilities;
    }
    if (!this.isValidMsr(msr)) {
      // KVM_MSR_RET_UNSUPPORTED: kvm_do_msr_access gives userspace 0 for an advertised MSR.
      if (isLegacyPerfMsr(msr) || (hostInitiated && isAdvertisedPmuMsr(this.cap, msr))) return 0n;
      return gpFault(`${msrName(msr)} is not a PMU MSR of this vCPU`);
    }
    switch (msr) {
      case MSR.IA32_PERF_GLOBAL_STATUS:
      case MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS:
        return this.globalStatus;
      case MSR.MSR_AMD64_PERF_CNTR_GLOBAL_CTL:
      case MSR.IA32_PERF_GLOBAL_CTRL:
        return this.globalCtrl;
      case MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS_CLR:
      case MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS_SET:
      case MSR.IA32_PERF_GLOBAL_OVF_CTRL:
        return 0n;
      default: {
        const value = this.ops.getMsr(this, msr);
        return value === undefined ? gpFault(`${msrName(msr)}: no such counter`) : value;
      }
    }
  }

  /**
   * WRMSR of a PMU MSR (kvm_set_msr_common's PMU cases + kvm_pmu_set_msr).
   * `value` is taken mod 2^64. AMD ignores writes to reserved bits and
   * read-only MSRs; Intel #GPs.
   */
  setMsr(msr: number, value: bigint, hostInitiated = false): 'ok' | Fault {
    const data = BigInt.asUintN(64, value);
    if (msr === MSR.IA32_PERF_CAPABILITIES) return this.setPerfCapabilities(data, hostInitiated);
    if (!this.isValidMsr(msr)) {
      // KVM_MSR_RET_UNSUPPORTED: kvm_do_msr_access lets userspace write 0 to an advertised MSR.
      if (
        isLegacyPerfMsr(msr) ||
        (hostInitiated && data === 0n && isAdvertisedPmuMsr(this.cap, msr))
      )
        return 'ok';
      return gpFault(`${msrName(msr)} is not a PMU MSR of this vCPU`);
    }
    switch (msr) {
      case MSR.IA32_PERF_GLOBAL_STATUS:
        if (!hostInitiated) return gpFault('GLOBAL_STATUS is read-only');
        return this.setGlobalStatus(data);
      case MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS:
        // Per the PPR a read-only MSR whose writes are ignored.
        if (!hostInitiated) return 'ok';
        return this.setGlobalStatus(data);
      case MSR.MSR_AMD64_PERF_CNTR_GLOBAL_CTL:
        return this.setGlobalCtrl(data & ~this.globalCtrlRsvd);
      case MSR.IA32_PERF_GLOBAL_CTRL:
        return this.setGlobalCtrl(data);
      case MSR.IA32_PERF_GLOBAL_OVF_CTRL:
        // GLOBAL_OVF_CTRL (a.k.a. GLOBAL_STATUS_RESET) shares GLOBAL_STATUS's reserved bits.
        if (data & this.globalStatusRsvd) return gpFault('reserved bits in GLOBAL_OVF_CTRL');
        if (!hostInitiated) this.globalStatus &= ~data;
        return 'ok';
      case MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS_CLR:
        if (!hostInitiated) this.globalStatus &= ~data;
        return 'ok';
      case MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS_SET:
        if (!hostInitiated) this.globalStatus |= data & ~this.globalStatusRsvd;
        return 'ok';
      default: {
        // kvm_pmu_mark_pmc_in_use: msr_idx_to_pmc, so not Intel's full-width aliases.
        const pmc = this.ops.msrIdxToPmc(this, msr);
        if (pmc) this.pmcInUse |= 1n << BigInt(pmc.idx);
        return this.ops.setMsr(this, msr, data, hostInitiated) ?? 'ok';
      }
    }
  }

  private setGlobalStatus(data: bigint): 'ok' | Fault {
    if (data & this.globalStatusRsvd) return gpFault('reserved bits in GLOBAL_STATUS');
    this.globalStatus = data;
    return 'ok';
  }

  private setGlobalCtrl(data: bigint): 'ok' | Fault {
    // kvm_valid_perf_global_ctrl
    if (data & this.globalCtrlRsvd)
      return gpFault('GLOBAL_CTRL enables a counter the guest does not have');
    const old = this.globalCtrl;
    if (old !== data) {
      this.globalCtrl = data;
      this.reprogramCounters(old ^ data);
    }
    this.backend.globalCtrlChanged(old, data);
    return 'ok';
  }

  /**
   * WRMSR of IA32_PERF_CAPABILITIES, in upstream's order: do_set_msr refuses
   * userspace a different value once the vCPU has run (an immutable feature
   * MSR; "different" from what a KVM_GET_MSRS would read); the vendor's
   * checks (vmx_set_msr: LBR and PEBS formats); then kvm_set_msr_common:
   * guest writes and writes without PDCM are KVM_MSR_RET_UNSUPPORTED, which
   * kvm_do_msr_access lets userspace pass only with 0 (the MSR is
   * advertised; nothing changes); bits KVM does not support fail; a change
   * refreshes the PMU.
   */
  private setPerfCapabilities(data: bigint, hostInitiated: boolean): 'ok' | Fault {
    if (hostInitiated && this.vcpuHasRun && data !== this.getMsr(MSR.IA32_PERF_CAPABILITIES, true))
      return gpFault('PERF_CAPABILITIES is immutable after KVM_RUN');
    const vendorError = this.ops.perfCapabilitiesWriteError(this.cap.perfCapabilities, data);
    if (vendorError) return gpFault(`PERF_CAPABILITIES: ${vendorError}`);
    if (!hostInitiated) return gpFault('PERF_CAPABILITIES is read-only for the guest');
    if (!this.hasPdcm) return data === 0n ? 'ok' : gpFault('PERF_CAPABILITIES without CPUID.PDCM');
    if (data & ~this.cap.perfCapabilities)
      return gpFault('PERF_CAPABILITIES bits KVM does not support');
    if (data === this.config.perfCapabilities) return 'ok';
    this.refresh({ ...this.config, perfCapabilities: data });
    return 'ok';
  }

  // --- RDPMC ---------------------------------------------------------------

  /**
   * kvm_pmu_rdpmc: #GP without a PMU (version 0), for an ECX naming no counter
   * of the guest (checked first), and at CPL > 0 with CR4.PCE clear (the model
   * assumes protected mode, CR0.PE = 1). The value is masked to the width.
   */
  rdpmc(ecx: number, ctx: { cpl: number; cr4Pce: boolean }): bigint | Fault {
    if (!this.version) return gpFault('RDPMC without a PMU');
    const target = this.ops.rdpmcEcxToPmc(this, ecx >>> 0);
    if (!target) return gpFault(`RDPMC: no counter for ECX 0x${(ecx >>> 0).toString(16)}`);
    if (!ctx.cr4Pce && ctx.cpl !== 0) return gpFault('RDPMC at CPL > 0 with CR4.PCE clear');
    return BigInt(this.pmcReadCounter(target.pmc)) & target.mask;
  }

  // --- counting in software ------------------------------------------------

  /**
   * kvm_pmu_instruction_retired / kvm_pmu_branch_retired: KVM emulated an
   * instruction (or a branch) at `cpl`. Every guest counter that counts that
   * event (select + umask match), is locally and globally enabled, is allowed
   * by the filter and matches the CPL gets one more, masked to its width; a
   * wrap to 0 is an overflow (see `overflow`). Returns whether any overflow
   * requested a PMI.
   */
  incrementEmulated(kind: 'instructions' | 'branches', cpl: number): boolean {
    const kindBit = emulationBit(kind);
    const cplBit = cpl === 0 ? 1 : 2;
    let pmi = false;
    for (let i = 0; i < this.nrArchGpCounters; i++) {
      const pmc = this.gpCounters[i]!;
      if (pmc.emulatedEvents & kindBit && pmc.cplMask & cplBit)
        pmi = this.kvmPmuIncrCounter(pmc) || pmi;
    }
    for (let i = 0; i < this.nrArchFixedCounters; i++) {
      const pmc = this.fixedCounters[i]!;
      if (pmc.emulatedEvents & kindBit && pmc.cplMask & cplBit)
        pmi = this.kvmPmuIncrCounter(pmc) || pmi;
    }
    return pmi;
  }

  /** kvm_pmu_incr_counter: +1 through the backend, overflow on wrap to 0. */
  private kvmPmuIncrCounter(pmc: KvmPmc): boolean {
    const m = this.pmcModulus(pmc);
    const next = (this.pmcReadCounter(pmc) + 1) % m;
    if (this.backend.countEmulated) {
      this.backend.countEmulated(pmc, next);
    } else {
      pmc.counter = next;
      this.backend.writeCounter(pmc, next);
    }
    return next === 0 ? this.overflow(pmc.idx) : false;
  }

  /**
   * __kvm_perf_overflow: counter `pmcIndex` (global index: GP i, fixed 32 + i)
   * overflowed. Sets its GLOBAL_STATUS bit; returns whether to inject a PMI
   * (the counter's INT / PMI bit), i.e. whether KVM makes KVM_REQ_PMI.
   */
  overflow(pmcIndex: number): boolean {
    const pmc = this.kvmPmcIdxToPmc(pmcIndex);
    if (!pmc)
      throw new RangeError(`overflow of counter ${pmcIndex}, which the guest does not have`);
    this.globalStatus |= 1n << BigInt(pmc.idx);
    return this.pmcPmiEnabled(pmc);
  }
}
