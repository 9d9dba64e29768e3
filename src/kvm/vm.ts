/**
 * A KVM VM's PMU lifecycle (arch/x86/kvm/x86.c): the mediated PMU is created
 * in perf when the first vCPU is created (sticky: a failed vCPU creation does
 * not undo it), KVM_CAP_PMU_CAPABILITY may only disable the PMU before that,
 * and destroying the VM releases the mediated PMU once.
 */
import { KvmError } from '../common/errors.ts';
import type { PerfKvmExports } from '../perf/kvm-exports.ts';
import type { KvmParams } from './params.ts';

/** KVM's advice when perf refuses the mediated PMU (kvm_arch_vcpu_precreate). */
export const MEDIATED_PMU_EBUSY_MESSAGE =
  'kvm: Failed to enable mediated vPMU, try disabling system wide perf events and nmi_watchdog.';

export interface VmOptions {
  /** An in-kernel local APIC (KVM_CREATE_IRQCHIP); without one the VM has no PMU. */
  lapic?: boolean;
}

export class VmPmuLifecycle {
  /** kvm->arch.enable_pmu. */
  enablePmu: boolean;
  /** kvm->arch.created_mediated_pmu. */
  createdMediatedPmu = false;
  createdVcpus = 0;
  destroyed = false;
  readonly lapic: boolean;

  constructor(
    private readonly params: KvmParams,
    private readonly perf: PerfKvmExports,
    private readonly log: (line: string) => void,
    options: VmOptions = {},
  ) {
    this.lapic = options.lapic ?? true;
    // No in-kernel local APIC: no PMU (there is nowhere to deliver PMIs).
    this.enablePmu = params.enablePmu && this.lapic;
  }

  get mediated(): boolean {
    return this.params.enableMediatedPmu && this.enablePmu;
  }

  /** kvm_arch_vcpu_precreate: the first vCPU creates the mediated PMU. */
  precreateVcpu(): void {
    this.checkAlive();
    if (this.createdVcpus === 0 && this.mediated && !this.createdMediatedPmu) {
      const r = this.perf.createMediatedPmu();
      if (r !== 0) {
        this.log(MEDIATED_PMU_EBUSY_MESSAGE);
        throw new KvmError('EBUSY', 'perf refused the mediated PMU: host events that count in guests exist (system-wide perf, NMI watchdog)');
      }
      this.createdMediatedPmu = true;
    }
  }

  vcpuCreated(): void {
    this.createdVcpus++;
  }

  /** KVM_CAP_PMU_CAPABILITY with KVM_PMU_CAP_DISABLE. */
  disablePmu(): void {
    this.checkAlive();
    if (this.createdVcpus > 0 || this.createdMediatedPmu) {
      throw new KvmError('EINVAL', 'KVM_CAP_PMU_CAPABILITY is only accepted before the first vCPU is created');
    }
    this.enablePmu = false;
  }

  /** kvm_arch_destroy_vm: release the mediated PMU, once. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    if (this.createdMediatedPmu) {
      this.createdMediatedPmu = false;
      this.perf.releaseMediatedPmu();
    }
  }

  checkAlive(): void {
    if (this.destroyed) throw new KvmError('ENODEV', 'the VM has been destroyed');
  }
}
