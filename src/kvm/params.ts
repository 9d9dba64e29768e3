/**
 * KVM's module parameters for the vPMU (kvm.enable_pmu,
 * kvm-intel/kvm-amd enable_mediated_pmu), with the checks that force the
 * mediated PMU off when the hardware or perf cannot provide it
 * (docs/mediated-vpmu.md 4.1; kvm_init_pmu_capability), and enable_pmu
 * itself forced off on a host without a usable PMU (kvmEnablePmu).
 */
import {
  qualifiesForMediatedVpmu,
  reportsFullWidthWrites,
  type CpuModel,
} from '../hw/cpu-models.ts';
import type { PerfKvmExports } from '../perf/kvm-exports.ts';
import { kvmEnablePmu } from './pmu-capability.ts';
import { DEFAULT_VPMU_SERIES, type VpmuSeries } from './vpmu-series.ts';

export interface KvmParams {
  readonly enablePmu: boolean;
  readonly enableMediatedPmu: boolean;
  /** The KVM code the mediated vPMU runs: merged 7.0 or a posted series (vpmu-series.ts). */
  readonly series: VpmuSeries;
}

export function resolveKvmParams(
  requested: { enablePmu?: boolean; enableMediatedPmu?: boolean; series?: VpmuSeries } | undefined,
  model: CpuModel,
  perf: PerfKvmExports,
  log: (line: string) => void,
): KvmParams {
  // kvm_init_pmu_capability forces enable_pmu off on a host whose PMU KVM
  // cannot virtualize; the module parameter reads back as the forced value.
  const enablePmu = kvmEnablePmu(model, requested?.enablePmu ?? true);
  let enableMediatedPmu = requested?.enableMediatedPmu ?? false;
  const series = requested?.series ?? DEFAULT_VPMU_SERIES;
  if (enableMediatedPmu) {
    let why: string | null = null;
    if (!enablePmu) why = 'enable_pmu is off';
    // RFC v1 implemented Intel only ("currently we implement it on Intel CPU only").
    else if (series === 'passthrough-rfc-v1' && model.vendor !== 'intel')
      why = 'the passthrough vPMU of RFC v1 is implemented for Intel only';
    else if (!qualifiesForMediatedVpmu(model)) {
      why =
        model.vendor === 'intel'
          ? `the PMU (version ${model.pmuVersion}${reportsFullWidthWrites(model) ? '' : ', no full-width writes'}) needs version 4+ with full-width counter writes`
          : 'the CPU lacks PerfMonV2';
    } else if (!perf.mediatedKconfig) why = 'perf was built without CONFIG_PERF_GUEST_MEDIATED_PMU';
    else if (!perf.coreMediatedCapable)
      why = 'the core PMU does not advertise PERF_PMU_CAP_MEDIATED_VPMU';
    if (why) {
      enableMediatedPmu = false;
      log(`kvm: mediated vPMU disabled (enable_mediated_pmu forced off): ${why}`);
    }
  }
  return Object.freeze({ enablePmu, enableMediatedPmu, series });
}
