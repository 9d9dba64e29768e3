/**
 * Which PMU MSRs, and whether RDPMC, reach hardware without a VM-exit
 * (docs/mediated-vpmu.md 4.2). Upstream: kvm_need_perf_global_ctrl_intercept
 * and kvm_need_rdpmc_intercept (pmu.c), vmx_recalc_pmu_msr_intercepts and
 * vmx_recalc_instruction_intercepts (vmx.c), svm_recalc_pmu_msr_intercepts
 * and svm_recalc_instruction_intercepts (svm.c).
 *
 * The legacy (perf-emulated) design intercepts everything: with
 * enable_mediated_pmu off the recalc functions return before touching the PMU
 * MSRs, which stay intercepted, and RDPMC always exits.
 *
 * The mediated design, for a vCPU that has a mediated PMU (version > 0):
 * - each counter the guest has is passed through: Intel IA32_PERFCTRx, and
 *   IA32_PMCx only with full-width writes in the guest's PERF_CAPABILITIES,
 *   and IA32_FIXED_CTRx; AMD the K7 PERFCTRx (x < 4) and, with PerfCtrExtCore,
 *   F15H PERF_CTRx. Counters beyond the guest's count stay intercepted.
 * - selectors (PERFEVTSELx, K7 EVNTSELx, F15H PERF_CTLx), FIXED_CTR_CTRL and
 *   Intel GLOBAL_STATUS_SET are always intercepted (event filter, AnyThread).
 * - GLOBAL_CTRL, GLOBAL_STATUS, GLOBAL_OVF_CTRL (AMD: GLOBAL_CTL, _STATUS,
 *   _STATUS_CLR and _STATUS_SET) are passed through only if the guest's GP
 *   and fixed counter counts equal the *host's* (perf's, not KVM's capped
 *   view) and the guest PMU version is >= 2.
 * - RDPMC exits unless the counts are equal and the guest's counter widths
 *   equal the host's (the version does not matter for RDPMC).
 */
import type { CpuModel } from '../hw/cpu-models.ts';
import { MSR } from '../hw/msr.ts';
import { GuestPmu } from './guest-pmu.ts';
import { kvmPmuCapability } from './pmu-capability.ts';
import { genmask, type GuestPmuConfig } from './pmu-types.ts';
import { deepFreeze } from '../common/freeze.ts';
import { DEFAULT_VPMU_SERIES, type VpmuSeries } from './vpmu-series.ts';

export interface PmuIntercepts {
  /** MSR indices the guest reads and writes with no VM-exit. */
  readonly passthrough: ReadonlySet<number>;
  /** Whether RDPMC causes a VM-exit (CPU_BASED_RDPMC_EXITING / INTERCEPT_RDPMC). */
  readonly rdpmcExits: boolean;
}

/** The legacy design: every PMU MSR access and every RDPMC exits. */
export const LEGACY_INTERCEPTS: PmuIntercepts = deepFreeze({
  passthrough: new Set<number>(),
  rdpmcExits: true,
});

/**
 * kvm_need_any_pmc_intercept: no mediated PMU, or the guest's GP/fixed counter
 * counts differ from the host's (then hardware has counters the guest must
 * not see, and whole-PMU MSRs and RDPMC must be emulated).
 */
export function kvmNeedAnyPmcIntercept(pmu: GuestPmu): boolean {
  if (!pmu.mediated) return true;
  const host = pmu.cap.host;
  return (
    pmu.nrArchGpCounters !== host.numCountersGp || pmu.nrArchFixedCounters !== host.numCountersFixed
  );
}

/** kvm_need_perf_global_ctrl_intercept: also when the guest has no GLOBAL_CTRL (v1). */
export function kvmNeedPerfGlobalCtrlIntercept(pmu: GuestPmu): boolean {
  return kvmNeedAnyPmcIntercept(pmu) || !pmu.hasPerfGlobalCtrl;
}

/**
 * kvm_need_rdpmc_intercept: also when a counter width differs from the
 * host's (RDPMC would return bits the guest's counters do not have). The
 * VMware backdoor (off by default) is not modelled.
 */
export function kvmNeedRdpmcIntercept(pmu: GuestPmu): boolean {
  const host = pmu.cap.host;
  return (
    kvmNeedAnyPmcIntercept(pmu) ||
    pmu.counterBitmaskGp !== genmask(host.bitWidthGp) ||
    pmu.counterBitmaskFixed !== genmask(host.bitWidthFixed)
  );
}

