/**
 * A vPMU design: what KVM does for one vCPU's PMU around VM-entry and
 * VM-exit, and the backend its guest-PMU model calls. Two real designs
 * (mediated, perf-emulated) and one hypothetical ('passthrough-all': the
 * mediated design with selectors passed through too, for ablation).
 */
import type { GuestPmuBackend } from './pmu-types.ts';
import type { PmuIntercepts } from './msr-intercepts.ts';

export type VpmuDesignName = 'mediated' | 'emulated' | 'passthrough-all' | 'none';

export interface VpmuDesign {
  readonly name: VpmuDesignName;
  readonly backend: GuestPmuBackend;
  /** MSRs and RDPMC the guest reaches with no exit while its state is loaded. */
  intercepts(): PmuIntercepts;
  /** Just before VM-entry, IRQs off (kvm_mediated_pmu_load; the legacy GLOBAL_CTRL switch). */
  beforeEntry(): void;
  /** Just after VM-exit, IRQs off (kvm_mediated_pmu_put; the legacy switch back). */
  afterExit(): void;
  /** KVM_REQ_PMU: reprogram counters marked by the backend, before entry. */
  handlePmuRequest(): void;
  /** vCPU destruction: release what backs the counters. */
  destroy(): void;
}
