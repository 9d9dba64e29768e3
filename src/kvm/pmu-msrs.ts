/**
 * Which MSR indices are the PMU's, for both vendors: the indices a vCPU's
 * MSR dispatcher routes to its GuestPmu, and the legacy perf MSRs that
 * x86.c's kvm_{get,set}_msr_common tolerate when the vCPU's PMU does not
 * claim them. No state: only index arithmetic.
 */
import { MSR } from '../hw/msr.ts';
import type { KvmPmuCapability } from './pmu-types.ts';

/**
 * x86.c's kvm_{get,set}_msr_common handle these whether or not the vCPU's PMU
 * claims them: if kvm_pmu_is_valid_msr() says no, reads return 0 and writes are
 * dropped instead of #GP (commit 5753785fa977, "KVM: do not #GP on perf MSR
 * writes when vPMU is disabled", kept for compatibility). Both vendors' ranges,
 * on either vendor.
 */
export function isLegacyPerfMsr(msr: number): boolean {
  return (
    (msr >= MSR.MSR_K7_EVNTSEL0 && msr <= MSR.MSR_K7_EVNTSEL0 + 3) || // K7 EVNTSEL0-3
    (msr >= MSR.MSR_K7_PERFCTR0 && msr <= MSR.MSR_K7_PERFCTR0 + 3) || // K7 PERFCTR0-3
    msr === MSR.IA32_PERFCTR0 || // P6 PERFCTR0-1
    msr === MSR.IA32_PERFCTR0 + 1 ||
    msr === MSR.IA32_PERFEVTSEL0 || // P6 EVNTSEL0-1
    msr === MSR.IA32_PERFEVTSEL0 + 1
  );
}

const PMU_MSR_RANGES: readonly (readonly [number, number])[] = [
  [MSR.IA32_PERFCTR0, MSR.IA32_PERFCTR0 + 7],
  [MSR.IA32_PMC0, MSR.IA32_PMC0 + 7],
  [MSR.IA32_PERFEVTSEL0, MSR.IA32_PERFEVTSEL0 + 7],
  [MSR.IA32_FIXED_CTR0, MSR.IA32_FIXED_CTR0 + 3],
  [MSR.IA32_PERF_CAPABILITIES, MSR.IA32_PERF_CAPABILITIES],
  [MSR.IA32_FIXED_CTR_CTRL, MSR.IA32_PERF_GLOBAL_STATUS_SET],
  [MSR.MSR_PERF_METRICS, MSR.MSR_PERF_METRICS],
  [MSR.MSR_K7_EVNTSEL0, MSR.MSR_K7_PERFCTR0 + 3],
  [MSR.MSR_F15H_PERF_CTL0, MSR.MSR_F15H_PERF_CTR0 + 10],
  [MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS, MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS_SET],
];

/**
 * Whether `msr` is a PMU MSR of either vendor (architectural counters up to
 * KVM's maxima and beyond the guest's count, controls, globals,
 * PERF_CAPABILITIES): the indices whose guest accesses this model decides,
 * with a value, a dropped access or a #GP. A vCPU's MSR dispatcher routes
 * these to GuestPmu.getMsr/setMsr.
 */
export function isPmuMsr(msr: number): boolean {
  for (const [lo, hi] of PMU_MSR_RANGES) if (msr >= lo && msr <= hi) return true;
  return false;
}

/**
 * kvm_is_advertised_msr for the PMU MSRs: whether kvm_init_msr_lists put
 * `msr` in msrs_to_save (from msrs_to_save_pmu, only with enable_pmu). Such
 * an MSR reaches userspace through KVM_GET_MSR_INDEX_LIST, and where the
 * vCPU does not have it (KVM_MSR_RET_UNSUPPORTED) kvm_do_msr_access still
 * lets userspace read 0 and write 0. kvm_probe_msr_to_save keeps a listed
 * MSR the host has (rdmsr_safe) and, for the counters, within KVM's counts:
 * PERFCTR0/EVENTSEL0 + i for i < num_counters_gp, FIXED_CTR0 + i for
 * i < num_counters_fixed (three listed), the AMD PERF_CNTR_GLOBAL_* with
 * PERFMON_V2. Listed: FIXED_CTR_CTRL, GLOBAL_STATUS, GLOBAL_CTRL (not
 * GLOBAL_OVF_CTRL, not the IA32_PMCx aliases), the K7 pairs and F15H
 * PERF_CTL/CTR0-5. An Intel host has none of the AMD MSRs and an AMD host
 * none of the Intel ones; the F15H ones need PerfCtrExtCore in the host.
 */
export function isAdvertisedPmuMsr(cap: KvmPmuCapability, msr: number): boolean {
  if (!cap.enablePmu) return false;
  const within = (base: number, count: number): boolean => msr >= base && msr < base + count;
  if (cap.vendor === 'intel') {
    return (
      within(MSR.IA32_PERFCTR0, cap.numCountersGp) ||
      within(MSR.IA32_PERFEVTSEL0, cap.numCountersGp) ||
      within(MSR.IA32_FIXED_CTR0, Math.min(cap.numCountersFixed, MSRS_TO_SAVE_FIXED_COUNTERS)) ||
      (cap.host.version >= 2 &&
        (msr === MSR.IA32_FIXED_CTR_CTRL ||
          msr === MSR.IA32_PERF_GLOBAL_STATUS ||
          msr === MSR.IA32_PERF_GLOBAL_CTRL))
    );
  }
  return (
    within(MSR.MSR_K7_EVNTSEL0, 4) ||
    within(MSR.MSR_K7_PERFCTR0, 4) ||
    (cap.perfCtrExtCore && within(MSR.MSR_F15H_PERF_CTL0, 2 * AMD_F15H_COUNTERS)) ||
    (cap.perfMonV2 &&
      msr >= MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS &&
      msr <= MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS_SET)
  );
}

/** msrs_to_save_pmu lists MSR_ARCH_PERFMON_FIXED_CTR0..2 (KVM_MAX_NR_FIXED_COUNTERS, BUILD_BUG_ON'd to 3). */
const MSRS_TO_SAVE_FIXED_COUNTERS = 3;
/** msrs_to_save_pmu lists F15H PERF_CTL/CTR0-5 (KVM_MAX_NR_AMD_GP_COUNTERS). */
const AMD_F15H_COUNTERS = 6;
