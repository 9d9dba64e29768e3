/**
 * Which MSR indices are the PMU's, for both vendors: the indices a vCPU's
 * MSR dispatcher routes to its GuestPmu, and the legacy perf MSRs that
 * x86.c's kvm_{get,set}_msr_common tolerate when the vCPU's PMU does not
 * claim them. No state: only index arithmetic.
 */
import { MSR } from '../hw/msr.ts';

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
