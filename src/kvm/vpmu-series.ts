/**
 * Which KVM code runs a mediated (passed-through) vPMU: the series merged
 * for Linux 7.0, or one of two posted series the model can run instead
 * (docs/kvm-vpmu.md "Posted series"). Neither posted series is upstream;
 * they are here so figures measured on them can be compared like for like.
 *
 * - 'linux-7.0': the mediated vPMU as merged (the default).
 * - 'topdown-metrics': 7.0 plus "KVM: x86/pmu: Add hardware Topdown metrics
 *   support" (Zide Chen, Dapeng Mi, 26 Feb 2026, 3 patches): with
 *   enable_mediated_pmu, KVM_MAX_NR_INTEL_FIXED_COUNTERS is 4 (fixed counter
 *   3, topdown slots) and PERF_CAPABILITIES bit 15 (PERF_METRICS) is offered;
 *   IA32_PERF_METRICS is passed through and switched with the counters.
 * - 'passthrough-rfc-v1': "KVM: x86/pmu: Introduce passthrough vPMU" RFC v1
 *   (Xiong Zhang, Mingwei Zhang et al., 26 Jan 2024, 41 patches), Intel only:
 *   the design behind the published overhead table.
 */
import { showValue } from '../common/printable.ts';
export const VPMU_SERIES = ['linux-7.0', 'topdown-metrics', 'passthrough-rfc-v1'] as const;
export type VpmuSeries = (typeof VPMU_SERIES)[number];

/** The series a KVM runs when none is named. */
export const DEFAULT_VPMU_SERIES: VpmuSeries = 'linux-7.0';

/**
 * KVM_MAX_NR_INTEL_FIXED_COUNTERS under a series, and kvm_init_pmu_capability's
 * cap: 7.0 and the RFC offer fixed counters 0-2; the topdown series offers
 * fixed counter 3 too, but only with enable_mediated_pmu ("KVM: x86/pmu:
 * Support Intel fixed counter 3 on mediated vPMU": the legacy vPMU stays at 3).
 */
export function intelFixedCountersOffered(series: VpmuSeries, mediated: boolean): number {
  return series === 'topdown-metrics' && mediated ? 4 : 3;
}

/**
 * Whether KVM offers PERF_CAPABILITIES.PERF_METRICS (bit 15) where the host has
 * it: only the topdown series, only with enable_mediated_pmu
 * (vmx_get_perf_capabilities, "KVM: x86/pmu: Support PERF_METRICS MSR in
 * mediated vPMU").
 */
export function offersPerfMetrics(series: VpmuSeries, mediated: boolean): boolean {
  return series === 'topdown-metrics' && mediated;
}

/** The series a value names, or an error naming the choices (TypeError for a non-string). */
export function checkVpmuSeries(value: unknown, where: string): VpmuSeries {
  if (typeof value !== 'string')
    throw new TypeError(`${where} must be a string (one of ${VPMU_SERIES.join(', ')})`);
  if (!(VPMU_SERIES as readonly string[]).includes(value))
    throw new RangeError(
      `${where} must be one of ${VPMU_SERIES.join(', ')}, got ${showValue(value)}`,
    );
  return value as VpmuSeries;
}
