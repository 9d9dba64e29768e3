/**
 * KVM's Intel vPMU (arch/x86/kvm/vmx/pmu_intel.c, plus vmx_get_perf_capabilities
 * from vmx.c and CPUID 0xA from cpuid.c): the kvm_pmu_ops the common GuestPmu
 * calls. LBR and PEBS (PEBS_ENABLE, DS_AREA, PEBS_DATA_CFG) are not
 * modelled: the mediated vPMU offers neither. TSX's IN_TX / IN_TXCP selector
 * bits are, as intel_pmu_refresh and intel_pmu_set_msr have them (below).
 *
 * Types come from pmu-types.ts, which imports neither this module nor the
 * core, so there is no import cycle.
 */
import { reportsFullWidthWrites, type CpuModel } from '../hw/cpu-models.ts';
import { NAMED_EVENTS } from '../hw/events.ts';
import { EVTSEL, FIXED_CTRL, GLOBAL, MSR, PERF_CAP, RDPMC, U64_MAX } from '../hw/msr.ts';
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

/** KVM_MAX_NR_INTEL_GP_COUNTERS. */
export const KVM_MAX_NR_INTEL_GP_COUNTERS = 8;
/** KVM_MAX_NR_INTEL_FIXED_COUNTERS in 7.0: fixed counter 3 (topdown slots) is not offered. */
export const KVM_MAX_NR_INTEL_FIXED_COUNTERS = 3;

/** MSR_PMC_FULL_WIDTH_BIT: IA32_PMCx = IA32_PERFCTRx | 0x400. */
const MSR_PMC_FULL_WIDTH_BIT = MSR.IA32_PMC0 - MSR.IA32_PERFCTR0;

/** PERF_CAPABILITIES fields vmx_get_perf_capabilities passes on. */
const PERF_CAP_LBR_FMT = 0x3fn;
const PERF_CAP_PEBS_TRAP = 1n << 6n;
const PERF_CAP_ARCH_REG = 1n << 7n;
const PERF_CAP_PEBS_FORMAT = 0xf00n;
const PERF_CAP_PEBS_BASELINE = 1n << 14n;
const PERF_CAP_PEBS_MASK =
  PERF_CAP_PEBS_TRAP | PERF_CAP_ARCH_REG | PERF_CAP_PEBS_FORMAT | PERF_CAP_PEBS_BASELINE;

/**
 * intel_get_fixed_pmc_eventsel: the architectural event each fixed counter is
 * mapped to (perf_get_hw_event_config of INSTRUCTIONS, CPU_CYCLES,
 * REF_CPU_CYCLES; 0x0300 is perf's pseudo-encoding for reference cycles).
 */
const FIXED_PMC_EVENTSEL: readonly bigint[] = [0x00c0n, 0x003cn, 0x0300n];

function gp(reason: string): Fault {
  return { fault: '#GP', reason };
}

/** The OS, USR, PMI bits (INTEL_FIXED_0_KERNEL | _USER | _ENABLE_PMI) of fixed counter i. */
function intelFixedBitsByIdx(index: number, bits: number): bigint {
  return BigInt(bits) << BigInt(index * FIXED_CTRL.bits);
}

/** get_fw_gp_pmc: the IA32_PMCx alias exists only with full-width writes. */
// Non-null assertions in this file index a vCPU PMU's gpCounters below
// nrArchGpCounters and fixedCounters below nrArchFixedCounters: the lengths
// GuestPmu guarantees (see the comment on its class).
function getFwGpPmc(pmu: KvmPmu, msr: number): KvmPmc | null {
  return pmu.fwWritesEnabled ? pmu.getGpPmc(msr, MSR.IA32_PMC0) : null;
}

/**
 * reprogram_fixed_counters: FIXED_CTR_CTRL and fixed_ctr_ctrl_hw take the
 * written value, and counters whose 4-bit field changed are reprogrammed
 * (which, for a mediated vCPU, re-applies the event filter to their field of
 * fixed_ctr_ctrl_hw). As upstream, an unchanged field is not re-filtered, so a
 * denied counter whose field the guest rewrites unchanged gets its field back
 * in fixed_ctr_ctrl_hw (docs/kvm-vpmu.md, "An upstream gap").
 */
