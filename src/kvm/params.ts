/**
 * KVM's module parameters for the vPMU (kvm.enable_pmu,
 * kvm-intel/kvm-amd enable_mediated_pmu), with the checks that force the
 * mediated PMU off when the hardware or perf cannot provide it
 * (docs/mediated-vpmu.md 4.1; kvm_init_pmu_capability).
 */
import { qualifiesForMediatedVpmu, type CpuModel } from '../hw/cpu-models.ts';
import type { PerfKvmExports } from '../perf/kvm-exports.ts';

export interface KvmParams {
  readonly enablePmu: boolean;
  readonly enableMediatedPmu: boolean;
}

export function resolveKvmParams(
  requested: { enablePmu?: boolean; enableMediatedPmu?: boolean } | undefined,
  model: CpuModel,
  perf: PerfKvmExports,
  log: (line: string) => void,
): KvmParams {
  const enablePmu = requested?.enablePmu ?? true;
  let enableMediatedPmu = requested?.enableMediatedPmu ?? false;
  if (enableMediatedPmu) {
    let why: string | null = null;
    if (!enablePmu) why = 'enable_pmu is off';
    else if (!qualifiesForMediatedVpmu(model)) {
      why =
        model.vendor === 'intel'
          ? `the PMU (version ${model.pmuVersion}${model.fullWidthWrites ? '' : ', no full-width writes'}) needs version 4+ with full-width counter writes`
          : 'the CPU lacks PerfMonV2';
    } else if (!perf.mediatedKconfig) why = 'perf was built without CONFIG_PERF_GUEST_MEDIATED_PMU';
    else if (!perf.coreMediatedCapable)
      why = 'the core PMU does not advertise PERF_PMU_CAP_MEDIATED_VPMU';
    if (why) {
      enableMediatedPmu = false;
      log(`kvm: mediated vPMU disabled (enable_mediated_pmu forced off): ${why}`);
    }
  }
  return Object.freeze({ enablePmu, enableMediatedPmu });
}
