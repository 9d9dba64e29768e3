/**
 * The vPMU's vocabulary (upstream arch/x86/kvm/pmu.h, with struct kvm_pmu and
 * struct kvm_pmc from kvm_host.h): constants, the guest PMU configuration and
 * capability records, a counter, the design backend and vendor ops
 * interfaces, and the small helpers pmu.h has as inlines. Types and constants
 * only: the capability code is in pmu-capability.ts, the vCPU's PMU in
 * guest-pmu.ts, the vendor ops in intel-pmu.ts and amd-pmu.ts, and all of
 * them import this module (it imports none of them, so there is no cycle).
 */
import { GuestFault } from '../common/errors.ts';
import type { GuestCpuidConfig } from './guest-cpuid.ts';
import type { VpmuSeries } from './vpmu-series.ts';
import type { CpuModel, Vendor } from '../hw/cpu-models.ts';
import { EVTSEL } from '../hw/msr.ts';

/** KVM_FIXED_PMC_BASE_IDX: fixed counter i has global index 32 + i, its GLOBAL_CTRL bit. */
export const KVM_FIXED_PMC_BASE_IDX = 32;

/** Widest counter the model holds in a plain number without losing precision. */
export const MAX_COUNTER_WIDTH = 52;

/** X86_RAW_EVENT_MASK: select, umask, edge, inv, cmask (what legacy KVM hands perf). */
export const X86_RAW_EVENT_MASK = 0xff84_ffffn;

/** AMD64_RAW_EVENT_MASK_NB: the bits kvm_pmu's pmc_is_event_match compares (12-bit select + umask). */
export const AMD64_RAW_EVENT_MASK_NB = EVTSEL.EVENT | EVTSEL.AMD_EVENT_HI | EVTSEL.UMASK;

/** What KVM injects where this model returns a Fault. `reason` is for traces and messages. */
export interface Fault {
  readonly fault: '#GP';
  readonly reason: string;
}

/** A #GP with a reason (allocates: faults are rare, the success paths do not). */
export function gpFault(reason: string): Fault {
  return { fault: '#GP', reason };
}

/** Whether an MSR/RDPMC result is a fault. */
export function isFault(value: unknown): value is Fault {
  return typeof value === 'object' && value !== null && (value as Fault).fault === '#GP';
}

/** Unwrap a result for the guest: a Fault becomes GuestFault('#GP'), thrown inside the guest program. */
export function orGuestFault<T>(result: T | Fault): T {
  if (isFault(result)) throw new GuestFault(result.fault, result.reason);
  return result;
}

/**
 * The guest's PMU as userspace configures it: CPUID 0xA (Intel) or
 * 0x80000001/0x80000022 (AMD) and IA32_PERF_CAPABILITIES (docs/api.md).
 */
export interface GuestPmuConfig {
  version: number;
  gpCounters: number;
  fixedCounters: number;
  gpWidth: number;
  fixedWidth: number;
  /** CPUID 0xA EBX: a set bit marks an architectural event as unavailable. */
  unavailableEvents: number;
  /** CPUID 0xA ECX: supported fixed counters bitmap (v5+). */
  fixedCounterMask: number;
  /** IA32_PERF_CAPABILITIES (Intel; 0n on AMD). */
  perfCapabilities: bigint;
}

/**
 * struct x86_pmu_capability: the shape of both kvm_host_pmu (what perf
 * reports) and kvm_pmu_cap (what KVM offers), as upstream uses one struct
 * for both.
 */
export interface X86PmuCapability {
  readonly version: number;
  readonly numCountersGp: number;
  readonly numCountersFixed: number;
  /** 0 when there are no GP counters (perf reports no width for absent counters). */
  readonly bitWidthGp: number;
  /** 0 when there are no fixed counters ("perf/x86/core: Do not set bit width for unavailable counters"). */
  readonly bitWidthFixed: number;
  readonly eventsMask: number;
  readonly eventsMaskLen: number;
}