/** The intercept policy for a vCPU's PMU as it stands (after refresh). */
export function pmuIntercepts(pmu: GuestPmu): PmuIntercepts {
  // !enable_mediated_pmu: the recalc hooks return early, all stays intercepted.
  if (!pmu.cap.mediated) return LEGACY_INTERCEPTS;
  const passthrough = new Set<number>();
  const counters = pmu.mediated;
  const globals = !kvmNeedPerfGlobalCtrlIntercept(pmu);
  if (pmu.vendor === 'intel') {
    // vmx_recalc_pmu_msr_intercepts
    for (let i = 0; i < pmu.nrArchGpCounters && counters; i++) {
      passthrough.add(MSR.IA32_PERFCTR0 + i);
      if (pmu.fwWritesEnabled) passthrough.add(MSR.IA32_PMC0 + i);
    }
    for (let i = 0; i < pmu.nrArchFixedCounters && counters; i++)
      passthrough.add(MSR.IA32_FIXED_CTR0 + i);
    if (globals) {
      passthrough.add(MSR.IA32_PERF_GLOBAL_STATUS);
      passthrough.add(MSR.IA32_PERF_GLOBAL_CTRL);
      passthrough.add(MSR.IA32_PERF_GLOBAL_OVF_CTRL);
    }
    // Topdown series ("Support PERF_METRICS MSR in mediated vPMU", Feb 2026).
    if (pmu.hasPerfMetrics) passthrough.add(MSR.MSR_PERF_METRICS);
  } else {
    // svm_recalc_pmu_msr_intercepts: legacy counters are always available with a PMU.
    for (let i = 0; i < Math.min(pmu.nrArchGpCounters, 4) && counters; i++)
      passthrough.add(MSR.MSR_K7_PERFCTR0 + i);
    for (let i = 0; i < pmu.nrArchGpCounters && counters && pmu.perfCtrCore; i++) {
      passthrough.add(MSR.MSR_F15H_PERF_CTR0 + 2 * i);
    }
    if (globals) {
      passthrough.add(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_CTL);
      passthrough.add(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS);
      passthrough.add(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS_CLR);
      passthrough.add(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS_SET);
    }
  }
  return Object.freeze({ passthrough, rdpmcExits: kvmNeedRdpmcIntercept(pmu) });
}

/**
 * RFC v1's policy ("KVM: x86/pmu: Introduce passthrough vPMU", Jan 2024; Intel
 * only), as its code shows it: intel_passthrough_pmu_msrs (patch 17/41) passes
 * through PERFCTRx, IA32_PMCx (with full-width writes, patch 18) and
 * FIXED_CTRx of the guest's counters, and GLOBAL_STATUS, GLOBAL_CTRL and
 * GLOBAL_OVF_CTRL whatever the host's counter counts; the event selectors
 * and FIXED_CTR_CTRL stay intercepted for the event filter (patches 34, 35);
 * RDPMC never exits (patch 14/41, "Allow RDPMC pass through": the RFC zeroes
 * the host counters the guest does not have instead, patch 24/41).
 */
export function rfcV1Intercepts(pmu: GuestPmu): PmuIntercepts {
  const passthrough = new Set<number>();
  for (let i = 0; i < pmu.nrArchGpCounters; i++) {
    passthrough.add(MSR.IA32_PERFCTR0 + i);
    if (pmu.fwWritesEnabled) passthrough.add(MSR.IA32_PMC0 + i);
  }
  for (let i = 0; i < pmu.nrArchFixedCounters; i++) passthrough.add(MSR.IA32_FIXED_CTR0 + i);
  passthrough.add(MSR.IA32_PERF_GLOBAL_STATUS);
  passthrough.add(MSR.IA32_PERF_GLOBAL_CTRL);
  passthrough.add(MSR.IA32_PERF_GLOBAL_OVF_CTRL);
  return Object.freeze({ passthrough, rdpmcExits: false });
}

/**
 * The mediated design's policy for a guest PMU configuration on a host: the
 * guest PMU is built (and refreshed) exactly as KVM would, from KVM's
 * capability with enable_mediated_pmu=1. A host that does not qualify for the
 * mediated vPMU gets the legacy policy, as KVM forces the parameter off.
 */
export function mediatedIntercepts(
  hostModel: CpuModel,
  guestConfig: GuestPmuConfig,
  series: VpmuSeries = DEFAULT_VPMU_SERIES,
): PmuIntercepts {
  const cap = kvmPmuCapability(hostModel, { mediated: true, series });
  const pmu = new GuestPmu(cap, guestConfig);
  if (series === 'passthrough-rfc-v1' && cap.mediated && pmu.mediated) return rfcV1Intercepts(pmu);
  return pmuIntercepts(pmu);
}

/** The legacy design's policy: everything intercepted. */
export function legacyIntercepts(): PmuIntercepts {
  return LEGACY_INTERCEPTS;
}
