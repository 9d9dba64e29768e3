/**
 * vpmu: the public API (docs/api.md). Everything a program outside the
 * project may use is exported here, and nothing else is.
 */
export {
  ERRNO,
  GuestFault,
  KernelError,
  KvmError,
  PerfError,
  type Errno,
  type X86Exception,
} from './common/errors.ts';
export {
  CPU_MODELS,
  CPU_MODEL_NAMES,
  type CpuModel,
  type CpuModelName,
  type Vendor,
} from './hw/cpu-models.ts';
export { CPUID7_EBX } from './hw/cpu.ts';
export type { Work } from './hw/events.ts';
export { MSR } from './hw/msr.ts';
export type { PerfEventAttr, PerfTarget } from './perf/attr.ts';
export { ACCOUNTING_VARIANTS } from './perf/mediated-protocol.ts';
export type { Perf, PerfCount, PerfEvent, PerfEventState, PmuInfo } from './perf/perf.ts';
export type { Kvm } from './kvm/kvm.ts';
export type { KvmParams } from './kvm/params.ts';
export type { Vm, VmOptions } from './kvm/vm.ts';
export type { Vcpu, VcpuOptions } from './kvm/vcpu.ts';
export type { GlobalCtrlSave } from './kvm/mediated-vpmu.ts';
export type { VcpuStats, ExitReason } from './kvm/exits.ts';
export type { GuestCpu } from './kvm/guest-cpu.ts';
export type { GuestPmuConfig } from './kvm/pmu-types.ts';
export type { VpmuDesignName } from './kvm/vpmu-design.ts';
export {
  encodeMaskedEntry,
  KVM_PMU_EVENT_ALLOW,
  KVM_PMU_EVENT_DENY,
  KVM_PMU_EVENT_FLAG_MASKED_EVENTS,
  KVM_PMU_EVENT_FILTER_MAX_EVENTS,
  type PmuEventFilter,
} from './kvm/event-filter.ts';
export { createHost, type Host, type HostOptions } from './sim/host.ts';
// The simulator, its cost model, and the uncertainty analysis of `vpmu run --samples`.
export { simulate, type SimulationInput, type SimulationOptions } from './sim/simulator.ts';
export type { SimulationReport, DesignResult } from './sim/results.ts';
export { COST_MODELS, CostModel, type CostOverride, type CostParameter } from './sim/cost-model.ts';
export {
  runUncertainty,
  type SensitivityEntry,
  type UncertaintyOptions,
  type UncertaintyReport,
} from './sim/uncertainty.ts';
export { defaultJobs, runUncertaintyOnThreads, simulateAll } from './sim/run-pool.ts';
export { mergeShards, shardFromText, type ShardFile } from './sim/uncertainty-shards.ts';
export { sobolIndices, type SobolIndices } from './sim/sensitivity.ts';
export {
  runCheck,
  runReplay,
  type CheckOptions,
  type CheckResult,
  type Strategy,
} from './check/check.ts';
export { BadInput, MODEL_KINDS, variantNames, type ModelKind } from './check/model-catalogue.ts';
export { PROPERTY_NAMES, type PropertyName } from './check/properties.ts';
