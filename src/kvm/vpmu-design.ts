/**
 * A vPMU design: what KVM does for one vCPU's PMU around VM-entry and
 * VM-exit, and the backend its guest-PMU model calls. Two real designs
 * (mediated, perf-emulated) and one hypothetical ('passthrough-all': the
 * mediated design with selectors passed through too, for ablation). A
 * mediated design runs the code of a series (vpmu-series.ts): its name says
 * which ('mediated' is 7.0's, 'mediated-topdown' 7.0 with the posted topdown
 * series, 'rfc-v1' the January 2024 RFC).
 */
import type { GuestPmuBackend } from './pmu-types.ts';
import type { PmuIntercepts } from './msr-intercepts.ts';
import type { VpmuSeries } from './vpmu-series.ts';

/** Each series' mediated design, and its everything-passed-through ablation. */
export const MEDIATED_DESIGN_NAMES = {
  'linux-7.0': { filtered: 'mediated', passthroughAll: 'passthrough-all' },
  'topdown-metrics': {
    filtered: 'mediated-topdown',
    passthroughAll: 'passthrough-all-topdown',
  },
  'passthrough-rfc-v1': { filtered: 'rfc-v1', passthroughAll: 'rfc-v1-passthrough-all' },
} as const satisfies Record<VpmuSeries, { filtered: string; passthroughAll: string }>;

type SeriesDesigns = (typeof MEDIATED_DESIGN_NAMES)[VpmuSeries];
export type MediatedDesignName = SeriesDesigns['filtered'] | SeriesDesigns['passthroughAll'];
export type VpmuDesignName = MediatedDesignName | 'emulated' | 'none';

/** The design a mediated vCPU runs under a series, with or without the ablation. */
export function mediatedDesignName(
  series: VpmuSeries,
  passthroughAll: boolean,
): MediatedDesignName {
  const names = MEDIATED_DESIGN_NAMES[series];
  return passthroughAll ? names.passthroughAll : names.filtered;
}

/** The series and ablation behind a mediated design's name; null for 'emulated' and 'none'. */
export function mediatedDesignOf(
  design: string,
): { series: VpmuSeries; passthroughAll: boolean } | null {
  for (const [series, names] of Object.entries(MEDIATED_DESIGN_NAMES) as [
    VpmuSeries,
    SeriesDesigns,
  ][]) {
    if (design === names.filtered) return { series, passthroughAll: false };
    if (design === names.passthroughAll) return { series, passthroughAll: true };
  }
  return null;
}

export interface VpmuDesign {
  readonly name: VpmuDesignName;
  readonly backend: GuestPmuBackend;
  /** MSRs and RDPMC the guest reaches with no exit while its state is loaded. */
  intercepts(): PmuIntercepts;
  /**
   * The VM-exit itself, on every exit (a fastpath one too) and before any
   * fastpath decision: the VMCS (or MSR lists) switch GLOBAL_CTRL to the
   * host's, and a mediated vCPU's passed-through GLOBAL_CTRL is refreshed
   * into KVM's copy (vmx_refresh_guest_perf_global_control; svm_vcpu_run's
   * read of PERF_CNTR_GLOBAL_CTL).
   */
  vmExit(): void;
  /** The VM-entry itself, every entry: the guest's GLOBAL_CTRL goes in (VMCS or MSR-load list). */
  vmEntry(): void;
  /** Before VM-entry from the full exit path, IRQs off (kvm_mediated_pmu_load). */
  beforeEntry(): void;
  /** After VM-exit on the full exit path, IRQs off (kvm_mediated_pmu_put). */
  afterExit(): void;
  /**
   * KVM_REQ_PMU (kvm_pmu_handle_event): reprogram counters marked by the
   * backend, then kvm_pmu_cleanup() if the PMU's needCleanup is set.
   */
  handlePmuRequest(): void;
  /** pmu->event_count: perf events KVM holds for this vCPU (none in the mediated design). */
  readonly perfEventCount: number;
  /** vCPU destruction: release what backs the counters. */
  destroy(): void;
}
