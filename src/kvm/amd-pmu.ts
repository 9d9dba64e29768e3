/**
 * KVM's AMD vPMU (arch/x86/kvm/svm/pmu.c, CPUID 0x80000001/0x80000022 from
 * cpuid.c): the kvm_pmu_ops the common GuestPmu calls. AMD has no fixed
 * counters, 48-bit counters, a 12-bit event select (bits 35:32 hold the high
 * nibble), and ignores writes of reserved bits instead of #GP.
 *
 * MSRs: the legacy K7 pairs EVNTSEL0-3 / PERFCTR0-3 (0xC0010000-7) alias the
 * first four F15H pairs PERF_CTLi / PERF_CTRi (0xC0010200 + 2i, + 2i + 1),
 * which exist only with PerfCtrExtCore; PerfMonV2 adds GLOBAL_STATUS, _CTL,
 * _STATUS_CLR, _STATUS_SET (0xC0000300-3).
 *
 * Types come from pmu-types.ts, which imports neither this module nor the
 * core, so there is no import cycle.
 */
import type { CpuModel } from '../hw/cpu-models.ts';
import { NAMED_EVENTS } from '../hw/events.ts';
import { EVTSEL, MSR, U64_MAX } from '../hw/msr.ts';
import type {
  CpuidRegs,
  Fault,
  GuestPmuConfig,
  HostPmuCapability,
  KvmPmc,
  KvmPmu,
  KvmPmuCapability,
  KvmPmuOps,
} from './pmu-types.ts';

/** KVM_MAX_NR_AMD_GP_COUNTERS. */
export const KVM_MAX_NR_AMD_GP_COUNTERS = 6;
/** AMD64_NUM_COUNTERS (legacy K7) and AMD64_NUM_COUNTERS_CORE (PerfCtrExtCore). */
export const AMD64_NUM_COUNTERS = 4;
export const AMD64_NUM_COUNTERS_CORE = 6;

/** AMD PERF_CTL reserved bits (pmu->reserved_bits): 63:36, 21 (ANY), 19 (PC). GuestOnly/HostOnly included. */
export const AMD_RESERVED_BITS = 0xffff_fff0_0028_0000n;

/** AMD64_RAW_EVENT_MASK: X86_RAW_EVENT_MASK plus the select's high nibble. */
const AMD64_RAW_EVENT_MASK = 0xff84_ffffn | EVTSEL.AMD_EVENT_HI;

const F15H_LAST = MSR.MSR_F15H_PERF_CTR0 + 2 * (AMD64_NUM_COUNTERS_CORE - 1); // PERF_CTR5

/**
 * Whether the guest has PerfCtrExtCore (CPUID 0x80000001 ECX[23]): the model's
 * VMM exposes it when the host has it and the guest has PerfMonV2 or wants
 * more than the four legacy counters.
 */
export function amdGuestHasPerfCtrCore(cap: KvmPmuCapability, config: GuestPmuConfig): boolean {
  return (
    cap.perfCtrExtCore &&
    config.version > 0 &&
    (config.version >= 2 || config.gpCounters > AMD64_NUM_COUNTERS)
  );
}

/** Whether the guest has PerfMonV2 (CPUID 0x80000022 EAX[0]); only if KVM supports it (guest_cpu_cap_has). */
function amdGuestHasPerfMonV2(cap: KvmPmuCapability, config: GuestPmuConfig): boolean {
  return cap.perfMonV2 && config.version >= 2;
}

/**
 * get_gp_pmc_amd: the counter behind a K7 or F15H counter/selector MSR of the
 * requested kind, if the guest has it.
 */
