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
  /** KVM_REQ_PMU: reprogram counters marked by the backend, before entry. */
  handlePmuRequest(): void;
  /** vCPU destruction: release what backs the counters. */
  destroy(): void;
}