/**
 * kvm_host_pmu: perf's x86_pmu_capability as perf_get_x86_pmu_capability()
 * reports it, unadulterated by KVM. The mediated vPMU compares the guest
 * against *this* (not KVM's capped view) to decide what to pass through.
 */
export interface HostPmuCapability extends X86PmuCapability {
  /** PERF_PMU_CAP_MEDIATED_VPMU on the core PMU. */
  readonly mediated: boolean;
}

/**
 * What KVM supports on this host (kvm_pmu_cap, kvm_caps.supported_perf_cap,
 * the PMU bits of kvm_cpu_caps) plus the module parameters that shaped it.
 */
export interface KvmPmuCapability extends X86PmuCapability {
  readonly vendor: Vendor;
  /** enable_pmu after kvm_init_pmu_capability (false: no vPMU at all). */
  readonly enablePmu: boolean;
  /** enable_mediated_pmu after kvm_init_pmu_capability (forced off when the host does not qualify). */
  readonly mediated: boolean;
  /**
   * Intel: kvm_pmu_cap.version = min(host, 2), with or without the mediated
   * vPMU. AMD: the highest guest version KVM can give (2 with PerfMonV2, else 1).
   */
  readonly version: number;
  /** kvm_caps.supported_perf_cap (vmx_get_perf_capabilities; 0n on AMD). */
  readonly perfCapabilities: bigint;
  /** AMD kvm_cpu_caps: PERFCTR_CORE (0x80000001 ECX[23]) and PERFMON_V2 (0x80000022 EAX[0]). */
  readonly perfCtrExtCore: boolean;
  readonly perfMonV2: boolean;
  /** kvm_host_pmu, for the mediated intercept decisions (msr-intercepts.ts). */
  readonly host: HostPmuCapability;
  /** The KVM code in force (vpmu-series.ts): merged 7.0 or a posted series. */
  readonly series: VpmuSeries;
  /**
   * boot_cpu_has(X86_FEATURE_HLE) || boot_cpu_has(X86_FEATURE_RTM): the
   * host's TSX after its kernel's tsx_init (guest-cpuid.ts bootCpuHasTsx).
   */
  readonly bootCpuHasTsx: boolean;
}

export type PmcType = 'gp' | 'fixed';

/** One guest counter: upstream `struct kvm_pmc`. */
export interface KvmPmc {
  readonly type: PmcType;
  /** Global index: GP i is i, fixed i is KVM_FIXED_PMC_BASE_IDX + i (its GLOBAL_CTRL/STATUS bit). */
  readonly idx: number;
  /** Index within its kind (the n of PERFEVTSELn / FIXED_CTRn). */
  readonly index: number;
  /** The guest's count, masked to the counter width (pmc->counter). */
  counter: number;
  /**
   * GP: the selector the guest wrote. Fixed: the architectural event KVM maps
   * the counter to (intel_get_fixed_pmc_eventsel), used to match emulated events.
   */
  eventsel: bigint;
  /**
   * GP: what KVM would program into hardware (pmc->eventsel_hw). Mediated: ENABLE
   * cleared while the filter denies the event. AMD: GuestOnly=1, HostOnly=0.
   * The legacy design does not use it. Fixed counters: unused (see fixedCtrCtrlHw).
   */
  eventselHw: bigint;
  /**
   * Emulation cache (kvm_pmu_recalc_pmc_emulation, AND global enable and the
   * filter): bit 0 = counts emulated instructions, bit 1 = emulated branches.
   */
  emulatedEvents: number;
  /** CPL filter of the counter: bit 0 = counts at CPL 0 (OS), bit 1 = at CPL > 0 (USR). */
  cplMask: number;
}

