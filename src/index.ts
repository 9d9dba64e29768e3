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
export type { Work } from './hw/events.ts';
export { MSR } from './hw/msr.ts';
export type { PerfEventAttr, PerfTarget } from './perf/attr.ts';
export { ACCOUNTING_VARIANTS } from './perf/mediated-protocol.ts';
export type { Perf, PerfCount, PerfEvent, PerfEventState, PmuInfo } from './perf/perf.ts';
export type { Kvm } from './kvm/kvm.ts';
export type { KvmParams } from './kvm/params.ts';
export type { Vm, VmOptions } from './kvm/vm.ts';
export type { Vcpu, VcpuOptions } from './kvm/vcpu.ts';
export type { VcpuStats, ExitReason } from './kvm/exits.ts';
export type { GuestCpu } from './kvm/guest-cpu.ts';
export type { GuestPmuConfig } from './kvm/pmu-types.ts';
export type { VpmuDesignName } from './kvm/vpmu-design.ts';
export { encodeMaskedEntry, type PmuEventFilter } from './kvm/event-filter.ts';
export { createHost, type Host, type HostOptions } from './sim/host.ts';