// Non-null assertions in this file index a vCPU PMU's gpCounters below
// nrArchGpCounters and fixedCounters below nrArchFixedCounters: the lengths
// GuestPmu guarantees (see the comment on its class).
function getGpPmcAmd(pmu: KvmPmu, msr: number, type: 'counter' | 'evntsel'): KvmPmc | null {
  if (!pmu.version) return null;
  let idx: number;
  if (msr >= MSR.MSR_F15H_PERF_CTL0 && msr <= F15H_LAST) {
    if (!pmu.perfCtrCore) return null;
    // CTLn (selectors) are even, CTRn (counters) odd.
    if (((msr & 1) === 0) !== (type === 'evntsel')) return null;
    idx = (msr - MSR.MSR_F15H_PERF_CTL0) >> 1;
  } else if (msr >= MSR.MSR_K7_EVNTSEL0 && msr < MSR.MSR_K7_EVNTSEL0 + AMD64_NUM_COUNTERS) {
    if (type !== 'evntsel') return null;
    idx = msr - MSR.MSR_K7_EVNTSEL0;
  } else if (msr >= MSR.MSR_K7_PERFCTR0 && msr < MSR.MSR_K7_PERFCTR0 + AMD64_NUM_COUNTERS) {
    if (type !== 'counter') return null;
    idx = msr - MSR.MSR_K7_PERFCTR0;
  } else {
    return null;
  }
  // amd_pmu_get_pmc
  return idx < pmu.nrArchGpCounters ? pmu.gpCounters[idx]! : null;
}