/**
 * The design-specific half of the vPMU, called by the common model where
 * upstream's common code either talks to perf (legacy) or to the VMCS/VMCB and
 * the loaded hardware state (mediated). The model has always updated its own
 * state (counter, eventsel, eventselHw, fixedCtrCtrlHw, globalCtrl, ...)
 * before it calls a hook, so a hook reads the new state from `pmc`/the pmu.
 *
 * - legacy (perf-emulated): reprogramCounter is reprogram_counter() (pause,
 *   then re-period/resume or release+create the perf event, skipping
 *   counters for which `pmu.pmcEventIsAllowed(pmc)` is false); readCounter
 *   adds the perf event's count since the last write; writeCounter rebases the
 *   event (pmc_write_counter: counts since now, new sample period).
 * - mediated: reprogramCounter has nothing to do but note that eventselHw /
 *   fixedCtrCtrlHw must be loaded at the next VM-entry; readCounter returns
 *   the hardware counter while the guest's PMU state is loaded (pmc.counter
 *   otherwise); writeCounter writes it if loaded; globalCtrlChanged is
 *   kvm_pmu_ops.write_global_ctrl (VMCS GUEST_IA32_PERF_GLOBAL_CTRL).
 */
export interface GuestPmuBackend {
  /**
   * The counter must be (re)programmed: its selector / FIXED_CTR_CTRL field,
   * its GLOBAL_CTRL bit or the event filter changed (upstream: its bit in
   * reprogram_pmi plus KVM_REQ_PMU, handled synchronously here).
   */
  reprogramCounter(pmc: KvmPmc): void;
  /**
   * The counter was written (guest WRMSR, host KVM_SET_MSRS, or an emulated
   * increment): `pmc.counter` already holds `value`, masked to the width.
   * Afterwards readCounter(pmc) must return `value` until the counter counts.
   */
  writeCounter(pmc: KvmPmc, value: number): void;
  /** The counter's current value (the model masks it to the width). */
  readCounter(pmc: KvmPmc): number;
  /**
   * GLOBAL_CTRL was written (every accepted write, also when unchanged, as
   * upstream forwards each one to the VMCS for mediated vCPUs) or set by
   * refresh. Counters whose bit changed also get reprogramCounter.
   */
  globalCtrlChanged(oldValue: bigint, newValue: bigint): void;
  /** kvm_pmu_reset -> pmc_stop_counter: drop what backs `pmc` (legacy: release its perf event). */
  stopCounter?(pmc: KvmPmc): void;
  /**
   * kvm_pmu_incr_counter for a backend whose counter runs in something else
   * (legacy: a perf event): KVM counted one emulated event and the counter's
   * value is now `value`. Upstream adds it to pmc->emulated_counter and
   * reprograms (pause folds the perf count, resume re-derives the sample
   * period from the exact value). Without this hook an increment is a
   * writeCounter of the new value (mediated: pmc->counter + 1).
   */
  countEmulated?(pmc: KvmPmc, value: number): void;
}

/** A backend that only keeps pmc.counter: the state of a vCPU whose counters never run. */
export const SOFTWARE_BACKEND: GuestPmuBackend = Object.freeze({
  reprogramCounter(): void {},
  writeCounter(): void {},
  readCounter(pmc: KvmPmc): number {
    return pmc.counter;
  },
  globalCtrlChanged(): void {},
});

/** CPUID output registers. */
export interface CpuidRegs {
  eax: number;
  ebx: number;
  ecx: number;
  edx: number;
}

/**
 * The vendor half (upstream struct kvm_pmu_ops). `getMsr` returns undefined and
 * `setMsr` a Fault where the vendor's get_msr/set_msr return 1.
 */
