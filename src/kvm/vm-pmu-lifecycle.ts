/**
 * A KVM VM's PMU lifecycle (arch/x86/kvm/x86.c): the mediated PMU is created
 * in perf when the first vCPU is created (sticky: a failed vCPU creation does
 * not undo it), KVM_CAP_PMU_CAPABILITY may only disable the PMU before that,
 * and destroying the VM releases the mediated PMU once.
 *
 * The creation and release themselves run the protocol data of
 * vm-lifecycle-protocol.ts (kvm->lock, created_mediated_pmu, perf's calls
 * inlined): the same definition the interleaving explorer checks.
 */
import { KvmError } from '../common/errors.ts';
import type { PerfKvmExports } from '../perf/kvm-exports.ts';
import type { AccountingProtocol } from '../perf/mediated-protocol.ts';
import type { KvmParams } from './params.ts';
import { vmLifecycleProtocol, type VmLifecycleProtocol } from './vm-lifecycle-protocol.ts';
import { item } from '../common/item.ts';

/** The lifecycle protocol for one VM, per accounting variant (built once). */
const protocols = new Map<AccountingProtocol, VmLifecycleProtocol>();
function lifecycleFor(perf: AccountingProtocol): VmLifecycleProtocol {
  let protocol = protocols.get(perf);
  if (!protocol) {
    protocol = vmLifecycleProtocol(1, 'upstream', perf);
    protocols.set(perf, protocol);
  }
  return protocol;
}

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
  /** The VM's protocol cells: kvm->arch.created_mediated_pmu, kvm->created_vcpus. */
  private readonly cells = new Int32Array(2);
  destroyed = false;
  readonly lapic: boolean;

  constructor(
    private readonly params: KvmParams,
    private readonly perf: PerfKvmExports,
    private readonly log: (line: string) => void,
    options: VmOptions = {},
  ) {
    if (options.lapic !== undefined && typeof options.lapic !== 'boolean')
      throw new TypeError(`createVm: lapic must be a boolean, got ${String(options.lapic)}`);
    this.lapic = options.lapic ?? true;
    // kvm->arch.enable_pmu starts as the module's enable_pmu; only the first
    // vCPU's precreate turns it off, and only for the mediated vPMU.
    this.enablePmu = params.enablePmu;
  }

  get mediated(): boolean {
    return this.params.enableMediatedPmu && this.enablePmu;
  }

  /** kvm->arch.created_mediated_pmu. */
  get createdMediatedPmu(): boolean {
    return this.cells[0] !== 0;
  }

  /** kvm->created_vcpus. */
  get createdVcpus(): number {
    return item(this.cells, 1);
  }

  /**
   * kvm_vm_ioctl_create_vcpu up to the vCPU count: under kvm->lock, until the
   * mediated PMU exists, perf_create_mediated_pmu(); -EBUSY fails the vCPU.
   */
  precreateVcpu(): void {
    this.checkAlive();
    // kvm_arch_vcpu_precreate: with enable_mediated_pmu but no in-kernel local
    // APIC (irqchip_in_kernel), the VM's PMU is turned off instead of creating
    // the mediated PMU. The legacy design keeps its PMU without one.
    if (this.mediated && !this.createdMediatedPmu && !this.lapic) this.enablePmu = false;
    if (!this.mediated) {
      this.cells[1]!++;
      return;
    }
    const r = this.perf.runMediatedPmuOperation(
      item(lifecycleFor(this.perf.accountingProtocol).createVcpu, 0).op,
      this.cells,
      1,
    );
    if (r !== 0) {
      this.log(MEDIATED_PMU_EBUSY_MESSAGE);
      throw new KvmError(
        'EBUSY',
        'perf refused the mediated PMU: host events that count in guests exist (system-wide perf, NMI watchdog)',
      );
    }
  }

  /**
   * The rest of kvm_vm_ioctl_create_vcpu failed after the precreate: the
   * vcpu_decrement path takes the vCPU back out of kvm->created_vcpus (under
   * kvm->lock). The mediated PMU, if the precreate made it, stays (sticky).
   */
  vcpuCreateFailed(): void {
    this.cells[1]!--;
  }

  /** KVM_CAP_PMU_CAPABILITY with KVM_PMU_CAP_DISABLE. */
  disablePmu(): void {
    this.checkAlive();
    // kvm_vm_ioctl_enable_cap: -EINVAL without the module's enable_pmu.
    if (!this.params.enablePmu)
      throw new KvmError('EINVAL', 'KVM_CAP_PMU_CAPABILITY needs kvm.enable_pmu');
    if (this.createdVcpus > 0 || this.createdMediatedPmu) {
      throw new KvmError(
        'EINVAL',
        'KVM_CAP_PMU_CAPABILITY is only accepted before the first vCPU is created',
      );
    }
    this.enablePmu = false;
  }

  /** kvm_arch_destroy_vm: release the mediated PMU, once. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    if (this.createdMediatedPmu) {
      this.perf.runMediatedPmuOperation(
        item(lifecycleFor(this.perf.accountingProtocol).destroyVm, 0).op,
        this.cells,
        1,
      );
    }
  }

  checkAlive(): void {
    if (this.destroyed) throw new KvmError('ENODEV', 'the VM has been destroyed');
  }
}