export const amdPmuOps: KvmPmuOps = Object.freeze({
  vendor: 'amd',
  EVENTSEL_EVENT: EVTSEL.EVENT | EVTSEL.AMD_EVENT_HI,
  MAX_NR_GP_COUNTERS: KVM_MAX_NR_AMD_GP_COUNTERS,
  MIN_NR_GP_COUNTERS: AMD64_NUM_COUNTERS,
  MAX_NR_FIXED_COUNTERS: 0,
  INSTRUCTIONS_RETIRED: BigInt(NAMED_EVENTS.instructions.amd),
  BRANCH_INSTRUCTIONS_RETIRED: BigInt(NAMED_EVENTS.branches.amd),

  /** amd_pmu_is_mediated_pmu_supported: PerfMonV2 (PERF_GLOBAL_CTRL and friends are required). */
  isMediatedPmuSupported(host: HostPmuCapability): boolean {
    return host.version >= 2;
  },

  /** AMD has no IA32_PERF_CAPABILITIES. */
  supportedPerfCapabilities(_model: CpuModel, _mediated: boolean): bigint {
    return 0n;
  },

  /** svm_set_msr has no PERF_CAPABILITIES case: x86.c's checks alone. */
  perfCapabilitiesWriteError(): string | null {
    return null;
  },

  init(): void {},

  /**
   * amd_pmu_refresh: version 2 with PerfMonV2, else 1; the counter count from
   * 0x80000022 EBX (v2), else 6 with PerfCtrExtCore, else 4, capped at KVM's;
   * GLOBAL_CTL/STATUS reserved bits (v2) are the absent counters; 48-bit
   * counters; no fixed counters.
   */
  refresh(pmu: KvmPmu, config: GuestPmuConfig): void {
    if (!config.version) return;
    const cap = pmu.cap;
    pmu.perfCtrCore = amdGuestHasPerfCtrCore(cap, config);
    pmu.version = 1;
    let count: number;
    if (amdGuestHasPerfMonV2(cap, config)) {
      pmu.version = 2;
      count = config.gpCounters & 0xf; // EBX[3:0] NumPerfCtrCore
    } else {
      count = pmu.perfCtrCore ? AMD64_NUM_COUNTERS_CORE : AMD64_NUM_COUNTERS;
    }
    pmu.nrArchGpCounters = Math.min(count, cap.numCountersGp);
    if (pmu.version > 1) {
      pmu.globalCtrlRsvd = ~((1n << BigInt(pmu.nrArchGpCounters)) - 1n) & U64_MAX;
      pmu.globalStatusRsvd = pmu.globalCtrlRsvd;
    }
    pmu.counterBitmaskGp = (1n << 48n) - 1n;
    pmu.reservedBits = AMD_RESERVED_BITS;
    pmu.rawEventMask = AMD64_RAW_EVENT_MASK;
    pmu.counterBitmaskFixed = 0n;
    pmu.nrArchFixedCounters = 0;
  },

  /** amd_msr_idx_to_pmc. */
  msrIdxToPmc(pmu: KvmPmu, msr: number): KvmPmc | null {
    return getGpPmcAmd(pmu, msr, 'counter') ?? getGpPmcAmd(pmu, msr, 'evntsel');
  },

  /**
   * amd_is_valid_msr: the K7 range with any PMU (even a K7 counter the guest
   * lacks, which then #GPs on access), the F15H range with PerfCtrExtCore,
   * the PerfMonV2 globals with v2.
   */
  isValidMsr(pmu: KvmPmu, msr: number): boolean {
    if (msr >= MSR.MSR_K7_EVNTSEL0 && msr <= MSR.MSR_K7_PERFCTR0 + 3) return pmu.version > 0;
    if (msr >= MSR.MSR_F15H_PERF_CTL0 && msr <= F15H_LAST) return pmu.perfCtrCore;
    if (
      msr >= MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS &&
      msr <= MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS_SET
    ) {
      return pmu.version > 1;
    }
    if (msr > F15H_LAST && msr < MSR.MSR_F15H_PERF_CTL0 + 2 * pmu.nrArchGpCounters)
      return pmu.version > 1;
    return amdPmuOps.msrIdxToPmc(pmu, msr) !== null;
  },

  /** amd_pmu_get_msr. */
  getMsr(pmu: KvmPmu, msr: number): bigint | undefined {
    let pmc = getGpPmcAmd(pmu, msr, 'counter');
    if (pmc) return BigInt(pmu.pmcReadCounter(pmc));
    if ((pmc = getGpPmcAmd(pmu, msr, 'evntsel'))) return pmc.eventsel;
    return undefined;
  },

  /**
   * amd_pmu_set_msr: counters take the value masked to 48 bits; selectors
   * silently drop reserved bits (including GuestOnly/HostOnly), and KVM
   * programs GuestOnly=1, HostOnly=0 so a counter left enabled after VM-exit
   * counts nothing in the host (AMD cannot switch PerfCntrGlobalCtl at
   * VM-entry/exit).
   */
  setMsr(pmu: KvmPmu, msr: number, data: bigint): Fault | undefined {
    let pmc = getGpPmcAmd(pmu, msr, 'counter');
    if (pmc) {
      pmu.pmcWriteCounter(pmc, data);
      return undefined;
    }
    if ((pmc = getGpPmcAmd(pmu, msr, 'evntsel'))) {
      data &= ~pmu.reservedBits;
      if (data !== pmc.eventsel) {
        pmc.eventsel = data;
        pmc.eventselHw = (data & ~EVTSEL.AMD_HOST_ONLY) | EVTSEL.AMD_GUEST_ONLY;
        pmu.requestCounterReprogram(pmc);
      }
      return undefined;
    }
    return { fault: '#GP', reason: 'no such AMD counter' };
  },

  /** amd_rdpmc_ecx_to_pmc: ECX is the counter index, no type bits; no extra mask. */
  rdpmcEcxToPmc(pmu: KvmPmu, ecx: number): { pmc: KvmPmc; mask: bigint } | null {
    return ecx < pmu.nrArchGpCounters ? { pmc: pmu.gpCounters[ecx]!, mask: U64_MAX } : null;
  },
});

/**
 * The AMD PMU CPUID leaves for the guest: 0x80000001 contributes only ECX[23]
 * (PerfCtrExtCore); 0x80000022 (subleaf 0) is EAX[0] PerfMonV2 and EBX[3:0]
 * the number of core counters, as KVM reports it (no LBRv2, no NB/UMC
 * counters). null for other leaves.
 */
export function amdPmuCpuid(
  cap: KvmPmuCapability,
  config: GuestPmuConfig,
  leaf: number,
  subleaf: number,
): CpuidRegs | null {
  if (leaf === 0x8000_0001) {
    return { eax: 0, ebx: 0, ecx: amdGuestHasPerfCtrCore(cap, config) ? 1 << 23 : 0, edx: 0 };
  }
  if (leaf === 0x8000_0022) {
    if (subleaf !== 0 || !amdGuestHasPerfMonV2(cap, config))
      return { eax: 0, ebx: 0, ecx: 0, edx: 0 };
    return { eax: 1, ebx: config.gpCounters & 0xf, ecx: 0, edx: 0 };
  }
  return null;
}