function reprogramFixedCounters(pmu: KvmPmu, data: bigint): void {
  const old = pmu.fixedCtrCtrl;
  pmu.fixedCtrCtrl = data;
  pmu.fixedCtrCtrlHw = data;
  for (let i = 0; i < pmu.nrArchFixedCounters; i++) {
    if (pmu.fixedCtrlField(i, data) === pmu.fixedCtrlField(i, old)) continue;
    pmu.requestCounterReprogram(pmu.fixedCounters[i]!);
  }
}

/** cpufeatures.h: word 9 is CPUID.(EAX=7,ECX=0):EBX. */
const X86_FEATURE_HLE = 9 * 32 + 4;
const X86_FEATURE_RTM = 9 * 32 + 11;

/**
 * What intel_pmu_refresh ANDs with the guest's CPUID.7.0:EBX, exactly as
 * upstream writes it: `entry->ebx & (X86_FEATURE_HLE|X86_FEATURE_RTM)`.
 * Those are cpufeature numbers, not EBX masks, so the test reads EBX bits 0,
 * 1, 2, 3, 5 and 8 (FSGSBASE, TSC_ADJUST, SGX, BMI1, AVX2, BMI2), not HLE (4)
 * or RTM (11). A guest with TSX but none of those keeps IN_TX reserved; one
 * with AVX2 and no TSX gets it, where the host has TSX. The model follows
 * the code (docs/x86-pmu.md, "TSX").
 */
const INTEL_PMU_REFRESH_TSX_TEST = X86_FEATURE_HLE | X86_FEATURE_RTM;

/**
 * intel_pmu_refresh's TSX step (after commit e644896f5106, "KVM: x86/pmu:
 * Fix and isolate TSX-specific performance event logic"): with the host's
 * TSX and the guest CPUID test above, IN_TX is no longer reserved and both
 * IN_TX and IN_TXCP pass to the perf event's config (raw_event_mask).
 * IN_TXCP stays reserved but for GP counter 2 (intelEventselReservedBits).
 */
function intelPmuRefreshTsx(pmu: KvmPmu): void {
  if (!pmu.cap.bootCpuHasTsx || (pmu.guestCpuid.leaf7Ebx & INTEL_PMU_REFRESH_TSX_TEST) === 0)
    return;
  pmu.reservedBits ^= EVTSEL.IN_TX;
  pmu.rawEventMask |= EVTSEL.IN_TX | EVTSEL.IN_TXCP;
}

/**
 * intel_pmu_set_msr's reserved bits for PERFEVTSELn: pmu->reserved_bits, less
 * IN_TXCP for the counter with idx 2 when raw_event_mask has IN_TXCP (SDM:
 * IN_TXCP "may only be set for IA32_PERFEVTSEL2").
 */
function intelEventselReservedBits(pmu: KvmPmu, idx: number): bigint {
  if (idx === 2 && (pmu.rawEventMask & EVTSEL.IN_TXCP) !== 0n)
    return pmu.reservedBits ^ EVTSEL.IN_TXCP;
  return pmu.reservedBits;
}