export interface KvmPmuOps {
  readonly vendor: Vendor;
  /** kvm_pmu_ops.EVENTSEL_EVENT. */
  readonly EVENTSEL_EVENT: bigint;
  readonly MAX_NR_GP_COUNTERS: number;
  /** Fewer GP counters than this on the host: KVM disables its vPMU. */
  readonly MIN_NR_GP_COUNTERS: number;
  readonly MAX_NR_FIXED_COUNTERS: number;
  /** perf_get_hw_event_config(INSTRUCTIONS / BRANCH_INSTRUCTIONS): kvm_pmu_eventsel. */
  readonly INSTRUCTIONS_RETIRED: bigint;
  readonly BRANCH_INSTRUCTIONS_RETIRED: bigint;
  isMediatedPmuSupported(host: HostPmuCapability, model: CpuModel): boolean;
  /** kvm_caps.supported_perf_cap. */
  supportedPerfCapabilities(model: CpuModel, mediated: boolean): bigint;
  /**
   * The vendor's checks of a PERF_CAPABILITIES write before x86.c's (Intel:
   * vmx_set_msr; AMD: none): why `data` is refused given KVM's `supported`
   * value, or null.
   */
  perfCapabilitiesWriteError(supported: bigint, data: bigint): string | null;
  /** Vendor init: per-counter constants (e.g. the fixed counters' event selectors). */
  init(pmu: KvmPmu): void;
  /** Vendor refresh from the guest's CPUID/PERF_CAPABILITIES, after the common reset. */
  refresh(pmu: KvmPmu, config: GuestPmuConfig): void;
  msrIdxToPmc(pmu: KvmPmu, msr: number): KvmPmc | null;
  isValidMsr(pmu: KvmPmu, msr: number): boolean;
  getMsr(pmu: KvmPmu, msr: number): bigint | undefined;
  setMsr(pmu: KvmPmu, msr: number, data: bigint, hostInitiated: boolean): Fault | undefined;
  /** rdpmc_ecx_to_pmc: the counter and the value mask, or null (#GP). */
  rdpmcEcxToPmc(pmu: KvmPmu, ecx: number): { pmc: KvmPmc; mask: bigint } | null;
}

/**
 * Upstream struct kvm_pmu as the vendor ops see it: the fields pmu_intel.c and
 * svm/pmu.c read and set, and the pmu.h helpers they call. GuestPmu
 * (guest-pmu.ts) implements it; the vendor modules name this interface rather
 * than the class, so they need not import the core that calls them.
 */
export interface KvmPmu {
  readonly cap: KvmPmuCapability;
  version: number;
  nrArchGpCounters: number;
  nrArchFixedCounters: number;
  counterBitmaskGp: bigint;
  counterBitmaskFixed: bigint;
  availableEventTypes: number;
  fixedCtrCtrl: bigint;
  fixedCtrCtrlHw: bigint;
  fixedCtrCtrlRsvd: bigint;
  globalCtrlRsvd: bigint;
  globalStatusRsvd: bigint;
  reservedBits: bigint;
  rawEventMask: bigint;
  perfCtrCore: boolean;
  /** MAX_NR_*_COUNTERS entries, never fewer than nrArch*Counters: indexed with `!` below those. */
  readonly gpCounters: KvmPmc[];
  readonly fixedCounters: KvmPmc[];
  /** fw_writes_is_enabled. */
  readonly fwWritesEnabled: boolean;
  /** kvm_pmu_has_perf_global_ctrl. */
  readonly hasPerfGlobalCtrl: boolean;
  /** vcpu_has_perf_metrics (topdown series). */
  readonly hasPerfMetrics: boolean;
  /** pmu->perf_metrics (topdown series). */
  perfMetrics: bigint;
  /** The guest's CPUID besides the PMU leaves (guest-cpuid.ts), as userspace set it. */
  readonly guestCpuid: GuestCpuidConfig;
  /** get_gp_pmc. */
  getGpPmc(msr: number, base: number): KvmPmc | null;
  /** get_fixed_pmc. */
  getFixedPmc(msr: number): KvmPmc | null;
  /** fixed_ctrl_field. */
  fixedCtrlField(index: number, ctrl?: bigint): number;
  /** pmc_read_counter. */
  pmcReadCounter(pmc: KvmPmc): number;
  /** pmc_write_counter. */
  pmcWriteCounter(pmc: KvmPmc, value: bigint): void;
  /** kvm_pmu_request_counter_reprogram. */
  requestCounterReprogram(pmc: KvmPmc): void;
}

/** GENMASK_ULL(n - 1, 0). */
export function genmask(n: number): bigint {
  return (1n << BigInt(n)) - 1n;
}