export const intelPmuOps: KvmPmuOps = Object.freeze({
  vendor: 'intel',
  EVENTSEL_EVENT: EVTSEL.EVENT,
  MAX_NR_GP_COUNTERS: KVM_MAX_NR_INTEL_GP_COUNTERS,
  MIN_NR_GP_COUNTERS: 1,
  MAX_NR_FIXED_COUNTERS: KVM_MAX_NR_INTEL_FIXED_COUNTERS,
  INSTRUCTIONS_RETIRED: BigInt(NAMED_EVENTS.instructions.intel),
  BRANCH_INSTRUCTIONS_RETIRED: BigInt(NAMED_EVENTS.branches.intel),

  /**
   * intel_pmu_is_mediated_pmu_supported: v4+ (GLOBAL_STATUS_SET, to load the
   * guest's status precisely) and full-width writes (to load guest counters
   * precisely). The VMCS "load PERF_GLOBAL_CTRL" control is assumed present.
   */
  isMediatedPmuSupported(host: HostPmuCapability, model: CpuModel): boolean {
    return host.version >= 4 && reportsFullWidthWrites(model);
  },

  /**
   * vmx_get_perf_capabilities: full-width writes always (KVM emulates them);
   * the LBR format without architectural LBRs (format 0x3f) and without the
   * mediated vPMU; PEBS (minus adaptive PEBS, "functionally broken") where
   * perf supports PEBS in guests (pebs_ept, here: hosts with PEBS baseline,
   * Ice Lake and later) and without the mediated vPMU.
   */
  supportedPerfCapabilities(model: CpuModel, mediated: boolean): bigint {
    let cap = PERF_CAP.FW_WRITES;
    if (mediated) return cap;
    const host = model.perfCapabilities;
    const lbrFormat = host & PERF_CAP_LBR_FMT;
    if (lbrFormat !== 0n && lbrFormat !== PERF_CAP_LBR_FMT) cap |= lbrFormat;
    if (host & PERF_CAP_PEBS_BASELINE) cap |= host & PERF_CAP_PEBS_MASK & ~PERF_CAP_PEBS_BASELINE;
    return cap;
  },

  /**
   * vmx_set_msr's PERF_CAPABILITIES case, checked before kvm_set_msr_common's
   * (so also for a guest write, which #GPs either way): the LBR format is
   * all-or-nothing, 0 or KVM's (the host's) exactly, and a non-zero PEBS
   * format needs every PEBS bit (trap, arch regs, format, baseline) exactly as
   * KVM reports them (vmx_pmu_caps_test, immutable_perf_capabilities).
   * vmx_set_msr also wants a consistent CPUID model, DS and DTES64 in the
   * guest's CPUID: model assumption, the VMM gives its guests the host's
   * model and those bits (as QEMU's -cpu host does).
   */
  perfCapabilitiesWriteError(supported: bigint, data: bigint): string | null {
    if (data & PERF_CAP_LBR_FMT && (data & PERF_CAP_LBR_FMT) !== (supported & PERF_CAP_LBR_FMT))
      return `LBR format ${data & PERF_CAP_LBR_FMT} is not KVM's (${supported & PERF_CAP_LBR_FMT})`;
    if (
      data & PERF_CAP_PEBS_FORMAT &&
      (data & PERF_CAP_PEBS_MASK) !== (supported & PERF_CAP_PEBS_MASK)
    )
      return 'PEBS bits differ from what KVM supports';
    return null;
  },

  init(pmu: KvmPmu): void {
    pmu.fixedCounters.forEach((pmc, i) => (pmc.eventsel = FIXED_PMC_EVENTSEL[i] ?? 0n));
  },

  /**
   * intel_pmu_refresh. The version is CPUID's, *not* capped by KVM (only the
   * counts, the widths and the event-vector length are). Version 1 has no
   * fixed counters. Reserved bits: PERFEVTSEL keeps 63:32 (but IN_TX with
   * TSX, intelPmuRefreshTsx) and ANY (bit 21);
   * FIXED_CTR_CTRL allows OS, USR, PMI of existing counters; GLOBAL_CTRL
   * allows existing counters; GLOBAL_STATUS also bits 62 (buffer overflow) and
   * 63 (condition changed).
   */
  refresh(pmu: KvmPmu, config: GuestPmuConfig): void {
    const cap = pmu.cap;
    pmu.version = config.version;
    if (!pmu.version) return;
    pmu.nrArchGpCounters = Math.min(config.gpCounters, cap.numCountersGp);
    const gpWidth = Math.min(config.gpWidth, cap.bitWidthGp);
    pmu.counterBitmaskGp = (1n << BigInt(gpWidth)) - 1n;
    // min(CPUID EAX[31:24], KVM's): the model's guest always has KVM's length.
    const maskLength = cap.eventsMaskLen;
    pmu.availableEventTypes =
      ~config.unavailableEvents & (maskLength >= 32 ? -1 : (1 << maskLength) - 1);
    pmu.availableEventTypes >>>= 0;
    if (pmu.version === 1) {
      pmu.nrArchFixedCounters = 0;
    } else {
      pmu.nrArchFixedCounters = Math.min(config.fixedCounters, cap.numCountersFixed);
      const fixedWidth = Math.min(config.fixedWidth, cap.bitWidthFixed);
      pmu.counterBitmaskFixed = (1n << BigInt(fixedWidth)) - 1n;
    }
    // intel_pmu_enable_fixed_counter_bits(OS | USR | PMI)
    for (let i = 0; i < pmu.nrArchFixedCounters; i++) {
      pmu.fixedCtrCtrlRsvd &= ~intelFixedBitsByIdx(
        i,
        FIXED_CTRL.OS | FIXED_CTRL.USR | FIXED_CTRL.PMI,
      );
    }
    const counters =
      ((1n << BigInt(pmu.nrArchGpCounters)) - 1n) |
      (((1n << BigInt(pmu.nrArchFixedCounters)) - 1n) << BigInt(GLOBAL.FIXED_SHIFT));
    pmu.globalCtrlRsvd = ~counters & U64_MAX;
    // GLOBAL_STATUS and GLOBAL_OVF_CTRL share reserved bits.
    pmu.globalStatusRsvd =
      pmu.globalCtrlRsvd & ~(GLOBAL.STATUS_BUFFER_OVF | GLOBAL.STATUS_COND_CHGD);
    // Topdown series ("Support PERF_METRICS MSR in mediated vPMU"): bit 48 of
    // GLOBAL_CTRL (EN_PERF_METRICS) and of GLOBAL_STATUS (its overflow).
    if (pmu.hasPerfMetrics) {
      pmu.globalCtrlRsvd &= ~GLOBAL.PERF_METRICS;
      pmu.globalStatusRsvd &= ~GLOBAL.PERF_METRICS;
    }
    intelPmuRefreshTsx(pmu);
  },

  /** intel_msr_idx_to_pmc: fixed counter, selector or legacy counter alias (not IA32_PMCx). */
  msrIdxToPmc(pmu: KvmPmu, msr: number): KvmPmc | null {
    return (
      pmu.getFixedPmc(msr) ??
      pmu.getGpPmc(msr, MSR.IA32_PERFEVTSEL0) ??
      pmu.getGpPmc(msr, MSR.IA32_PERFCTR0)
    );
  },

  /** intel_is_valid_msr (without LBR/PEBS/DS). */
  isValidMsr(pmu: KvmPmu, msr: number): boolean {
    if (msr === MSR.IA32_FIXED_CTR_CTRL) return pmu.hasPerfGlobalCtrl;
    if (msr === MSR.MSR_PERF_METRICS) return pmu.hasPerfMetrics;
    return (
      pmu.getGpPmc(msr, MSR.IA32_PERFCTR0) !== null ||
      pmu.getGpPmc(msr, MSR.IA32_PERFEVTSEL0) !== null ||
      pmu.getFixedPmc(msr) !== null ||
      getFwGpPmc(pmu, msr) !== null
    );
  },

  /** intel_pmu_get_msr. */
  getMsr(pmu: KvmPmu, msr: number): bigint | undefined {
    if (msr === MSR.IA32_FIXED_CTR_CTRL) return pmu.fixedCtrCtrl;
    // Passed through to the guest: only userspace (KVM_GET_MSRS) gets here.
    if (msr === MSR.MSR_PERF_METRICS) return pmu.perfMetrics;
    let pmc = pmu.getGpPmc(msr, MSR.IA32_PERFCTR0) ?? pmu.getGpPmc(msr, MSR.IA32_PMC0);
    if (pmc) return BigInt(pmu.pmcReadCounter(pmc)) & pmu.counterBitmaskGp;
    if ((pmc = pmu.getFixedPmc(msr)))
      return BigInt(pmu.pmcReadCounter(pmc)) & pmu.counterBitmaskFixed;
    if ((pmc = pmu.getGpPmc(msr, MSR.IA32_PERFEVTSEL0))) return pmc.eventsel;
    return undefined;
  },

  /** intel_pmu_set_msr. */
  setMsr(pmu: KvmPmu, msr: number, data: bigint, hostInitiated: boolean): Fault | undefined {
    if (msr === MSR.IA32_FIXED_CTR_CTRL) {
      if (data & pmu.fixedCtrCtrlRsvd) {
        return gp('FIXED_CTR_CTRL: AnyThread, or a field of a counter the guest does not have');
      }
      if (pmu.fixedCtrCtrl !== data) reprogramFixedCounters(pmu, data);
      return undefined;
    }
    if (msr === MSR.MSR_PERF_METRICS) {
      pmu.perfMetrics = data; // userspace only, as getMsr
      return undefined;
    }
    let pmc = pmu.getGpPmc(msr, MSR.IA32_PERFCTR0) ?? pmu.getGpPmc(msr, MSR.IA32_PMC0);
    if (pmc) {
      const fullWidth = (msr & MSR_PMC_FULL_WIDTH_BIT) !== 0;
      if (fullWidth && data & ~pmu.counterBitmaskGp)
        return gp('IA32_PMCx: value wider than the counter');
      // The legacy alias takes the low 32 bits, sign-extended (not for userspace).
      if (!hostInitiated && !fullWidth) data = BigInt.asUintN(64, BigInt.asIntN(32, data));
      pmu.pmcWriteCounter(pmc, data);
      return undefined;
    }
    if ((pmc = pmu.getFixedPmc(msr))) {
      // No width check: KVM truncates fixed counter writes to the width.
      pmu.pmcWriteCounter(pmc, data);
      return undefined;
    }
    if ((pmc = pmu.getGpPmc(msr, MSR.IA32_PERFEVTSEL0))) {
      if (data & intelEventselReservedBits(pmu, pmc.idx))
        return gp('PERFEVTSEL: reserved bits (63:32 but TSX where allowed, AnyThread)');
      if (data !== pmc.eventsel) {
        pmc.eventsel = data;
        pmc.eventselHw = data;
        pmu.requestCounterReprogram(pmc);
      }
      return undefined;
    }
    return gp('not a known PMU MSR');
  },

  /**
   * intel_rdpmc_ecx_to_pmc: ECX[31:16] is the type, 0 (GP) or 0x4000 (fixed,
   * bit 30); anything else, including the old bit-31 "fast" flag, is no
   * counter. ECX[15:0] is the index. The value is masked to the type's width.
   */
  rdpmcEcxToPmc(pmu: KvmPmu, ecx: number): { pmc: KvmPmc; mask: bigint } | null {
    const type = ecx >>> 16;
    const idx = ecx & RDPMC.INDEX_MASK;
    if (type === RDPMC.FIXED >>> 16) {
      return idx < pmu.nrArchFixedCounters
        ? { pmc: pmu.fixedCounters[idx]!, mask: pmu.counterBitmaskFixed }
        : null;
    }
    if (type === 0) {
      return idx < pmu.nrArchGpCounters
        ? { pmc: pmu.gpCounters[idx]!, mask: pmu.counterBitmaskGp }
        : null;
    }
    return null;
  },
});

/**
 * CPUID 0xA for the guest, from its configuration: EAX version | GP counters
 * << 8 | GP width << 16 | event-vector length << 24; EBX unavailable events;
 * ECX fixed-counter bitmap; EDX fixed counters | fixed width << 5 | bit 15
 * (AnyThread deprecated, which KVM always sets with a PMU).
 */
export function intelPmuCpuidLeafA(cap: KvmPmuCapability, config: GuestPmuConfig): CpuidRegs {
  if (!config.version) return { eax: 0, ebx: 0, ecx: 0, edx: 0 };
  const eax =
    (config.version & 0xff) |
    ((config.gpCounters & 0xff) << 8) |
    ((config.gpWidth & 0xff) << 16) |
    ((cap.eventsMaskLen & 0xff) << 24);
  const edx = (config.fixedCounters & 0x1f) | ((config.fixedWidth & 0xff) << 5) | (1 << 15);
  return {
    eax: eax >>> 0,
    ebx: config.unavailableEvents >>> 0,
    ecx: config.fixedCounterMask >>> 0,
    edx,
  };
}
